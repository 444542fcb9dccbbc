"""Training losses: image-text and multi-label contrastive, over the global batch."""

from .contrastive import image_text_contrastive_loss
from .gather import all_gather_with_grad, global_batch_offset, global_mean_share
from .multi_label import MULTI_LABEL_FORMS, multi_label_contrastive_loss

__all__ = [
    "image_text_contrastive_loss",
    "multi_label_contrastive_loss",
    "MULTI_LABEL_FORMS",
    "all_gather_with_grad",
    "global_batch_offset",
    "global_mean_share",
]
