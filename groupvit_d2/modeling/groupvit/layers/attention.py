"""Multi-head attention blocks on PyTorch's fused scaled-dot-product attention."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath

from .mlp import Mlp


def dot_product_attention(q, k, v, dropout_p=0.0):
    """softmax(q k^T / sqrt(d)) v of (B, H, N, d) queries and (B, H, S, d) keys and values.

    PyTorch's fused kernel, except for bf16 on the CPU: there the fused kernel runs no faster than
    in fp32 (forward 12.8 against 12.1 ms for 8 x 6 heads x 260 tokens on an AVX512-BF16 EPYC, one
    thread; its backward is 1.6x slower than fp32's), while two batched bf16 products and a softmax
    take 8.2 ms. These keep the (B, H, N, S) probabilities for the backward: 6.5 MB a block at
    8 x 224.
    """
    if q.dtype == torch.bfloat16 and q.device.type == "cpu" and dropout_p == 0.0:
        probs = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return probs @ v
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)


class Attention(nn.Module):
    """Multi-head attention.

    With `fuse_qkv` (self-attention) the projections are one `qkv` linear layer; otherwise
    `q_proj`, `k_proj` and `v_proj` (cross-attention). Key names follow the official GroupViT.
    """

    def __init__(self, dim, num_heads, qkv_bias=False, attn_drop=0.0, proj_drop=0.0, fuse_qkv=False):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"Attention width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.fuse_qkv = fuse_qkv
        if fuse_qkv:
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        else:
            self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)
            self.k_proj = nn.Linear(dim, dim, bias=qkv_bias)
            self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, x):
        B, N, C = x.shape
        return x.view(B, N, self.num_heads, C // self.num_heads).transpose(1, 2)

    def forward(self, query, key=None):
        """query: (B, N, C); key/value: (B, S, C) or None for self-attention. Returns (B, N, C)."""
        B, N, C = query.shape
        if self.fuse_qkv:
            qkv = self.qkv(query).view(B, N, 3, self.num_heads, C // self.num_heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        else:
            key = query if key is None else key
            q, k, v = self._heads(self.q_proj(query)), self._heads(self.k_proj(key)), self._heads(self.v_proj(key))
        dropout = self.attn_drop if self.training else 0.0
        out = dot_product_attention(q, k, v, dropout_p=dropout)
        out = out.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out))


class AttnBlock(nn.Module):
    """Pre-norm transformer block over (B, N, C) tokens."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=False, drop=0.0, attn_drop=0.0,
                 drop_path=0.0, norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop, fuse_qkv=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class CrossAttnBlock(nn.Module):
    """Query tokens (B, N, C) attend to key tokens (B, S, C).

    `post_norm=True` (the Grouping Block's variant) normalises the output instead of the inputs.
    """

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=False, drop=0.0, attn_drop=0.0,
                 drop_path=0.0, norm_layer=nn.LayerNorm, post_norm=False):
        super().__init__()
        self.norm_q = nn.Identity() if post_norm else norm_layer(dim)
        self.norm_k = nn.Identity() if post_norm else norm_layer(dim)
        self.norm_post = norm_layer(dim) if post_norm else nn.Identity()
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop, fuse_qkv=False)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop)

    def forward(self, query, key):
        x = query + self.drop_path(self.attn(self.norm_q(query), self.norm_k(key)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return self.norm_post(x)
