"""An open_clip model split into the two towers PACL uses: patch tokens of its ViT image tower (at
any input size and patch stride) and text embeddings."""
import os

import open_clip
import torch
import torch.nn as nn
import torch.nn.functional as F
from open_clip.tokenizer import SimpleTokenizer
from open_clip.transformer import VisionTransformer

from ..core import parse_overrides, resize_pos_embed, weights_unavailable

__all__ = [
    "build_open_clip",
    "build_open_clip_tokenizer",
    "OpenCLIPPatchTokens",
    "OpenCLIPTextTower",
    "split_open_clip",
]

_PRETRAINED_KEY = "MODEL.PACL.PRETRAINED"


def build_open_clip(model_name, pretrained="", overrides=""):
    """`open_clip.create_model(model_name, pretrained=...)` with errors that say what to change.

    Args:
        model_name: an open_clip model name (open_clip.list_models()) or an "hf-hub:"/"local-dir:"
            name.
        pretrained: "" (random towers), an open_clip pretrained tag of that model (e.g. "openai")
            or a local checkpoint file.
        overrides: mapping (or JSON object string) merged into the model config, sub-mappings key
            by key (MODEL.PACL.MODEL_OVERRIDES), e.g. to build small random towers.

    Raises:
        ValueError: unknown model name or pretrained tag.
        PretrainedWeightsError: the weights exist but cannot be downloaded or read.
    """
    kwargs = parse_overrides(overrides, "MODEL.PACL.MODEL_OVERRIDES")
    has_schema = model_name.startswith(("hf-hub:", "local-dir:"))
    if not has_schema:
        config = open_clip.get_model_config(model_name.replace("/", "-"))
        if config is None:
            raise ValueError(
                f"MODEL.PACL.CLIP_MODEL: open_clip has no model named {model_name!r}; expected one of "
                f"open_clip.list_models(), e.g. 'ViT-B-16'"
            )
        kwargs = _merge_config(config, kwargs)
    tag_cfg = {}
    if pretrained and not has_schema and not os.path.isfile(pretrained):
        tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
        if not tag_cfg:
            raise ValueError(
                f"{_PRETRAINED_KEY}: {pretrained!r} is neither a pretrained tag of open_clip model "
                f"{model_name!r} (tags: {open_clip.list_pretrained_tags_by_model(model_name)}) nor a file"
            )
    try:
        return open_clip.create_model(
            model_name,
            pretrained=pretrained or None,
            # Weights trained with QuickGELU need it to reproduce their features.
            force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
            **kwargs,
        )
    except Exception as err:  # noqa: BLE001  (download and read errors come in many types)
        if not pretrained and not has_schema:
            raise
        raise weights_unavailable(
            "open_clip", model_name, pretrained or model_name, err,
            f"download them where their host is reachable (open_clip then reads its cache), or set "
            f'{_PRETRAINED_KEY} to a local checkpoint file, or to "" for random towers.',
        ) from err


def build_open_clip_tokenizer(model_name):
    """open_clip's tokenizer of `model_name` (CLIP BPE, offline, for the CLIP models)."""
    try:
        return open_clip.get_tokenizer(model_name)
    except Exception as err:  # noqa: BLE001
        raise weights_unavailable(
            "open_clip", model_name, model_name, err,
            "download it where its host is reachable, or choose a MODEL.PACL.CLIP_MODEL with CLIP's tokenizer.",
            what="the tokenizer of",
        ) from err


def _merge_config(config, overrides):
    """Model-constructor kwargs: `overrides` on top of the named config, sub-dicts merged per key."""
    merged = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merged[key] = {**config[key], **value}
        else:
            merged[key] = value
    return merged


def split_open_clip(model, tokenizer):
    """(OpenCLIPPatchTokens, OpenCLIPTextTower) sharing `model`'s weights; `model` loses its
    image tower, which moves into the first."""
    visual = model.visual
    del model.visual
    return OpenCLIPPatchTokens(visual), OpenCLIPTextTower(model, tokenizer)


class OpenCLIPPatchTokens(nn.Module):
    """An open_clip ViT image tower run up to its final patch tokens (after ln_post).

    The position embedding is resized bicubically to the input's grid, and the patch-embedding
    convolution may run with a smaller stride than the patch size (PACL's stride trick).
    """

    def __init__(self, visual):
        super().__init__()
        if not isinstance(visual, VisionTransformer):
            raise TypeError(
                f"MODEL.PACL.CLIP_MODEL must have an open_clip ViT image tower "
                f"(open_clip.transformer.VisionTransformer), got {type(visual).__name__}"
            )
        if visual.attn_pool is not None:
            raise TypeError("MODEL.PACL.CLIP_MODEL: image towers with attentional pooling are not supported")
        ph, pw = visual.patch_size
        if ph != pw:
            raise ValueError(f"MODEL.PACL.CLIP_MODEL: expected square patches, got {visual.patch_size}")
        # CLIP's projection of the class token is not used: PACL embeds the patch tokens itself.
        visual.proj = None
        self.visual = visual
        self.patch_size = int(ph)
        self.width = int(visual.conv1.out_channels)

    def forward(self, images, stride=None):
        """images: (B, 3, H, W) normalised. stride: the patch stride (None: the patch size).

        With a stride s < p, the input is zero-padded by (p - s) // 2 on each side so that patch
        i is centred on the s x s cell i: the (H // s, W // s) grid then lines up with the image
        like a stride-s feature map, which bilinear upsampling assumes.

        Returns:
            tokens: (B, N, C) patch tokens (fewer than h * w in training when the tower drops
            patches), grid: (h, w).
        """
        p = self.patch_size
        s = p if stride is None else int(stride)
        if not 1 <= s <= p:
            raise ValueError(f"patch stride must be in [1, {p}] (the patch size), got {stride}")
        if s < p:
            pad = (p - s) // 2
            images = F.pad(images, (pad, pad, pad, pad))
        visual = self.visual
        x = F.conv2d(images, visual.conv1.weight, stride=s)
        grid = (int(x.shape[-2]), int(x.shape[-1]))
        x = x.flatten(2).transpose(1, 2)
        pos = visual.positional_embedding
        patch_pos = resize_pos_embed(pos[1:].unsqueeze(0), grid)[0]
        cls = (visual.class_embedding + pos[0]).to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x + patch_pos.to(x.dtype)], dim=1)
        x = visual.patch_dropout(x)
        x = visual.ln_pre(x)
        x = visual.transformer(x)
        x = visual.ln_post(x)
        return x[:, 1:], grid


class OpenCLIPTextTower(nn.Module):
    """An open_clip model's text side: (N, L) token ids -> (N, D) projected, un-normalised text
    embeddings (its encode_text)."""

    def __init__(self, model, tokenizer):
        super().__init__()
        self.model = model
        # The image-text logit scale (and bias) of the CLIP model are not used; keep them out of
        # the optimiser (and of DDP's unused-parameter check).
        for name in ("logit_scale", "logit_bias"):
            param = getattr(model, name, None)
            if isinstance(param, nn.Parameter):
                param.requires_grad_(False)
        self.tokenizer = tokenizer
        self.context_length = int(model.context_length)
        self.reads_clip_bpe = isinstance(tokenizer, SimpleTokenizer)
        self.eot_token = tokenizer.eot_token_id if self.reads_clip_bpe else None

    def tokenize(self, texts):
        """list of N strings -> (N, context_length) token ids."""
        return self.tokenizer(list(texts), context_length=self.context_length)

    def forward(self, tokens):
        return self.model.encode_text(tokens)
