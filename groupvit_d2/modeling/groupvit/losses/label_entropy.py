"""Label entropy LE (thesis sec. 4.5.2, eq. 41-43): how unsure each patch is about its label."""

import torch

from .entropy import entropy

__all__ = ["label_entropy_loss"]


def label_entropy_loss(patch_to_group, affinity, label_mask=None):
    """Mean over images of the mean over patches of the entropy of T = Attn^T softmax(A_ST) over
    the image's labels (eq. 41-43).

    Each patch's label distribution is its soft group distribution (a row of Attn^T) times each
    group's softmax over the labels, so rows of T sum to one. PAD labels get no probability
    (their affinity is -inf) and so add nothing to the entropy; images without any real label are
    left out of the mean.

    Args:
        patch_to_group (Tensor): (B, N, G) Attn^T, the soft patch-to-final-group map.
        affinity (Tensor): (B, G, K) A_ST logits (`segment_label_affinity`), -inf on PAD labels.
        label_mask (Tensor or None): (B, K) bool, False on PAD labels; None means all real.

    Returns:
        Tensor: scalar.
    """
    if patch_to_group.dim() != 3 or affinity.dim() != 3 or patch_to_group.shape[::2] != affinity.shape[:2]:
        raise ValueError(
            f"label_entropy_loss: patch_to_group must be (B, N, G) and affinity (B, G, K) with the same B "
            f"and G, got {tuple(patch_to_group.shape)} and {tuple(affinity.shape)}"
        )
    batch, _, num_labels = affinity.shape
    if label_mask is None:
        label_mask = torch.ones(batch, num_labels, dtype=torch.bool, device=affinity.device)
    affinity = affinity.float().masked_fill(~label_mask[:, None, :], float("-inf"))
    has_label = label_mask.any(dim=1)
    if not has_label.any():
        return affinity.new_zeros(()) + 0.0 * patch_to_group.sum()
    # Images without labels would turn a softmax over nothing into nan: keep them out entirely.
    group_to_label = affinity[has_label].softmax(dim=-1)  # (B', G, K)
    patch_to_label = patch_to_group[has_label].float() @ group_to_label  # T: (B', N, K)
    return entropy(patch_to_label, dim=-1).mean()
