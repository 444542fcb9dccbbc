"""Patch embedding (16x16 conv + LayerNorm) and position-embedding resizing."""
import math

import torch.nn as nn
import torch.nn.functional as F


class PatchEmbed(nn.Module):
    """(B, 3, H, W) images -> (B, H/p * W/p, C) tokens and the (h, w) grid."""

    def __init__(self, patch_size=16, in_chans=3, embed_dim=384, norm_layer=None):
        super().__init__()
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = norm_layer(embed_dim) if norm_layer is not None else nn.Identity()

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"GroupViT expects a batch of {self.in_chans}-channel images shaped (B, {self.in_chans}, H, W), "
                f"got shape {tuple(x.shape)}; convert grayscale/RGBA inputs to RGB first"
            )
        H, W = x.shape[-2:]
        if H % self.patch_size or W % self.patch_size:
            raise ValueError(
                f"Image size {H}x{W} is not divisible by the patch size {self.patch_size}; "
                f"pad or resize it to a multiple of {self.patch_size}"
            )
        x = self.proj(x)
        grid = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), (int(grid[0]), int(grid[1]))


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
