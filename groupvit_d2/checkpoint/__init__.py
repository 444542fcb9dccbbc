"""Checkpoint interop: official GroupViT releases, Hugging Face GroupViTModel, and our own.

Importing this package registers the ``groupvit://`` model-zoo paths with Detectron2's PathManager.
"""
from .checkpointer import GroupViTCheckpointer, LoadReport
from .errors import (
    CheckpointError,
    CheckpointFormatError,
    CheckpointMismatchError,
    CheckpointNotFoundError,
    UnsafeCheckpointError,
)
from .formats import DETECTRON2, HUGGINGFACE, OFFICIAL, ConvertedCheckpoint, detect_format, read_checkpoint
from .huggingface import (
    cfg_overrides_from_hf_config,
    hf_config_from_cfg,
    hf_to_ours,
    merge_hf_config,
    ours_to_hf,
    save_hf_folder,
)
from .model_zoo import MODEL_ZOO, fetch_checkpoint, get_checkpoint_url, get_entry
from .official import official_to_ours, ours_to_official
from .safe_load import load_torch_file

__all__ = [
    "GroupViTCheckpointer",
    "LoadReport",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "UnsafeCheckpointError",
    "OFFICIAL",
    "HUGGINGFACE",
    "DETECTRON2",
    "ConvertedCheckpoint",
    "detect_format",
    "read_checkpoint",
    "cfg_overrides_from_hf_config",
    "merge_hf_config",
    "hf_config_from_cfg",
    "hf_to_ours",
    "ours_to_hf",
    "save_hf_folder",
    "official_to_ours",
    "ours_to_official",
    "MODEL_ZOO",
    "get_entry",
    "get_checkpoint_url",
    "fetch_checkpoint",
    "load_torch_file",
]
