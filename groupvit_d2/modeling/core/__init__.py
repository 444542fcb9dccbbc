"""What the three dual encoders (GroupViT, PACL, CLIPpy) share: the DualEncoder base of their
meta-architectures, the image-text contrastive loss over the global batch, the class-embedding
cache, the sliding window, per-patch zero-shot segmentation, the inference precision, loading
published towers with clear errors, and freezing parts of a model."""

from .caption_tokens import caption_tokens, fit_context
from .contrastive import image_text_contrastive_loss
from .dual_encoder import DualEncoder, inference_options
from .embedding_cache import ClassEmbeddingStore, clear_cache
from .freezing import TRAINABLE_PRESETS, FreezeSummary, freeze_except, freeze_norm_statistics
from .gather import all_gather_with_grad, global_batch_offset, global_mean_share
from .patch_segmentation import patch_class_probabilities
from .pos_embed import resize_pos_embed
from .precision import (
    PRECISIONS,
    InferenceWeightCopies,
    at_least_float32,
    inference_autocast,
    native_bf16,
    resolve_precision,
)
from .pretrained import PretrainedWeightsError, parse_overrides, weights_unavailable
from .sliding_window import finalize_logits, sliding_window_inference, window_grid
from .text_classifier import TextClassifier, class_names_from_metadata, split_class_names

__all__ = [
    "DualEncoder",
    "inference_options",
    "caption_tokens",
    "fit_context",
    "image_text_contrastive_loss",
    "all_gather_with_grad",
    "global_batch_offset",
    "global_mean_share",
    "ClassEmbeddingStore",
    "clear_cache",
    "TextClassifier",
    "class_names_from_metadata",
    "split_class_names",
    "window_grid",
    "sliding_window_inference",
    "finalize_logits",
    "patch_class_probabilities",
    "resize_pos_embed",
    "PRECISIONS",
    "InferenceWeightCopies",
    "at_least_float32",
    "inference_autocast",
    "native_bf16",
    "resolve_precision",
    "PretrainedWeightsError",
    "parse_overrides",
    "weights_unavailable",
    "TRAINABLE_PRESETS",
    "FreezeSummary",
    "freeze_except",
    "freeze_norm_statistics",
]
