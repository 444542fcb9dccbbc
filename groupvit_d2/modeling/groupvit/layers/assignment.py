"""Group assignment: softmax over the GROUP axis, optionally Gumbel-perturbed and straight-through."""
import torch
import torch.nn.functional as F


def straight_through_onehot(soft, dim):
    """One-hot of `soft`'s argmax along `dim` in the forward pass, `soft`'s gradient in the backward.

    Paper eq. 4: one-hot(argmax A) + A - stop_grad(A).
    """
    index = soft.argmax(dim, keepdim=True)
    hard = torch.zeros_like(soft).scatter_(dim, index, 1.0)
    return hard - soft.detach() + soft


def sample_gumbel(shape, like):
    """Gumbel(0, 1) noise. -log(Exponential(1)) is exactly Gumbel(0, 1) and never hits log(0)."""
    return -torch.empty(shape, device=like.device, dtype=like.dtype).exponential_().log()


def assign(logits, dim, hard=True, gumbel=False, tau=1.0):
    """Assignment A from raw logits (paper eq. 3-4).

    Args:
        logits: (..., G, N) assignment logits.
        dim: the group axis (softmax runs over it, so each segment's column sums to one).
        hard: straight-through one-hot assignment instead of the soft one.
        gumbel: add Gumbel noise and divide by `tau` before the softmax (the caller enables it
            only in training).
    """
    if gumbel:
        logits = (logits + sample_gumbel(logits.shape, logits)) / tau
    soft = F.softmax(logits, dim=dim)
    return straight_through_onehot(soft, dim) if hard else soft
