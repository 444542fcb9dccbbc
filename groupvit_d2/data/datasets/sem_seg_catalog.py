"""Registering prepared semantic-segmentation folders with Detectron2's catalogs.

Every zero-shot benchmark here is a folder of images plus a folder of label PNGs written by a
`datasets/prepare_*.py` script. Registration only records paths; the files are listed when the
DatasetCatalog function is called, and a missing or incomplete folder then raises an error that
says which command writes it.
"""

import functools
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_sem_seg
from detectron2.utils.file_io import PathManager

__all__ = ["register_sem_seg", "load_prepared_sem_seg"]


def _file_id(folder, path):
    return os.path.splitext(os.path.normpath(os.path.relpath(path, folder)))[0]


def _not_found(name, what, path, prepare_command):
    return FileNotFoundError(
        f"Dataset '{name}': {what} not found at {path}. Write it with `{prepare_command}` "
        "(it reads the official download under $DETECTRON2_DATASETS, default ./datasets; "
        "see datasets/README.md)."
    )


def _images_not_found(name, path, prepare_command):
    return FileNotFoundError(
        f"Dataset '{name}': image folder not found at {path}. It comes with the official "
        "download: place it under $DETECTRON2_DATASETS (default ./datasets) as datasets/README.md "
        f"shows, then run `{prepare_command}`."
    )


def load_prepared_sem_seg(
    name, gt_root, image_root, prepare_command, gt_ext="png", image_ext="jpg"
):
    """
    Detectron2 sem-seg dicts for a prepared label folder, checked before use.

    Args:
        name (str): the dataset name, for error messages.
        gt_root (str): folder of label files (one per image, same relative path, `gt_ext`).
        image_root (str): folder of images (`image_ext`); it may hold more images than labels.
        prepare_command (str): the command that writes `gt_root`, quoted in errors.

    Returns:
        list[dict]: {"file_name", "sem_seg_file_name"} per labelled image, sorted by file id.

    Raises:
        FileNotFoundError: a folder is missing, holds no label file, or a label has no image.
    """
    if not PathManager.isdir(image_root):
        raise _images_not_found(name, image_root, prepare_command)
    if not PathManager.isdir(gt_root):
        raise _not_found(name, "label folder", gt_root, prepare_command)
    gt_ids = {
        _file_id(gt_root, os.path.join(gt_root, f))
        for f in PathManager.ls(gt_root)
        if f.endswith(gt_ext)
    }
    if not gt_ids:
        raise _not_found(name, f"*.{gt_ext} label files", gt_root, prepare_command)

    dicts = load_sem_seg(gt_root, image_root, gt_ext=gt_ext, image_ext=image_ext)
    # load_sem_seg pairs files by position when both folders hold the same number of files, and
    # silently drops labels whose image is missing otherwise; both must surface as errors here.
    matched = {
        _file_id(gt_root, d["sem_seg_file_name"])
        for d in dicts
        if _file_id(image_root, d["file_name"]) == _file_id(gt_root, d["sem_seg_file_name"])
    }
    missing = sorted(gt_ids - matched)
    if missing:
        raise FileNotFoundError(
            f"Dataset '{name}': {len(missing)} label file(s) in {gt_root} have no image in "
            f"{image_root}, e.g. {missing[0]}.{image_ext}. Check the image download, or rerun "
            f"`{prepare_command}`."
        )
    return dicts


def register_sem_seg(
    name,
    image_root,
    sem_seg_root,
    prepare_command,
    stuff_classes,
    ignore_label=255,
    background_threshold=None,
    gt_ext="png",
    image_ext="jpg",
    **metadata,
):
    """
    Register one zero-shot sem-seg dataset without touching the disk.

    Args:
        name (str): DatasetCatalog / MetadataCatalog name.
        image_root, sem_seg_root (str): image folder and prepared label folder.
        prepare_command (str): the command that writes `sem_seg_root`.
        stuff_classes (list[str]): class names; label value i is stuff_classes[i].
        ignore_label (int): 255 for 8-bit labels, 65535 for 16-bit ones.
        background_threshold (float or None): for datasets whose class 0 is a background that
            the model predicts by thresholding; None otherwise.
        **metadata: further MetadataCatalog fields (e.g. stuff_synonyms).
    """
    DatasetCatalog.register(
        name,
        functools.partial(
            load_prepared_sem_seg,
            name,
            sem_seg_root,
            image_root,
            prepare_command,
            gt_ext,
            image_ext,
        ),
    )
    MetadataCatalog.get(name).set(
        stuff_classes=list(stuff_classes),
        ignore_label=ignore_label,
        evaluator_type="sem_seg",
        image_root=image_root,
        sem_seg_root=sem_seg_root,
        background_threshold=background_threshold,
        **metadata,
    )
