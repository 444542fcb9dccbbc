"""GroupViT's own training losses: the multi-label contrastive loss, and the thesis's entropy
regularisers and non-noisy positives (the image-text contrastive loss is shared: core)."""

from .group_entropy import group_entropy_loss
from .label_entropy import label_entropy_loss
from .multi_label import MULTI_LABEL_FORMS, MULTI_LABEL_MATCHES, image_label_logits, multi_label_contrastive_loss
from .non_noisy import same_label_positives
from .segment_affinity import SEGMENT_AFFINITY_FORMS, segment_label_affinity
from .segment_entropy import segment_entropy_loss

__all__ = [
    "multi_label_contrastive_loss",
    "MULTI_LABEL_FORMS",
    "MULTI_LABEL_MATCHES",
    "image_label_logits",
    "group_entropy_loss",
    "label_entropy_loss",
    "segment_entropy_loss",
    "segment_label_affinity",
    "SEGMENT_AFFINITY_FORMS",
    "same_label_positives",
]
