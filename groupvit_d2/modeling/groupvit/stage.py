"""One GroupViT stage: learnable group tokens + transformer blocks + an optional Grouping Block."""
import torch
import torch.nn as nn
import torch.utils.checkpoint as checkpoint
from timm.layers import trunc_normal_

from .layers.attention import AttnBlock


class GroupingLayer(nn.Module):
    """Runs its blocks over [segment tokens; group tokens] and then groups (when it has a
    `downsample` Grouping Block).

    From the second stage on, its group tokens are the learned tokens plus `group_projector`
    (LayerNorm + token-mixing MLP) applied to the previous stage's group tokens.
    """

    def __init__(self, *, dim, depth, num_heads, num_group_token, mlp_ratio, qkv_bias, drop, attn_drop,
                 drop_path, norm_layer, downsample=None, group_projector=None, gradient_checkpointing=False):
        super().__init__()
        self.num_group_token = num_group_token
        if num_group_token > 0:
            self.group_token = nn.Parameter(torch.zeros(1, num_group_token, dim))
            # Tokens fed by a projector start at zero, as in the official initialisation.
            if group_projector is None:
                trunc_normal_(self.group_token, std=0.02)
        else:
            self.group_token = None
        self.blocks = nn.ModuleList([
            AttnBlock(dim, num_heads, mlp_ratio, qkv_bias, drop, attn_drop, drop_path[i], norm_layer)
            for i in range(depth)
        ])
        self.downsample = downsample
        self.group_projector = group_projector
        self.gradient_checkpointing = gradient_checkpointing

    def forward(self, x, prev_group_token=None):
        """x: (B, N, C). Returns (new segments (B, N', C'), this stage's group tokens (B, S, C) or None,
        segment tokens after the blocks (B, N, C), assignment dict or None)."""
        group_token = None
        if self.group_token is not None:
            group_token = self.group_token.expand(x.shape[0], -1, -1)
            if self.group_projector is not None:
                group_token = group_token + self.group_projector(prev_group_token)
            x = torch.cat([x, group_token], dim=1)
        for blk in self.blocks:
            if self.gradient_checkpointing and self.training:
                x = checkpoint.checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        if group_token is not None:
            x, group_token = x[:, : -self.num_group_token], x[:, -self.num_group_token:]
        assignment = None
        segments = x
        if self.downsample is not None:
            x, assignment = self.downsample(x, group_token)
        return x, group_token, segments, assignment
