"""The official GroupViT release format (NVlabs/GroupViT).

A release file such as ``group_vit_gcc_yfcc_30e-879422e0.pth`` is a dict
``{"model": state_dict, "config": <pickled OmegaConf>, "optimizer", "lr_scheduler", "epoch", ...}``.
Only "model" is used here. safe_load reads the file without running the pickled config, and that
config is then dropped.

The official model is MultiLabelContrastive(img_encoder, text_encoder, img_projector,
text_projector, logit_scale, multi_label_logit_scale). Our parameter names mirror it, so only the
image encoder's prefix differs. The official ``img_encoder.head`` is an Identity and has no keys.
Release files hold no pixel statistics; the official code normalises with ImageNet's, and the
converted state dict carries them as ``pixel_mean``/``pixel_std`` (3, 1, 1), 0-255 scale.
"""
import torch

from ..config import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD
from .key_mapping import KeyMap

__all__ = ["KEY_MAP", "is_official_state_dict", "official_to_ours", "ours_to_official", "imagenet_pixel_stats"]

# (ours, official, op)
KEY_MAP = KeyMap([
    ("backbone.{rest}",          "img_encoder.{rest}",          None),
    ("text_encoder.{rest}",      "text_encoder.{rest}",         None),
    ("img_projector.{rest}",     "img_projector.{rest}",        None),
    ("text_projector.{rest}",    "text_projector.{rest}",       None),
    ("logit_scale",              "logit_scale",                 None),
    ("multi_label_logit_scale",  "multi_label_logit_scale",     None),
])

# Release files without a multi-label head (e.g. a model trained with multi_label=0) lack this one;
# the model keeps its initial value.
OPTIONAL_KEYS = ("multi_label_logit_scale",)


def is_official_state_dict(state_dict):
    """Whether the keys are the official ones (an ``img_encoder.`` image tower)."""
    return any(k.startswith("img_encoder.") for k in state_dict)


def imagenet_pixel_stats():
    """{"pixel_mean", "pixel_std"}: (3, 1, 1) float tensors, 0-255 scale."""
    return {
        "pixel_mean": torch.tensor(IMAGENET_PIXEL_MEAN, dtype=torch.float32).view(3, 1, 1),
        "pixel_std": torch.tensor(IMAGENET_PIXEL_STD, dtype=torch.float32).view(3, 1, 1),
    }


def strip_ddp_prefix(state_dict):
    """Drop a ``module.`` prefix that every key shares (a state dict saved from a DDP wrapper)."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def official_to_ours(state_dict):
    """Official state dict -> (our state dict with ImageNet pixel stats, official keys left unmapped).

    Unmapped keys are kept under their own names, so that loading reports them as unexpected.
    """
    out, unmapped = {}, []
    for key, value in strip_ddp_prefix(state_dict).items():
        hit = KEY_MAP.to_ours(key)
        if hit is None:
            unmapped.append(key)
            out[key] = value
        else:
            out[hit[0]] = value
    for key, value in imagenet_pixel_stats().items():
        out.setdefault(key, value)
    return out, unmapped


def ours_to_official(state_dict):
    """Our state dict -> (official state dict, our keys that have no official counterpart).

    The pixel statistics have no slot in the official format and are among the dropped keys.
    """
    out, dropped = {}, []
    for key, value in state_dict.items():
        hit = KEY_MAP.to_theirs(key)
        if hit is None:
            dropped.append(key)
        else:
            out[hit[0]] = value
    return out, dropped
