"""Group-to-class affinity and per-pixel class scores (docs/DESIGN.md section 3, steps 7-9: the
group-class scores and the background threshold)."""

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F

__all__ = ["group_class_affinity", "pixel_class_scores"]


def group_class_affinity(
    group_emb: torch.Tensor,
    image_emb: torch.Tensor,
    class_emb: torch.Tensor,
    logit_scale: Union[float, torch.Tensor],
    topk: int = 5,
) -> torch.Tensor:
    """Affinity of every final group to every class, restricted to the image's top-k classes.

    With s = logit_scale, Z = normalise(group_emb) @ class_emb^T * s and the image-level affinity
    softmax(normalise(image_emb) @ class_emb^T * s), the classes outside the image's top
    min(topk, C) are set to -inf in Z, and the result is softmax(masked Z) * softmax(Z) over classes.

    Args:
        group_emb: (B, G, D) projected group embeddings (normalised here).
        image_emb: (B, D) projected pooled image embeddings (normalised here).
        class_emb: (C, D) class embeddings, already L2-normalised.
        logit_scale: float or 0-d tensor, the caller's min(exp(logit_scale), 100).
        topk: how many of the image's best classes each group may pick from.

    Returns:
        (B, G, C) affinity; classes outside an image's top-k are 0.
    """
    if group_emb.dim() != 3 or image_emb.dim() != 2 or class_emb.dim() != 2:
        raise ValueError(
            "group_class_affinity: expected group_emb (B, G, D), image_emb (B, D), class_emb (C, D); "
            f"got {tuple(group_emb.shape)}, {tuple(image_emb.shape)}, {tuple(class_emb.shape)}"
        )
    batch, _, dim = group_emb.shape
    if image_emb.shape != (batch, dim) or class_emb.shape[1] != dim:
        raise ValueError(
            "group_class_affinity: batch or embedding sizes disagree: "
            f"group_emb {tuple(group_emb.shape)}, image_emb {tuple(image_emb.shape)}, "
            f"class_emb {tuple(class_emb.shape)}"
        )
    num_classes = class_emb.shape[0]
    if num_classes == 0:
        raise ValueError("group_class_affinity: class_emb holds no classes")
    if int(topk) < 1:
        raise ValueError(f"group_class_affinity: topk must be >= 1, got {topk}")
    # The class cache may live on another device or in float32 while the image side runs in
    # reduced precision.
    classes = class_emb.to(device=group_emb.device, dtype=group_emb.dtype)

    logits = F.normalize(group_emb, dim=-1) @ classes.t() * logit_scale
    image_affinity = (F.normalize(image_emb, dim=-1) @ classes.t() * logit_scale).softmax(dim=-1)
    top = image_affinity.topk(k=min(int(topk), num_classes), dim=-1).indices
    # A tensor source rather than the scalar True: the ONNX tracer has no scatter_ with a bool scalar.
    keep = torch.zeros_like(image_affinity, dtype=torch.bool).scatter_(-1, top, torch.ones_like(top, dtype=torch.bool))
    masked = logits.masked_fill(~keep.unsqueeze(1), float("-inf"))
    return masked.softmax(dim=-1) * logits.softmax(dim=-1)


def pixel_class_scores(
    onehot: torch.Tensor, affinity: torch.Tensor, background_threshold: Optional[float]
) -> torch.Tensor:
    """Per-pixel class maps from the one-hot group map, with an optional background channel.

    Background rule (official): thr = min(background_threshold, max of affinity over all groups
    and classes of the image); a pixel is background where its best class value is strictly below
    thr. The background channel holds 1 there and 0 elsewhere; the class channels keep their values.

    Args:
        onehot: (B, G, H, W) one-hot group map (see onehot_argmax).
        affinity: (B, G, C) group-to-class affinity (see group_class_affinity).
        background_threshold: None for datasets without a background class, else the threshold.

    Returns:
        (B, C, H, W) class scores, or (B, C + 1, H, W) with the background as channel 0.
    """
    if onehot.dim() != 4 or affinity.dim() != 3:
        raise ValueError(
            "pixel_class_scores: expected onehot (B, G, H, W) and affinity (B, G, C); got "
            f"{tuple(onehot.shape)} and {tuple(affinity.shape)}"
        )
    if onehot.shape[:2] != affinity.shape[:2]:
        raise ValueError(
            f"pixel_class_scores: onehot {tuple(onehot.shape)} and affinity {tuple(affinity.shape)} "
            "disagree on batch size or number of groups"
        )
    scores = torch.einsum("bghw,bgc->bchw", onehot, affinity.to(onehot.dtype))
    if background_threshold is None:
        return scores
    threshold = float(background_threshold)
    if not math.isfinite(threshold):
        raise ValueError(
            f"pixel_class_scores: background_threshold must be finite, got {background_threshold}"
        )
    per_image = affinity.flatten(1).amax(dim=1).clamp(max=threshold).to(scores.dtype)
    background = scores.amax(dim=1, keepdim=True) < per_image.view(-1, 1, 1, 1)
    return torch.cat([background.to(scores.dtype), scores], dim=1)
