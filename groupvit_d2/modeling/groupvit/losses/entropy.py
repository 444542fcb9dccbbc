"""Shannon entropy of probability vectors, the building block of the thesis's regularisers."""

import torch

__all__ = ["entropy", "masked_mean"]


def entropy(probs, dim=-1):
    """-sum p log p along `dim` (natural log), with 0 log 0 = 0 and finite gradients at p = 0.

    Args:
        probs (Tensor): probabilities along `dim` (not checked to sum to one).

    Returns:
        Tensor: `probs` with `dim` reduced.
    """
    tiny = torch.finfo(probs.dtype).tiny
    return -(probs * probs.clamp_min(tiny).log()).sum(dim)


def masked_mean(values, mask, dim):
    """Mean of `values` over the entries where `mask` is True along `dim`; 0 where none is.

    Args:
        values (Tensor), mask (BoolTensor): broadcastable to each other.
    """
    mask = mask.to(values.dtype)
    return (values * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)
