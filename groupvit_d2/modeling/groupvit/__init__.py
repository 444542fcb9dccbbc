"""GroupViT: the grouping image encoder, the text transformer, the projectors, the multi-label and
entropy losses, and the group-based zero-shot head. Importing registers the "GroupViT"
meta-architecture, the "GroupViTImageEncoder" backbone and the "GroupViTLinearHead" head."""

from .image_encoder import GroupViTImageEncoder, GroupViTVisionOutput
from .linear_head import GroupViTLinearHead
from .meta_arch import GroupViT

__all__ = ["GroupViT", "GroupViTImageEncoder", "GroupViTVisionOutput", "GroupViTLinearHead"]
