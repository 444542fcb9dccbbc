"""CLIPpy (perceptual grouping in a CLIP-style dual encoder): importing registers the "CLIPpy"
meta-architecture."""

from .aggregation import AGGREGATIONS, aggregate
from .image_encoder import build_timm_vit
from .meta_arch import CLIPpy
from .pca_grouping import pca_group_scores, pca_grouping
from .text_encoder import SentenceT5Encoder, build_sentence_t5

__all__ = [
    "CLIPpy",
    "AGGREGATIONS",
    "aggregate",
    "build_timm_vit",
    "build_sentence_t5",
    "SentenceT5Encoder",
    "pca_group_scores",
    "pca_grouping",
]
