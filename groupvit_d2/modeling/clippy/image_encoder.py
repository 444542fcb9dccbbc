"""CLIPpy's image tower: a timm ViT (a self-supervised DINO one in the paper) that takes any input
size and drops a share of its patch tokens in training."""
import os

import timm
from timm.models.vision_transformer import VisionTransformer

from ..core import parse_overrides, weights_unavailable

__all__ = ["build_timm_vit"]

_KEY = "MODEL.CLIPPY.IMAGE_PRETRAINED"


def build_timm_vit(model_name, pretrained="hub", overrides="", patch_drop_rate=0.0):
    """`timm.create_model(model_name, ...)` as a headless ViT with a resampled position embedding
    for every input size (dynamic_img_size) and random token dropping in training.

    Args:
        model_name: a timm ViT name with its pretrained tag, e.g. "vit_base_patch16_224.dino".
        pretrained: "hub" (timm's published weights, downloaded to or read from its cache), a
            local weights file, or "" (random weights).
        overrides: mapping (or JSON object string) of extra timm.create_model keyword arguments
            (MODEL.CLIPPY.IMAGE_OVERRIDES), e.g. a small random tower.
        patch_drop_rate: share of the patch tokens dropped at random in training (timm's
            PatchDropout; the class token is kept).

    Returns:
        timm VisionTransformer whose forward_features gives (B, P + N, C) tokens, P prefix tokens.

    Raises:
        ValueError: unknown model name, bad pretrained value, not a ViT.
        PretrainedWeightsError: the weights cannot be downloaded or read.
    """
    kwargs = parse_overrides(overrides, "MODEL.CLIPPY.IMAGE_OVERRIDES")
    if not timm.is_model(model_name):
        raise ValueError(
            f"MODEL.CLIPPY.IMAGE_MODEL: timm has no model named {model_name!r}; expected e.g. "
            f"'vit_base_patch16_224.dino' (timm.list_models('vit_*'))"
        )
    if not 0.0 <= patch_drop_rate < 1.0:
        raise ValueError(f"MODEL.CLIPPY.PATCH_DROP_RATE must be in [0, 1), got {patch_drop_rate}")
    kwargs.update(num_classes=0, dynamic_img_size=True, patch_drop_rate=patch_drop_rate)
    if pretrained not in ("", "hub"):
        if not os.path.isfile(pretrained):
            raise ValueError(f'{_KEY} must be "hub", "" (random) or a weights file; {pretrained!r} is no file')
        kwargs["pretrained_cfg_overlay"] = {"file": pretrained}
    try:
        model = timm.create_model(model_name, pretrained=bool(pretrained), **kwargs)
    except Exception as err:  # noqa: BLE001  (download and read errors come in many types)
        if not pretrained:
            raise
        source = pretrained if pretrained != "hub" else f"timm hub weights of {model_name}"
        raise weights_unavailable(
            "timm", model_name, source, err,
            f"download them where the Hugging Face hub is reachable (timm then reads its cache), or set {_KEY} "
            'to a local weights file, or to "" for random weights.',
        ) from err
    if not isinstance(model, VisionTransformer):
        raise ValueError(
            f"MODEL.CLIPPY.IMAGE_MODEL: {model_name!r} builds a {type(model).__name__}, "
            "expected a timm VisionTransformer"
        )
    return model
