"""Recognising which of the three checkpoint formats a file is and reading it into ours.

* "official": an NVlabs/GroupViT release, ``{"model": {img_encoder.*, text_encoder.*, ...},
  "config": ...}``.
* "huggingface": a transformers GroupViTModel state dict (``vision_model.*``, ``text_model.*``)
  in a .bin/.pth, a .safetensors, a shard index, or a folder holding one of them.
* "detectron2": ours, ``{"model": {backbone.*, ...}, "optimizer", "scheduler", "iteration"}``
  (or a bare state dict with our names).
"""
import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

from . import huggingface, official
from .errors import CheckpointFormatError
from .safe_load import check_state_dict, load_torch_file

logger = logging.getLogger(__name__)

__all__ = ["OFFICIAL", "HUGGINGFACE", "DETECTRON2", "ConvertedCheckpoint", "detect_format", "read_checkpoint"]

OFFICIAL, HUGGINGFACE, DETECTRON2 = "official", "huggingface", "detectron2"

_OURS_PREFIXES = ("backbone.", "text_encoder.", "img_projector.", "text_projector.")


@dataclass
class ConvertedCheckpoint:
    """A checkpoint read into our format.

    checkpoint: {"model": our state dict, ...}; for our own files also "optimizer", "scheduler",
        "iteration", ...; for converted ones only "model" and "__author__" (their optimizer state
        is not ours to resume).
    expected_missing: our keys the source format has no counterpart for (kept at initialisation).
    hf_config: the folder's config.json (HF files only), to check the model against.
    """

    path: str
    format: str
    checkpoint: dict
    expected_missing: List[str] = field(default_factory=list)
    hf_config: Optional[dict] = None


def detect_format(state_dict):
    """"official", "huggingface" or "detectron2" from the keys of a state dict, else None."""
    keys = list(official.strip_ddp_prefix(state_dict))
    if official.is_official_state_dict(keys):
        return OFFICIAL
    if huggingface.is_hf_state_dict(keys):
        return HUGGINGFACE
    if any(k.startswith(_OURS_PREFIXES) for k in keys):
        return DETECTRON2
    return None


def _unknown(path, state_dict):
    sample = sorted(state_dict)[:6]
    return CheckpointFormatError(
        f"{path} is not a GroupViT checkpoint: expected keys starting with 'img_encoder.' (official release), "
        f"'vision_model.'/'text_model.' (Hugging Face GroupViTModel) or 'backbone.'/'text_encoder.' "
        f"(groupvit_d2), found {sample}{' ...' if len(state_dict) > len(sample) else ''}"
    )


def _hf_folder_extras(weights_path):
    """(config.json dict or None, pixel stats or None) next to an HF weights file."""
    folder = os.path.dirname(os.path.abspath(weights_path))
    return huggingface.read_hf_config(folder), huggingface.read_hf_pixel_stats(folder)


def read_checkpoint(path):
    """Read a checkpoint file (or HF model folder) of any supported format into ours.

    Never runs code from the file (see safe_load). Raises CheckpointFormatError for unreadable or
    foreign files, UnsafeCheckpointError for pickles that would run code.
    """
    if os.path.isdir(path):
        path = huggingface.find_hf_weights(path)
    if path.endswith((".safetensors", ".index.json")):
        data = huggingface.load_hf_weights(path)
    else:
        data = load_torch_file(path)
    if not isinstance(data, dict):
        raise CheckpointFormatError(f"{path} holds a {type(data).__name__}, expected a dict (a checkpoint)")

    nested = isinstance(data.get("model"), dict)
    state_dict = data["model"] if nested else data
    check_state_dict(state_dict, path, "'model' state dict" if nested else "state dict")
    fmt = detect_format(state_dict)
    if fmt is None:
        raise _unknown(path, state_dict)

    if fmt == DETECTRON2:
        checkpoint = dict(data) if nested else {"model": dict(state_dict)}
        checkpoint["model"] = official.strip_ddp_prefix(checkpoint["model"])
        return ConvertedCheckpoint(path, fmt, checkpoint)

    if fmt == OFFICIAL:
        converted, unmapped = official.official_to_ours(state_dict)
        expected = [k for k in official.OPTIONAL_KEYS if k not in converted]
        hf_config = None
        dropped = sorted(k for k in data if k != "model") if nested else []
        author = "GroupViT official release"
    else:
        hf_config, pixel_stats = _hf_folder_extras(path)
        converted, unmapped = huggingface.hf_to_ours(state_dict, pixel_stats)
        expected = list(huggingface.EXPECTED_MISSING)
        dropped = sorted(k for k in data if k != "model") if nested else []
        author = "Hugging Face transformers GroupViTModel"
    if dropped:
        # e.g. the official "config" (read inertly, never used), "optimizer", "lr_scheduler".
        logger.info("%s: ignoring the %s entries %s", path, fmt, dropped)
    if unmapped:
        logger.warning("%s: %d %s keys have no counterpart in groupvit_d2: %s", path, len(unmapped), fmt, unmapped)
    return ConvertedCheckpoint(
        path, fmt, {"model": converted, "__author__": author, "matching_heuristics": False},
        expected_missing=expected, hf_config=hf_config,
    )
