from .groupvit import GroupViT

__all__ = ["GroupViT"]
