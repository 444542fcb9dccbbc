"""Patch-to-group maps from the grouping stages' soft assignments (docs/DESIGN.md section 3,
step 5)."""

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ["cumulative_group_maps", "upsample_group_maps", "argmax_groups", "onehot_argmax"]


def cumulative_group_maps(soft_assignments: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """Chain the per-stage soft assignments into patch-to-group maps.

    Args:
        soft_assignments: one tensor per grouping stage, stage l of shape (B, G_l, N_l): the
            softmax over the group axis (dim 1) of the raw assignment logits, so every token's
            column sums to 1. N_0 is the number of patches and N_l = G_{l-1} for l > 0.

    Returns:
        One tensor per stage, stage l of shape (B, N_0, G_l): A_0^T @ A_1^T @ ... @ A_l^T, the
        soft map from each patch to the groups of stage l (each row still sums to 1).
    """
    if len(soft_assignments) == 0:
        raise ValueError("cumulative_group_maps: expected at least one soft assignment, got none")
    maps = []
    chained = None
    for stage, assignment in enumerate(soft_assignments):
        if assignment.dim() != 3:
            raise ValueError(
                f"cumulative_group_maps: stage {stage} assignment must have shape (B, G, N), "
                f"got {tuple(assignment.shape)}"
            )
        per_token = assignment.transpose(1, 2)
        if chained is None:
            chained = per_token
        else:
            if per_token.shape[0] != chained.shape[0] or per_token.shape[1] != chained.shape[2]:
                raise ValueError(
                    f"cumulative_group_maps: stage {stage} assignment {tuple(assignment.shape)} "
                    f"does not follow the previous stage's {chained.shape[2]} groups "
                    f"(batch {chained.shape[0]}); expected (B, G, {chained.shape[2]})"
                )
            chained = chained @ per_token
        maps.append(chained)
    return maps


def upsample_group_maps(maps: torch.Tensor, grid: Tuple[int, int], size: Tuple[int, int]) -> torch.Tensor:
    """Lay a patch-to-group map on the feature grid and upsample it to pixels.

    The official code upsamples the soft map before taking the argmax; argmax-then-upsample gives
    different (blockier) segments, so the order matters.

    Args:
        maps: (B, N, G) soft map; patch n sits at row n // w, column n % w of the grid.
        grid: (h, w) feature grid with h * w == N.
        size: (H, W) output size, usually the crop size.

    Returns:
        (B, G, H, W) bilinearly upsampled maps (align_corners=False).
    """
    if maps.dim() != 3:
        raise ValueError(f"upsample_group_maps: maps must have shape (B, N, G), got {tuple(maps.shape)}")
    h, w = (int(v) for v in grid)
    batch, num_patches, num_groups = maps.shape
    if h * w != num_patches:
        raise ValueError(
            f"upsample_group_maps: grid {(h, w)} holds {h * w} patches but maps has {num_patches} "
            f"(shape {tuple(maps.shape)})"
        )
    spatial = maps.transpose(1, 2).reshape(batch, num_groups, h, w)
    return F.interpolate(spatial, size=tuple(int(v) for v in size), mode="bilinear", align_corners=False)


def argmax_groups(maps: torch.Tensor) -> torch.Tensor:
    """Each pixel's group: the index onehot_argmax sets to 1.

    Args:
        maps: (B, G, H, W) group maps.

    Returns:
        (B, H, W) int64, the first maximal group of each pixel (NaN counting as maximal).
    """
    if maps.dim() != 4:
        raise ValueError(f"argmax_groups: maps must have shape (B, G, H, W), got {tuple(maps.shape)}")
    # max(...).indices is argmax through a faster CPU kernel: about 5x at (2, 8, 448, 448), where
    # argmax reduces a non-innermost dim slowly.
    return maps.max(dim=1).indices


def onehot_argmax(maps: torch.Tensor) -> torch.Tensor:
    """One-hot of each pixel's argmax group.

    Args:
        maps: (B, G, H, W) group maps.

    Returns:
        (B, G, H, W) tensor of maps' dtype, 1 at the first maximal group of each pixel (torch.argmax
        ties), 0 elsewhere.
    """
    if maps.dim() != 4:
        raise ValueError(f"onehot_argmax: maps must have shape (B, G, H, W), got {tuple(maps.shape)}")
    # scatter_ keeps the maps' dtype; F.one_hot would build an int64 (B, H, W, G) tensor first.
    return torch.zeros_like(maps).scatter_(1, argmax_groups(maps).unsqueeze(1), 1)
