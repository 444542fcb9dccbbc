"""Zero-shot segmentation from patch-text similarity (PACL's and CLIPpy's top-down grouping)."""
import math

import torch
import torch.nn.functional as F

__all__ = ["patch_class_probabilities"]


def patch_class_probabilities(patch_emb, grid, class_emb, logit_scale, out_size, background_threshold=None):
    """Per-pixel class probabilities from the cosine similarity of every patch to every class.

    The scaled similarities are upsampled bilinearly from the patch grid to `out_size` and turned
    into probabilities by a softmax over classes. With a background threshold, the background
    follows GroupViT's rule (docs/DESIGN.md section 3): thr = min(threshold, the image's largest class
    probability); a pixel is background where its best class probability is strictly below thr.

    Args:
        patch_emb: (B, N, D) patch embeddings in the joint space (normalised here), N = h * w.
        grid: (h, w), the patch grid, row-major.
        class_emb: (C, D) L2-normalised class embeddings.
        logit_scale: float or 0-d tensor, the clamped temperature scale.
        out_size: (H, W) of the output.
        background_threshold: None, or a float: a background channel is prepended as class 0.

    Returns:
        (B, C, H, W), or (B, C + 1, H, W) with the background (1 there, 0 elsewhere) first.
    """
    if patch_emb.dim() != 3 or class_emb.dim() != 2 or patch_emb.shape[-1] != class_emb.shape[-1]:
        raise ValueError(
            f"patch_class_probabilities: expected patch_emb (B, N, D) and class_emb (C, D), got "
            f"{tuple(patch_emb.shape)} and {tuple(class_emb.shape)}"
        )
    h, w = grid
    batch, num_patches, _ = patch_emb.shape
    if h * w != num_patches:
        raise ValueError(f"patch_class_probabilities: grid {grid} does not hold {num_patches} patches")
    classes = class_emb.to(device=patch_emb.device, dtype=torch.float32)
    sims = F.normalize(patch_emb.float(), dim=-1) @ classes.t()  # (B, N, C)
    logits = (sims * logit_scale).transpose(1, 2).reshape(batch, -1, h, w)
    logits = F.interpolate(logits, size=tuple(out_size), mode="bilinear", align_corners=False)
    probs = logits.softmax(dim=1)
    if background_threshold is None:
        return probs
    threshold = float(background_threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"patch_class_probabilities: background_threshold must be finite, got {threshold}")
    best = probs.amax(dim=1, keepdim=True)
    per_image = best.flatten(1).amax(dim=1).clamp(max=threshold).view(-1, 1, 1, 1)
    return torch.cat([(best < per_image).to(probs.dtype), probs], dim=1)
