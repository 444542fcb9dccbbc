"""Cityscapes fine val (500 images, 19 classes) for zero-shot semantic segmentation.

The official layout keeps images and labels in per-city folders, which Detectron2's load_sem_seg
does not walk, so this module pairs them itself. Detectron2's `load_cityscapes_semantic` would also
require the polygons json and instanceIds files; only the image and its train-id label are needed
here. Train-id labels are written by `python datasets/prepare_cityscapes.py`.
"""

import functools
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.file_io import PathManager

__all__ = [
    "CITYSCAPES_LABELS",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_DIR",
    "load_cityscapes_fine",
    "register_all_cityscapes",
]

# Cityscapes' own label table (labels.py of cityscapesScripts): (name, labelId, trainId).
# trainId 255 is ignored in evaluation; "license plate" (labelId -1) never occurs in labelIds PNGs.
CITYSCAPES_LABELS = (
    ("unlabeled", 0, 255),
    ("ego vehicle", 1, 255),
    ("rectification border", 2, 255),
    ("out of roi", 3, 255),
    ("static", 4, 255),
    ("dynamic", 5, 255),
    ("ground", 6, 255),
    ("road", 7, 0),
    ("sidewalk", 8, 1),
    ("parking", 9, 255),
    ("rail track", 10, 255),
    ("building", 11, 2),
    ("wall", 12, 3),
    ("fence", 13, 4),
    ("guard rail", 14, 255),
    ("bridge", 15, 255),
    ("tunnel", 16, 255),
    ("pole", 17, 5),
    ("polegroup", 18, 255),
    ("traffic light", 19, 6),
    ("traffic sign", 20, 7),
    ("vegetation", 21, 8),
    ("terrain", 22, 9),
    ("sky", 23, 10),
    ("person", 24, 11),
    ("rider", 25, 12),
    ("car", 26, 13),
    ("truck", 27, 14),
    ("bus", 28, 15),
    ("caravan", 29, 255),
    ("trailer", 30, 255),
    ("train", 31, 16),
    ("motorcycle", 32, 17),
    ("bicycle", 33, 18),
    ("license plate", -1, -1),
)

# The 19 evaluated classes, indexed by trainId.
CITYSCAPES_CLASSES = tuple(
    name
    for name, _, train_id in sorted(CITYSCAPES_LABELS, key=lambda label: label[2])
    if 0 <= train_id < 255
)

CITYSCAPES_DIR = "cityscapes"
IMAGE_SUFFIX = "_leftImg8bit.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
_PREPARE_COMMAND = "python datasets/prepare_cityscapes.py"


def load_cityscapes_fine(name, image_root, gt_root):
    """
    Pair ``image_root/<city>/<stem>_leftImg8bit.png`` with
    ``gt_root/<city>/<stem>_gtFine_labelTrainIds.png``.

    Args:
        name (str): the dataset name, for error messages.

    Returns:
        list[dict]: {"file_name", "sem_seg_file_name"} per image, sorted by city and file name.

    Raises:
        FileNotFoundError: a folder is missing, holds no image, or an image has no train-id label.
    """
    for what, path in (("image folder (leftImg8bit)", image_root), ("label folder", gt_root)):
        if not PathManager.isdir(path):
            raise FileNotFoundError(
                f"Dataset '{name}': {what} not found at {path}. Place the official "
                "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip under "
                f"$DETECTRON2_DATASETS/cityscapes (default ./datasets), then run "
                f"`{_PREPARE_COMMAND}` (see datasets/README.md)."
            )
    dicts = []
    for city in sorted(PathManager.ls(image_root)):
        if not PathManager.isdir(os.path.join(image_root, city)):
            continue
        for file in sorted(PathManager.ls(os.path.join(image_root, city))):
            if not file.endswith(IMAGE_SUFFIX):
                continue
            label = os.path.join(gt_root, city, file[: -len(IMAGE_SUFFIX)] + TRAIN_IDS_SUFFIX)
            if not PathManager.isfile(label):
                raise FileNotFoundError(
                    f"Dataset '{name}': train-id label {label} not found. Write it with "
                    f"`{_PREPARE_COMMAND}` (it reads the *_gtFine_labelIds.png files; see "
                    "datasets/README.md)."
                )
            dicts.append(
                {"file_name": os.path.join(image_root, city, file), "sem_seg_file_name": label}
            )
    if not dicts:
        raise FileNotFoundError(
            f"Dataset '{name}': no <city>/*{IMAGE_SUFFIX} images found under {image_root}."
        )
    return dicts


def register_all_cityscapes(root, prefix=""):
    """Register cityscapes_fine_val (preceded by `prefix`) under `root`; reads nothing."""
    name = prefix + "cityscapes_fine_val"
    image_root = os.path.join(root, CITYSCAPES_DIR, "leftImg8bit", "val")
    gt_root = os.path.join(root, CITYSCAPES_DIR, "gtFine", "val")
    DatasetCatalog.register(
        name, functools.partial(load_cityscapes_fine, name, image_root, gt_root)
    )
    MetadataCatalog.get(name).set(
        stuff_classes=list(CITYSCAPES_CLASSES),
        ignore_label=255,
        evaluator_type="sem_seg",
        image_root=image_root,
        sem_seg_root=gt_root,
        background_threshold=None,
    )
