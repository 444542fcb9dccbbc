"""The GroupViT image encoder as a Detectron2 backbone (docs/DESIGN.md section 1)."""
import contextlib
from dataclasses import dataclass, field
from functools import partial
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import BACKBONE_REGISTRY, Backbone, ShapeSpec
from timm.layers import trunc_normal_

from ..core.images import crop_to_patches
from ..core.pos_embed import resize_pos_embed
from ..core.precision import InferenceWeightCopies, at_least_float32
from .layers.grouping import GroupingBlock, parse_fade
from .layers.mlp import MixerMlp
from .layers.patch_embed import PatchEmbed
from .stage import GroupingLayer


@dataclass
class GroupViTVisionOutput:
    """What the image encoder computes.

    tokens: (B, G, C) final group tokens after the last LayerNorm.
    pooled: (B, C) their average (the image feature before projection).
    soft_assignments / hard_assignments / assignment_logits: per grouping stage, (B, G_l, N_l):
        stage l assigns its N_l input segments to G_l groups (softmax over the group axis).
    stage_tokens: per stage, (B, N_l, C) segment tokens after that stage's blocks.
    grid: (h, w) patch grid of the input.
    """

    tokens: torch.Tensor
    pooled: torch.Tensor
    grid: Tuple[int, int]
    soft_assignments: List[torch.Tensor] = field(default_factory=list)
    hard_assignments: List[torch.Tensor] = field(default_factory=list)
    assignment_logits: List[torch.Tensor] = field(default_factory=list)
    stage_tokens: List[torch.Tensor] = field(default_factory=list)

    def patch_to_group(self, stage: Optional[int] = None):
        """Soft patch-to-group map (B, N_0, G) up to `stage` (default: the last grouping stage)."""
        maps = self.soft_assignments if stage is None else self.soft_assignments[: stage + 1]
        out = None
        for a in maps:
            a = a.transpose(1, 2)
            out = a if out is None else out @ a
        return out

    def occupied_groups(self):
        """(B, G) bool: the final groups that hold at least one patch under the hard assignment
        (every group when there is no grouping stage)."""
        counts = None
        for hard in self.hard_assignments:
            # Each token counts for its argmax group: the one-hot column of a hard or Gumbel
            # straight-through assignment, the largest entry of a soft one. No gradient flows
            # through the choice of groups.
            onehot = F.one_hot(hard.detach().argmax(1), hard.shape[1]).transpose(1, 2).to(hard.dtype)
            counts = onehot.sum(-1) if counts is None else (onehot @ counts[..., None]).squeeze(-1)
        if counts is None:
            return torch.ones(self.tokens.shape[:2], dtype=torch.bool, device=self.tokens.device)
        return counts > 0.5


# How the image feature is made: "mean" over all final groups (the official
# encoder), or "occupied", the mean over the groups that hold a patch (docs/RESULTS.md, "Why
# grouping failed at demo scale": with "mean", the groups that hold nothing carry the names), or
# "patches", the mean of the first stage's patch tokens, taken before any grouping: the losses on
# the image feature then reach the groups through none of their embeddings (docs/DESIGN.md section 1).
POOLINGS = ("mean", "occupied", "patches")


@BACKBONE_REGISTRY.register()
class GroupViTImageEncoder(Backbone):
    """Hierarchical grouping ViT: patch embedding, then stages of [segments; group tokens]
    transformer blocks each closed by a Grouping Block, then blocks over the final groups and a
    LayerNorm.

    As a Detectron2 backbone, `forward(images (B, 3, H, W))` returns stride-16 dense maps
    (B, C, H/16, W/16) named in `out_features`: "stage1" (patch tokens after the first stage's
    blocks) and "grouped" (final group tokens spread back over the patches with the soft
    patch-to-group map). `encode(images)` returns everything as a `GroupViTVisionOutput`.
    """

    @configurable
    def __init__(self, *, img_size=224, patch_size=16, in_chans=3, embed_dim=384, depths=(6, 3, 3),
                 num_heads=(6, 6, 6), num_group_tokens=(64, 8, 0), num_output_groups=(64, 8), mlp_ratio=4.0,
                 qkv_bias=True, drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.1, layer_norm_eps=1e-5,
                 hard_assignment=True, gumbel=True, gumbel_tau=1.0, assign_eps=1.0, assign_init_std=0.02,
                 group_token_residual=True, group_token_residual_fade=(), gradient_checkpointing=False,
                 out_features=("grouped",), pooling="mean"):
        super().__init__()
        num_stages = len(depths)
        if not (len(num_heads) == len(num_group_tokens) == num_stages and len(num_output_groups) == num_stages - 1):
            raise ValueError(
                f"GroupViT stage settings disagree: depths={list(depths)}, num_heads={list(num_heads)}, "
                f"num_group_tokens={list(num_group_tokens)} need one entry a stage and "
                f"num_output_groups={list(num_output_groups)} one a grouping stage ({num_stages - 1})"
            )
        if img_size % patch_size:
            raise ValueError(f"IMAGE_SIZE {img_size} is not divisible by PATCH_SIZE {patch_size}")
        for name in out_features:
            if name not in ("stage1", "grouped"):
                raise ValueError(f"Unknown GroupViT output feature {name!r}; expected 'stage1' or 'grouped'")
        if pooling not in POOLINGS:
            raise ValueError(f"MODEL.GROUPVIT.POOLING is {pooling!r}; expected one of {POOLINGS}")
        self.pooling = pooling
        # Stages whose transformer blocks run under a caller's reduced-precision autocast; every
        # Grouping Block, and every stage after these, computes in fp32 (see encode).
        self.reduced_precision_stages = 1
        self._weight_copies = InferenceWeightCopies(torch.bfloat16)
        norm_layer = partial(nn.LayerNorm, eps=layer_norm_eps)
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.img_size = img_size
        self.num_output_groups = list(num_output_groups)

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, norm_layer)
        grid = img_size // patch_size
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid, embed_dim))
        trunc_normal_(self.pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(drop_rate)

        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i in range(num_stages):
            downsample = None
            if i < num_stages - 1:
                downsample = GroupingBlock(
                    dim=embed_dim, out_dim=embed_dim, num_heads=num_heads[i], num_group_token=num_group_tokens[i],
                    num_output_group=num_output_groups[i], norm_layer=norm_layer, hard=hard_assignment,
                    gumbel=gumbel, gumbel_tau=gumbel_tau, assign_eps=assign_eps,
                    group_token_residual=group_token_residual,
                )
            group_projector = None
            if i > 0 and num_group_tokens[i] > 0:
                group_projector = nn.Sequential(
                    norm_layer(embed_dim),
                    MixerMlp(num_group_tokens[i - 1], embed_dim // 2, num_group_tokens[i]),
                )
            self.layers.append(GroupingLayer(
                dim=embed_dim, depth=depths[i], num_heads=num_heads[i], num_group_token=num_group_tokens[i],
                mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate, attn_drop=attn_drop_rate,
                drop_path=dpr[sum(depths[:i]): sum(depths[: i + 1])], norm_layer=norm_layer,
                downsample=downsample, group_projector=group_projector,
                gradient_checkpointing=gradient_checkpointing,
            ))
        self.norm = norm_layer(embed_dim)
        self.apply(self._init_weights)
        for layer in self.layers:
            if layer.downsample is not None and assign_init_std != 0.02:
                for proj in (layer.downsample.assign.q_proj, layer.downsample.assign.k_proj):
                    trunc_normal_(proj.weight, std=assign_init_std)

        if group_token_residual_fade:
            if not group_token_residual:
                raise ValueError("MODEL.GROUPVIT.GROUP_TOKEN_RESIDUAL_FADE fades a term that "
                                 "GROUP_TOKEN_RESIDUAL False has removed; set one of them")
            # Built for evaluation: the weight where the fade ends. Training sets it every step.
            for layer in self.layers:
                if layer.downsample is not None:
                    layer.downsample.token_residual_weight = 0.0

        self._out_features = list(out_features)
        self._out_feature_strides = {name: patch_size for name in self._out_features}
        self._out_feature_channels = {name: embed_dim for name in self._out_features}

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, cfg, input_shape=None):
        g = cfg.MODEL.GROUPVIT
        return {
            "img_size": g.IMAGE_SIZE,
            "patch_size": g.PATCH_SIZE,
            "in_chans": 3 if input_shape is None else input_shape.channels,
            "embed_dim": g.EMBED_DIM,
            "depths": tuple(g.DEPTHS),
            "num_heads": tuple(g.NUM_HEADS),
            "num_group_tokens": tuple(g.NUM_GROUP_TOKENS),
            "num_output_groups": tuple(g.NUM_OUTPUT_GROUPS),
            "mlp_ratio": g.MLP_RATIO,
            "qkv_bias": g.QKV_BIAS,
            "drop_rate": g.DROP_RATE,
            "attn_drop_rate": g.ATTN_DROP_RATE,
            "drop_path_rate": g.DROP_PATH_RATE,
            "layer_norm_eps": g.LAYER_NORM_EPS,
            "hard_assignment": g.HARD_ASSIGNMENT,
            "gumbel": g.GUMBEL,
            "gumbel_tau": g.GUMBEL_TAU,
            "assign_eps": g.ASSIGN_EPS,
            "assign_init_std": g.ASSIGN_INIT_STD,
            "group_token_residual": g.GROUP_TOKEN_RESIDUAL,
            "group_token_residual_fade": parse_fade(g.GROUP_TOKEN_RESIDUAL_FADE),
            "gradient_checkpointing": g.GRADIENT_CHECKPOINTING,
            "out_features": tuple(g.OUT_FEATURES),
            "pooling": g.POOLING,
        }

    @property
    def num_groups(self):
        """Number of final groups."""
        return self.num_output_groups[-1] if self.num_output_groups else self.pos_embed.shape[1]

    def encode(self, x) -> GroupViTVisionOutput:
        """x: (B, 3, H, W) normalised images with H, W multiples of the patch size."""
        x, grid = self.patch_embed(x)
        x = self.pos_drop(x + resize_pos_embed(self.pos_embed, grid))
        out = GroupViTVisionOutput(tokens=x, pooled=x, grid=grid)
        group_token = None
        device = x.device.type
        autocast = torch.is_autocast_enabled(device)
        # Inference under bf16 autocast reads the reduced stages' Linear weights from copies cast
        # once (InferenceWeightCopies); anything that may need gradients uses the fp32 weights.
        copies = (autocast and not self.training and not torch.is_grad_enabled()
                  and torch.get_autocast_dtype(device) == self._weight_copies.dtype)
        with contextlib.ExitStack() as precision:
            for i, layer in enumerate(self.layers):
                if i == self.reduced_precision_stages and autocast and not self.training:
                    # At inference autocast ends after `reduced_precision_stages` stages (the
                    # first). The later ones work on a few dozen group tokens, a small share of the
                    # encoder's work, and their rounding decides which group takes which class
                    # wherever two nearly tie. Training keeps the autocast: there the Gumbel noise
                    # on the assignment logits dwarfs bf16 rounding (see GroupingBlock.forward).
                    precision.enter_context(torch.autocast(device, enabled=False))
                    x, group_token = at_least_float32(x), at_least_float32(group_token)
                if copies and i < self.reduced_precision_stages:
                    result = torch.func.functional_call(layer, self._reduced_weights(i, layer), (x, group_token))
                else:
                    result = layer(x, group_token)
                x, group_token, segments, assignment = result
                out.stage_tokens.append(segments)
                if assignment is not None:
                    out.soft_assignments.append(assignment["soft"])
                    out.hard_assignments.append(assignment["hard"])
                    out.assignment_logits.append(assignment["logits"])
            out.tokens = self.norm(x)
        if self.pooling == "occupied":
            weights = out.occupied_groups().to(out.tokens.dtype)
            out.pooled = (weights[..., None] * out.tokens).sum(1) / weights.sum(1, keepdim=True)
        elif self.pooling == "patches":
            # The first stage's own outputs: under autocast they may be bf16, like out.tokens.
            out.pooled = self.norm(out.stage_tokens[0].mean(dim=1))
        else:
            out.pooled = out.tokens.mean(dim=1)
        return out

    def _reduced_weights(self, i, layer):
        """{name within stage `layer`: reduced-precision copy} of the Linear weights of its blocks
        and group projector (its Grouping Block keeps fp32)."""
        weights = {}
        for part in ("blocks", "group_projector"):
            module = getattr(layer, part)
            if module is not None:
                weights.update(self._weight_copies.get(f"layers.{i}.{part}", module, prefix=part + "."))
        return weights

    def train(self, mode=True):
        # Training changes the weights: the inference copies would only take memory.
        if mode:
            self._weight_copies.clear()
        return super().train(mode)

    def encode_any_size(self, x) -> GroupViTVisionOutput:
        """encode() of (B, 3, H, W) normalised images of any size of at least one patch: the rows
        and columns that fill no whole patch are dropped first (see crop_to_patches)."""
        return self.encode(crop_to_patches(x, self.patch_size))

    def dense_features(self, out: GroupViTVisionOutput):
        """Stride-16 maps (B, C, h, w) named in `out_features`."""
        h, w = out.grid
        feats = {}
        if "stage1" in self._out_features:
            feats["stage1"] = out.stage_tokens[0].transpose(1, 2).reshape(-1, self.embed_dim, h, w)
        if "grouped" in self._out_features:
            p2g = out.patch_to_group()
            tokens = out.tokens if p2g is None else p2g @ out.tokens
            feats["grouped"] = tokens.transpose(1, 2).reshape(-1, self.embed_dim, h, w)
        return feats

    def forward(self, x):
        return self.dense_features(self.encode(x))

    def output_shape(self):
        return {
            name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
            for name in self._out_features
        }

    @property
    def size_divisibility(self):
        return self.patch_size
