"""Pieces the dual encoders share: the DualEncoder base of the meta-architectures, loading
published towers with clear errors, caption tokens for a tower's tokenizer, and per-patch zero-shot
segmentation."""

from .base import DualEncoder, inference_options
from .caption_tokens import caption_tokens, fit_context
from .class_embeddings import sample_class_embeddings
from .patch_segmentation import patch_class_probabilities
from .pretrained import PretrainedWeightsError, parse_overrides, weights_unavailable

__all__ = [
    "DualEncoder",
    "inference_options",
    "caption_tokens",
    "fit_context",
    "patch_class_probabilities",
    "sample_class_embeddings",
    "PretrainedWeightsError",
    "parse_overrides",
    "weights_unavailable",
]
