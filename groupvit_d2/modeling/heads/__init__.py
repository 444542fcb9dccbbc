from .linear_head import GroupViTLinearHead

__all__ = ["GroupViTLinearHead"]
