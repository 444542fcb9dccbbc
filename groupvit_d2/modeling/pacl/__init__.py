"""PACL (patch-aligned contrastive learning) on open_clip towers: importing registers the "PACL"
meta-architecture."""

from .compatibility import compatibility, patch_text_similarity
from .open_clip_towers import OpenCLIPPatchTokens, OpenCLIPTextTower, build_open_clip, split_open_clip
from .vision_embedder import VisionEmbedder
from .meta_arch import PACL  # noqa: E402  (last: it imports the loss, which imports compatibility)

__all__ = [
    "PACL",
    "VisionEmbedder",
    "compatibility",
    "patch_text_similarity",
    "OpenCLIPPatchTokens",
    "OpenCLIPTextTower",
    "build_open_clip",
    "split_open_clip",
]
