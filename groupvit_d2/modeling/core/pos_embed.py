"""Resizing a learned square position embedding to another patch grid: GroupViT's encoder, the
open_clip towers of PACL, and checkpoints trained at another resolution all need it."""
import math

import torch.nn.functional as F

__all__ = ["resize_pos_embed"]


def resize_pos_embed(pos_embed, grid):
    """Resize a square (1, n*n, C) position embedding to grid (h, w), bicubic, align_corners=False.

    Returns `pos_embed` itself when the grid is already the stored one.
    """
    n_stored = pos_embed.shape[1]
    side = int(math.isqrt(n_stored))
    if side * side != n_stored:
        raise ValueError(f"Position embedding with {n_stored} tokens is not a square grid")
    h, w = grid
    if (h, w) == (side, side):
        return pos_embed
    C = pos_embed.shape[-1]
    resized = F.interpolate(
        pos_embed.reshape(1, side, side, C).permute(0, 3, 1, 2).float(),
        size=(h, w), mode="bicubic", align_corners=False,
    )
    return resized.permute(0, 2, 3, 1).reshape(1, h * w, C).to(pos_embed.dtype)
