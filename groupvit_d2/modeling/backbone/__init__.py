from .groupvit import GroupViTImageEncoder, GroupViTVisionOutput

__all__ = ["GroupViTImageEncoder", "GroupViTVisionOutput"]
