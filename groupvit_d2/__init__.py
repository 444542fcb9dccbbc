"""GroupViT for Detectron2: importing the package registers the model and the datasets."""
from . import data  # noqa: F401  (registers datasets)
from . import modeling  # noqa: F401  (registers the backbone and meta-architecture)
from .config import add_groupvit_config, load_config

__all__ = ["add_groupvit_config", "load_config"]
