"""A 1x1 convolution over the GroupViT backbone's dense maps: the supervised-transfer head of the
GroupViT paper's Table 5, for Detectron2's SemanticSegmentor."""
from typing import Dict

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead
from torch import nn

__all__ = ["GroupViTLinearHead"]


@SEM_SEG_HEADS_REGISTRY.register()
class GroupViTLinearHead(SemSegFPNHead):
    """Per-pixel linear classifier: the backbone's features (all of the same stride, concatenated
    along channels when several) -> 1x1 conv -> class logits at that stride.

    Everything else is SemSegFPNHead's: `forward(features, targets)` upsamples the logits bilinearly
    by the stride, and training uses cross-entropy with `ignore_value`. SemSegFPNHead itself would
    put a 3x3 conv + ReLU before its 1x1 predictor even for a single feature at the common stride.

    Input: {name: (B, C_name, H/s, W/s)}; targets (B, H, W) int64 or None.
    Output: in training (None, {"loss_sem_seg"}); in inference ((B, K, H, W) logits, {}).
    """

    @configurable
    def __init__(self, input_shape: Dict[str, ShapeSpec], *, num_classes: int, loss_weight: float = 1.0,
                 ignore_value: int = -1):
        nn.Module.__init__(self)
        if not input_shape:
            raise ValueError("GroupViTLinearHead needs at least one input feature (MODEL.GROUPVIT.OUT_FEATURES)")
        strides = {name: shape.stride for name, shape in input_shape.items()}
        if len(set(strides.values())) != 1:
            raise ValueError(f"GroupViTLinearHead: the input features must share one stride, got {strides}")
        if num_classes < 1:
            raise ValueError(f"MODEL.SEM_SEG_HEAD.NUM_CLASSES must be >= 1, got {num_classes}")
        self.in_features = list(input_shape)
        self.common_stride = next(iter(strides.values()))
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        channels = sum(shape.channels for shape in input_shape.values())
        self.predictor = Conv2d(channels, num_classes, kernel_size=1)
        weight_init.c2_msra_fill(self.predictor)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        # Every map the backbone returns, i.e. MODEL.GROUPVIT.OUT_FEATURES.
        return {
            "input_shape": dict(input_shape),
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "loss_weight": cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
        }

    def layers(self, features):
        return self.predictor(torch.cat([features[name] for name in self.in_features], dim=1))
