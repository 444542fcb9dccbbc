"""The segment affinity metric A_ST between an image's final groups and its labels (thesis eq. 30)."""

import torch
import torch.nn.functional as F

__all__ = ["segment_label_affinity"]


def segment_label_affinity(group_emb, label_emb, logit_scale, label_mask=None):
    """Scaled cosine similarity of each final group to each of the SAME image's labels.

    Eq. 30 writes a plain product K^I Z^T; the zero-shot pipeline it comes from (SPEC section 3,
    "Group to class") L2-normalises both sides and multiplies by the clamped logit scale, and so does
    this function, so the regularisers shape the affinities that inference uses.

    Args:
        group_emb (Tensor): (B, G, D) projected group embeddings, not necessarily normalised.
        label_emb (Tensor): (B, K, D) projected label embeddings of each image's K labels.
        logit_scale (Tensor or float): min(exp(logit scale), max), applied as given.
        label_mask (Tensor or None): (B, K) bool, False on PAD labels, whose columns become -inf
            (they take no part in any softmax over labels).

    Returns:
        Tensor: (B, G, K) float logits.
    """
    if group_emb.dim() != 3 or label_emb.dim() != 3 or group_emb.shape[::2] != label_emb.shape[::2]:
        raise ValueError(
            f"segment_label_affinity: group_emb must be (B, G, D) and label_emb (B, K, D) with the same B "
            f"and D, got {tuple(group_emb.shape)} and {tuple(label_emb.shape)}"
        )
    logits = F.normalize(group_emb.float(), dim=-1) @ F.normalize(label_emb.float(), dim=-1).transpose(1, 2)
    logits = logits * logit_scale
    if label_mask is not None:
        if tuple(label_mask.shape) != tuple(label_emb.shape[:2]) or label_mask.dtype != torch.bool:
            raise ValueError(
                f"segment_label_affinity: label_mask must be a bool (B, K) = {tuple(label_emb.shape[:2])} "
                f"tensor, got {label_mask.dtype} {tuple(label_mask.shape)}"
            )
        logits = logits.masked_fill(~label_mask[:, None, :], float("-inf"))
    return logits
