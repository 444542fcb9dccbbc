"""The models, one folder a family over a shared core: importing registers GroupViT (its
meta-architecture, backbone and linear head), PACL and CLIPpy with Detectron2."""
from . import clippy, groupvit, pacl  # noqa: F401  (registry side effects)
from .core.freezing import TRAINABLE_PRESETS, FreezeSummary, freeze_except, freeze_norm_statistics  # noqa: F401
