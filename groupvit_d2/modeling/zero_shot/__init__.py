"""Zero-shot semantic segmentation as the official GroupViT code does it (SPEC section 3)."""

from .assignment_maps import argmax_groups, cumulative_group_maps, onehot_argmax, upsample_group_maps
from .embedding_cache import ClassEmbeddingStore, clear_cache
from .group_lookup import (
    GroupCanvas,
    finalize_group_canvas,
    group_class_table,
    lookup_group_scores,
    sliding_window_group_inference,
)
from .group_classifier import group_class_affinity, pixel_class_scores
from .sliding_window import finalize_logits, sliding_window_inference, window_grid
from .text_classifier import TextClassifier, class_names_from_metadata, split_class_names

__all__ = [
    "cumulative_group_maps",
    "upsample_group_maps",
    "onehot_argmax",
    "argmax_groups",
    "group_class_table",
    "lookup_group_scores",
    "GroupCanvas",
    "sliding_window_group_inference",
    "finalize_group_canvas",
    "ClassEmbeddingStore",
    "clear_cache",
    "group_class_affinity",
    "pixel_class_scores",
    "window_grid",
    "sliding_window_inference",
    "finalize_logits",
    "TextClassifier",
    "class_names_from_metadata",
    "split_class_names",
]
