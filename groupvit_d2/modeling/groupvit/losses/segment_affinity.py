"""The segment affinity metric A_ST between an image's final groups and its labels (thesis eq. 30)."""

import torch
import torch.nn.functional as F

__all__ = ["segment_label_affinity", "SEGMENT_AFFINITY_FORMS"]

# "scaled_cosine": normalised embeddings times the logit scale, as zero-shot inference compares
# groups with classes; "dot": the plain product of the projected embeddings, as eq. 30 is written.
SEGMENT_AFFINITY_FORMS = ("scaled_cosine", "dot")


def segment_label_affinity(group_emb, label_emb, logit_scale, label_mask=None, form="scaled_cosine"):
    """Affinity of each final group to each of the SAME image's labels.

    Eq. 30 writes a plain product K^I Z^T of the projected embeddings (`form="dot"`). The thesis
    introduces A_ST in its description of zero-shot inference, which L2-normalises both sides and
    multiplies by the clamped logit scale (`form="scaled_cosine"`, the default), so that the
    regularisers shape the affinities that inference uses; the text does not settle which one its
    training used.

    Args:
        group_emb (Tensor): (B, G, D) projected group embeddings, not necessarily normalised.
        label_emb (Tensor): (B, K, D) projected label embeddings of each image's K labels.
        logit_scale (Tensor or float): min(exp(logit scale), max), applied as given ("scaled_cosine").
        label_mask (Tensor or None): (B, K) bool, False on PAD labels, whose columns become -inf
            (they take no part in any softmax over labels).
        form: one of SEGMENT_AFFINITY_FORMS.

    Returns:
        Tensor: (B, G, K) float logits.
    """
    if form not in SEGMENT_AFFINITY_FORMS:
        raise ValueError(f"MODEL.GROUPVIT.LOSS.SEGMENT_AFFINITY must be one of {SEGMENT_AFFINITY_FORMS}, got {form!r}")
    if group_emb.dim() != 3 or label_emb.dim() != 3 or group_emb.shape[::2] != label_emb.shape[::2]:
        raise ValueError(
            f"segment_label_affinity: group_emb must be (B, G, D) and label_emb (B, K, D) with the same B "
            f"and D, got {tuple(group_emb.shape)} and {tuple(label_emb.shape)}"
        )
    if form == "dot":
        logits = group_emb.float() @ label_emb.float().transpose(1, 2)
    else:
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
