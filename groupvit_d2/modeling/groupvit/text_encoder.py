"""The CLIP text transformer (causal, QuickGELU), with the official GroupViT key names."""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.config import configurable


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class CausalSelfAttention(nn.Module):
    """nn.MultiheadAttention's parameter layout (in_proj_weight, out_proj) on fused causal SDPA."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x):
        B, L, C = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).view(B, L, 3, self.heads, C // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(B, L, C))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, layer_norm_eps=1e-5):
        super().__init__()
        self.attn = CausalSelfAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width, eps=layer_norm_eps)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(width * 4, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width, eps=layer_norm_eps)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TextTransformer(nn.Module):
    """CLIP text encoder: (N, L) token ids -> (N, width) end-of-text features.

    The end-of-text token has the largest id in each sequence (CLIP BPE), so its position is the
    argmax of the ids.
    """

    @configurable
    def __init__(self, *, context_length=77, vocab_size=49408, width=256, layers=12, heads=0,
                 layer_norm_eps=1e-5, gradient_checkpointing=False):
        super().__init__()
        heads = heads or width // 64
        self.context_length = context_length
        self.width = width
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, layer_norm_eps) for _ in range(layers)]
        )
        self.ln_final = nn.LayerNorm(width, eps=layer_norm_eps)
        self.gradient_checkpointing = gradient_checkpointing
        self._init_weights(layers)

    @classmethod
    def from_config(cls, cfg):
        t = cfg.MODEL.GROUPVIT.TEXT
        return {
            "context_length": t.CONTEXT_LENGTH,
            "vocab_size": t.VOCAB_SIZE,
            "width": t.WIDTH,
            "layers": t.LAYERS,
            "heads": t.HEADS,
            "layer_norm_eps": t.LAYER_NORM_EPS,
            "gradient_checkpointing": cfg.MODEL.GROUPVIT.GRADIENT_CHECKPOINTING,
        }

    def _init_weights(self, layers):
        # CLIP's initialisation.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = (self.width ** -0.5) * ((2 * layers) ** -0.5)
        attn_std = self.width ** -0.5
        fc_std = (2 * self.width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)

    def forward(self, text):
        """text: (N, L) LongTensor, L <= context_length. Returns (N, width)."""
        if text.dim() != 2:
            raise ValueError(f"Text tokens must be shaped (N, L), got {tuple(text.shape)}")
        if text.shape[1] > self.context_length:
            raise ValueError(f"Text of {text.shape[1]} tokens is longer than the context length {self.context_length}")
        eot = text.argmax(dim=-1)
        # Under the causal mask nothing after the last end-of-text token reaches any pooled
        # feature, so the padding beyond it is dropped: same result, far less work.
        L = int(eot.max()) + 1
        text = text[:, :L]
        x = self.token_embedding(text) + self.positional_embedding[:L]
        for block in self.transformer.resblocks:
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0], device=x.device), eot]
