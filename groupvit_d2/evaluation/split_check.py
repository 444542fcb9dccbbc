"""Checking an evaluation split before inference, so that one bad file cannot lose a long run.

Images are checked from their headers (plus the end-of-file marker of JPEG and the chunk
checksums of PNG, which catch truncated files without decoding them); label maps are read in full,
since their ids must be checked. Every problem of every file is collected and reported at once.
"""
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.file_io import PathManager
from PIL import Image

__all__ = ["SplitCheckError", "SplitReport", "check_sem_seg_split", "out_of_range_ids", "OUT_OF_RANGE_POLICIES"]

logger = logging.getLogger(__name__)

OUT_OF_RANGE_POLICIES = ("error", "ignore")
# EXIF orientations that swap width and height (ImageReader applies them).
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
_JPEG_TAIL_BYTES = 4096
_MAX_LISTED = 50


class SplitCheckError(ValueError):
    """An evaluation split with files that cannot be evaluated; the message lists every one."""


@dataclass
class SplitReport:
    """What `check_sem_seg_split` found: the number of records, and {label file: [ids]} of label
    maps holding ids that are neither a class nor the ignore value (when those are ignored)."""

    dataset_name: str
    num_records: int = 0
    out_of_range: Dict[str, List[int]] = field(default_factory=dict)


def out_of_range_ids(label, num_classes, ignore_label):
    """The sorted ids of `label` outside [0, num_classes) that are not `ignore_label`."""
    ids = np.unique(label)
    return [int(i) for i in ids if (i < 0 or i >= num_classes) and i != ignore_label]


def _image_problem(path):
    """None, or why the image cannot be decoded; also its (height, width) as ImageReader returns it."""
    try:
        with PathManager.open(path, "rb") as f:
            image = Image.open(f)
            width, height = image.size
            image_format = image.format
            if image_format == "PNG":
                image.verify()  # walks every chunk and its CRC without decompressing
            elif image_format == "JPEG":
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - _JPEG_TAIL_BYTES))
                if b"\xff\xd9" not in f.read():
                    return "truncated: the JPEG end-of-image marker is missing", None
        with PathManager.open(path, "rb") as f:
            if Image.open(f).getexif().get(0x0112) in _TRANSPOSING_ORIENTATIONS:
                width, height = height, width
    except Exception as err:  # noqa: BLE001  (Pillow raises many types on broken files)
        return f"unreadable image ({type(err).__name__}: {err})", None
    return None, (height, width)


def _label_problem(path, image_path, image_hw, num_classes, ignore_label):
    """(problem or None, out-of-range ids) of one label map."""
    try:
        with PathManager.open(path, "rb") as f:
            label = np.asarray(Image.open(f))
    except Exception as err:  # noqa: BLE001
        return f"unreadable label map ({type(err).__name__}: {err})", []
    if label.ndim != 2:
        return f"label map of shape {label.shape}; expected a single-channel (H, W) map", []
    if image_hw is not None and label.shape != tuple(image_hw):
        return (f"label map is {label.shape[1]}x{label.shape[0]} (WxH) but its image is "
                f"{image_hw[1]}x{image_hw[0]} ({image_path})"), []
    return None, out_of_range_ids(label, num_classes, ignore_label)


def check_sem_seg_split(dataset_name, out_of_range="error"):
    """
    Check every record of a registered sem-seg dataset before it is evaluated.

    Args:
        dataset_name (str): a DatasetCatalog name with "file_name" and "sem_seg_file_name" records
            and MetadataCatalog stuff_classes / ignore_label.
        out_of_range (str): "error": label ids outside the classes (and not the ignore value) are
            problems; "ignore": they are listed in the report and a warning is logged.

    Returns:
        SplitReport

    Raises:
        SplitCheckError: naming every missing, unreadable or truncated image, every unreadable
            label map, every size mismatch and (with "error") every file with out-of-range ids.
    """
    if out_of_range not in OUT_OF_RANGE_POLICIES:
        raise ValueError(f"TEST.OUT_OF_RANGE_LABELS must be one of {OUT_OF_RANGE_POLICIES}, got {out_of_range!r}")
    meta = MetadataCatalog.get(dataset_name)
    report = SplitReport(dataset_name)
    if not getattr(meta, "stuff_classes", None):
        return report  # not a semantic-segmentation split (or one the model refuses by itself)
    num_classes, ignore_label = len(meta.stuff_classes), getattr(meta, "ignore_label", 255)
    problems = []
    for record in DatasetCatalog.get(dataset_name):
        report.num_records += 1
        image_path, label_path = record["file_name"], record.get("sem_seg_file_name")
        image_problem, image_hw = _image_problem(image_path)
        if image_problem:
            problems.append(f"{image_path}: {image_problem}")
        if label_path is None:
            continue
        label_problem, bad_ids = _label_problem(label_path, image_path, image_hw, num_classes, ignore_label)
        if label_problem:
            problems.append(f"{label_path}: {label_problem}")
        elif bad_ids:
            report.out_of_range[label_path] = bad_ids
            if out_of_range == "error":
                problems.append(f"{label_path}: label ids {_show(bad_ids)} are outside the {num_classes} classes "
                                f"[0, {num_classes - 1}] and not the ignore value {ignore_label}")
    if problems:
        shown = "\n    ".join(problems[:_MAX_LISTED])
        more = f"\n    ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        hint = ("\nFix or remove these files. Out-of-range label ids can instead be ignored, with a warning and "
                "a count in the results: TEST.OUT_OF_RANGE_LABELS ignore." if any("label ids" in p for p in problems)
                else "")
        raise SplitCheckError(f"Dataset '{dataset_name}': {len(problems)} problem(s) in {report.num_records} "
                              f"records, found before evaluating:\n    {shown}{more}{hint}")
    if report.out_of_range:
        files = sorted(report.out_of_range)
        logger.warning(
            "Dataset '%s': %d label map(s) hold ids outside the %d classes; those pixels are ignored "
            "(TEST.OUT_OF_RANGE_LABELS ignore), e.g. %s: %s",
            dataset_name, len(files), num_classes, files[0], _show(report.out_of_range[files[0]]),
        )
    return report


def _show(ids):
    return str(ids[:10])[:-1] + (", ...]" if len(ids) > 10 else "]")
