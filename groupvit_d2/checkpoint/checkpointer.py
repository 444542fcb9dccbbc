"""A DetectionCheckpointer that reads official, Hugging Face and our own GroupViT checkpoints."""
import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..modeling.core import resize_pos_embed
from .atomic import atomic_open, is_intact_checkpoint, remove_partial_files
from .errors import CheckpointError, CheckpointMismatchError, CheckpointNotFoundError
from .formats import HUGGINGFACE, read_checkpoint
from .huggingface import cfg_overrides_from_hf_config, find_hf_weights

__all__ = ["GroupViTCheckpointer", "LoadReport"]

_POS_EMBED = "backbone.pos_embed"


@dataclass
class LoadReport:
    """What one `GroupViTCheckpointer.load` did.

    missing: model keys the checkpoint lacks that it should have held (left at initialisation).
    expected_missing: model keys the source format cannot hold (e.g. the multi-label logit scale
        after a Hugging Face import), also left at initialisation.
    unexpected: checkpoint keys the model has no place for (not loaded).
    resized: (key, old shape, new shape) of position embeddings resized to the model's grid.
    """

    path: str
    format: str
    num_loaded: int = 0
    missing: List[str] = field(default_factory=list)
    expected_missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    resized: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    def __str__(self):
        lines = [f"Loaded {self.num_loaded} tensors from {self.path} ({self.format} format)."]
        for title, keys in (("Missing from the checkpoint (left at initialisation)", self.missing),
                            ("Not in this format, left at initialisation as expected", self.expected_missing),
                            ("Unexpected (in the checkpoint, not in the model; not loaded)", self.unexpected)):
            lines.append(f"{title}: {len(keys)}" + "".join(f"\n    {k}" for k in sorted(keys)))
        for key, old, new in self.resized:
            lines.append(f"Resized {key} bicubically from {old} to {new}")
        return "\n".join(lines)


class GroupViTCheckpointer(DetectionCheckpointer):
    """DetectionCheckpointer whose `load` takes every checkpoint format users hold.

    `MODEL.WEIGHTS` may be an official release file, a Hugging Face GroupViTModel state dict
    (.bin/.pth/.safetensors or a model folder), our own Detectron2 checkpoint, a URL, or a
    ``groupvit://`` model-zoo name (see model_zoo). Converted checkpoints carry the pixel
    statistics of their source (ImageNet for official, CLIP for Hugging Face).

    Loading never runs code from the file. Tensors whose shapes disagree with the model raise
    CheckpointMismatchError naming every such key and both shapes, except a square position
    embedding of another grid, which is resized bicubically as the official code does. Missing and
    unexpected keys are logged as one explicit report, kept in `last_report`; with
    ``strict=True`` any unexpected or (not expected) missing key raises CheckpointMismatchError.

    Saving is atomic: a checkpoint is written to a partial file and renamed when complete, and
    ``last_checkpoint`` is rewritten (atomically too) only after that, so a kill during a save
    never leaves ``last_checkpoint`` naming a truncated file. When the checkpoint it names cannot
    be read anyway (a disk fault, a file copied in part), ``resume_or_load`` names the latest
    intact checkpoint of the folder and how to resume from it.
    """

    def __init__(self, model, save_dir="", *, strict=False, **checkpointables):
        super().__init__(model, save_dir, **checkpointables)
        self.strict = strict
        self.last_report: Optional[LoadReport] = None
        self._converted = None

    def load(self, path, *args, **kwargs):
        # fvcore's load wants a file; an HF model folder is read through its weights file.
        if path and os.path.isdir(path):
            path = find_hf_weights(path)
        if path and "://" not in path:
            # fvcore would only assert; a local path with no file gets an error naming it.
            file_path = path.split("?", 1)[0]
            if not os.path.isfile(file_path):
                raise CheckpointNotFoundError(
                    f"Checkpoint {file_path} not found (MODEL.WEIGHTS or last_checkpoint): expected a "
                    "checkpoint file, a Hugging Face model folder, a URL or a groupvit:// model-zoo name"
                )
        try:
            return super().load(path, *args, **kwargs)
        except BaseException:
            # Detectron2 leaves its per-load state set when a load fails, and then refuses the next one.
            self._parsed_url_during_load = None
            self._converted = None
            raise

    def save(self, name, **kwargs):
        if not self.save_dir or not self.save_to_disk:
            return
        if "://" in self.save_dir:
            return super().save(name, **kwargs)
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info("Saving checkpoint to %s", save_file)
        os.makedirs(self.save_dir, exist_ok=True)
        with atomic_open(save_file, "wb") as f:
            torch.save(data, f)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename):
        if "://" in self.save_dir:
            return super().tag_last_checkpoint(last_filename_basename)
        with atomic_open(os.path.join(self.save_dir, "last_checkpoint"), "w") as f:
            f.write(last_filename_basename)

    def resume_or_load(self, path, *, resume=True):
        if not (resume and self.has_checkpoint()):
            return self.load(path, checkpointables=[])
        if self.save_to_disk and "://" not in self.save_dir:
            for partial in remove_partial_files(self.save_dir):
                self.logger.info("Removed %s, left by a save that was interrupted", partial)
        last = self.get_checkpoint_file()
        try:
            return self.load(last)
        except CheckpointError as err:
            raise type(err)(self._unreadable_last_checkpoint(last, err)) from err

    def _unreadable_last_checkpoint(self, last, err):
        """The message for a last checkpoint that cannot be read: which earlier one can be, and how."""
        tag = os.path.join(self.save_dir, "last_checkpoint")
        message = f"--resume: {tag} names {last}, which cannot be read:\n    {err}\n"
        others = [p for p in self.get_all_checkpoint_files() if os.path.abspath(p) != os.path.abspath(last)]
        intact = next((p for p in sorted(others, key=_checkpoint_order, reverse=True) if is_intact_checkpoint(p)), None)
        if intact is None:
            return message + (f"No other intact checkpoint is in {self.save_dir}: start again without --resume, "
                              "or load weights with MODEL.WEIGHTS.")
        return message + (f"The latest intact checkpoint is {intact}. To resume from it, run\n"
                          f"    echo {os.path.basename(intact)} > {tag}\nthen the same command with --resume again.")

    def _load_file(self, filename):
        converted = read_checkpoint(filename)
        self._converted = converted
        if converted.format == HUGGINGFACE and converted.hf_config is not None:
            self._check_hf_architecture(converted.hf_config, filename)
        return converted.checkpoint

    def _check_hf_architecture(self, hf_config, filename):
        """Warn about settings that shapes cannot reveal (eps, head counts) but that change outputs."""
        try:
            want = cfg_overrides_from_hf_config(hf_config)
        except ValueError as err:
            self.logger.warning("%s: %s", filename, err)
            return
        have = _architecture_of(self.model)
        diffs = [
            f"{key}: model {have[key]}, checkpoint {want[key]}"
            for key in have
            if key in want and not _same(have[key], want[key])
        ]
        if diffs:
            self.logger.warning(
                "%s was trained with settings the model does not use; build the model with "
                "groupvit_d2.checkpoint.merge_hf_config(cfg, config.json) to reproduce it:\n    %s",
                filename, "\n    ".join(diffs),
            )

    def _load_model(self, checkpoint):
        converted = self._converted
        path = converted.path if converted is not None else "<checkpoint>"
        fmt = converted.format if converted is not None else "detectron2"
        state_dict = checkpoint["model"]
        model_state = self.model.state_dict()
        report = LoadReport(path=path, format=fmt)

        if _POS_EMBED in state_dict and _POS_EMBED in model_state:
            old, new = state_dict[_POS_EMBED], model_state[_POS_EMBED]
            if old.shape != new.shape and old.dim() == 3 and old.shape[-1] == new.shape[-1]:
                side = math.isqrt(new.shape[1])
                if side * side == new.shape[1] and math.isqrt(old.shape[1]) ** 2 == old.shape[1]:
                    state_dict[_POS_EMBED] = resize_pos_embed(old, (side, side))
                    report.resized.append((_POS_EMBED, tuple(old.shape), tuple(new.shape)))

        mismatched = [
            (k, tuple(v.shape), tuple(model_state[k].shape))
            for k, v in state_dict.items()
            if k in model_state and tuple(v.shape) != tuple(model_state[k].shape)
        ]
        if mismatched:
            lines = "\n".join(f"    {k}: checkpoint {a}, model {b}" for k, a, b in mismatched)
            raise CheckpointMismatchError(
                f"{path} ({fmt} format) does not fit the model: {len(mismatched)} tensors have other shapes "
                f"(a checkpoint of another architecture or size?):\n{lines}"
            )

        incompatible = super()._load_model(checkpoint)
        expected = set(converted.expected_missing) if converted is not None else set()
        report.expected_missing = [k for k in incompatible.missing_keys if k in expected]
        report.missing = [k for k in incompatible.missing_keys if k not in expected]
        report.unexpected = list(incompatible.unexpected_keys)
        report.num_loaded = len(state_dict) - len(report.unexpected)
        for key in report.expected_missing:
            incompatible.missing_keys.remove(key)
        self.last_report = report
        self._converted = None
        if self.strict and (report.missing or report.unexpected):
            raise CheckpointMismatchError(f"Strict loading failed.\n{report}")
        return incompatible

    def _log_incompatible_keys(self, incompatible):
        # One explicit report instead of fvcore's grouped warnings.
        report = self.last_report
        if report is None:
            return super()._log_incompatible_keys(incompatible)
        level = logging.WARNING if (report.missing or report.unexpected) else logging.INFO
        self.logger.log(level, "%s", report)


def _checkpoint_order(path):
    """Sort key of checkpoint files: model_final last, then by iteration, then by time."""
    name = os.path.basename(path)
    match = re.search(r"(\d+)\.pth$", name)
    return (name == "model_final.pth", int(match.group(1)) if match else -1, os.path.getmtime(path))


def _architecture_of(model):
    """The cfg values a built GroupViT model reveals beyond its tensor shapes."""
    out = {}
    backbone = getattr(model, "backbone", None)
    text = getattr(model, "text_encoder", None)
    if backbone is not None and hasattr(backbone, "norm"):
        out["MODEL.GROUPVIT.LAYER_NORM_EPS"] = backbone.norm.eps
        heads = [layer.blocks[0].attn.num_heads for layer in getattr(backbone, "layers", []) if len(layer.blocks)]
        if heads:
            out["MODEL.GROUPVIT.NUM_HEADS"] = heads
    if text is not None and hasattr(text, "ln_final"):
        out["MODEL.GROUPVIT.TEXT.LAYER_NORM_EPS"] = text.ln_final.eps
        blocks = list(text.transformer.resblocks)
        if blocks:
            out["MODEL.GROUPVIT.TEXT.HEADS"] = blocks[0].attn.heads
    return out


def _same(a, b):
    if isinstance(a, (list, tuple)):
        return list(a) == list(b)
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b
