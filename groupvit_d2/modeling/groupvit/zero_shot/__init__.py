"""GroupViT's zero-shot head, as the official code does it: the learned groups' maps, each group's
class scores, and the per-pixel lookup of the scores of the pixel's group (the sliding window and
the class embeddings are shared: core)."""

from .assignment_maps import argmax_groups, cumulative_group_maps, onehot_argmax, upsample_group_maps
from .clustering import CLUSTERING_METHODS, GROUPING_METHODS, cluster_mean_tokens, cluster_patches
from .group_classifier import group_class_affinity, pixel_class_scores
from .group_lookup import (
    GroupCanvas,
    finalize_group_canvas,
    group_class_table,
    lookup_group_scores,
    sliding_window_group_inference,
)

__all__ = [
    "cumulative_group_maps",
    "upsample_group_maps",
    "onehot_argmax",
    "argmax_groups",
    "GROUPING_METHODS",
    "CLUSTERING_METHODS",
    "cluster_patches",
    "cluster_mean_tokens",
    "group_class_affinity",
    "pixel_class_scores",
    "group_class_table",
    "lookup_group_scores",
    "GroupCanvas",
    "sliding_window_group_inference",
    "finalize_group_canvas",
]
