"""Patch embedding (16x16 conv + LayerNorm)."""
import torch.nn as nn


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
