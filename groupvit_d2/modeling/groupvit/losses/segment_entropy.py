"""Segment-affinity entropy SE (thesis sec. 4.5.3, eq. 44-46, after Palepu et al.)."""

import torch

from .entropy import entropy, masked_mean

__all__ = ["segment_entropy_loss"]


def segment_entropy_loss(affinity, label_mask=None, group_weight=0.2, label_weight=0.1):
    """`group_weight` x mean over groups of each group's entropy over the labels (softmax over
    labels, eq. 44) + `label_weight` x mean over labels of each label's entropy over the groups
    (softmax over groups, eq. 45); averaged over images (eq. 46).

    PAD labels take no part: they are out of the softmax over labels and out of the mean over
    labels. Images without any real label are left out of the mean over images.

    Args:
        affinity (Tensor): (B, G, K) A_ST logits (`segment_label_affinity`).
        label_mask (Tensor or None): (B, K) bool, False on PAD labels; None means all real.
        group_weight, label_weight (float): the thesis's 0.2 and 0.1
            (MODEL.GROUPVIT.LOSS.SEGMENT_ENTROPY_GROUP_WEIGHT / _LABEL_WEIGHT).

    Returns:
        Tensor: scalar.
    """
    if affinity.dim() != 3:
        raise ValueError(f"segment_entropy_loss: affinity must be (B, G, K), got {tuple(affinity.shape)}")
    batch, _, num_labels = affinity.shape
    if label_mask is None:
        label_mask = torch.ones(batch, num_labels, dtype=torch.bool, device=affinity.device)
    has_label = label_mask.any(dim=1)
    if not has_label.any():
        return 0.0 * affinity.masked_fill(torch.isinf(affinity), 0.0).sum()
    mask = label_mask[has_label]  # (B', K)
    # -inf would be nan in the softmax over groups of a PAD column; any finite value does, as the
    # column is dropped from the mean afterwards.
    logits = affinity[has_label].float().masked_fill(~mask[:, None, :], 0.0)
    over_labels = logits.masked_fill(~mask[:, None, :], float("-inf")).softmax(dim=-1)
    group_term = entropy(over_labels, dim=-1).mean(dim=-1)  # (B',)
    label_term = masked_mean(entropy(logits.softmax(dim=-2), dim=-2), mask, dim=-1)  # (B',)
    return (group_weight * group_term + label_weight * label_term).mean()
