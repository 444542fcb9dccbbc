"""COCO-Object val2017 (5000 images) for zero-shot semantic segmentation.

The 80 COCO thing classes plus background at 0, as in the official GroupViT evaluation
(NVlabs/GroupViT, segmentation/datasets/coco_object.py, whose names equal Detectron2's builtin COCO
thing names, taken from there). Background (everything that is no thing) is predicted by
thresholding (0.95, segmentation/configs/_base_/datasets/coco.py).

Labels are written by `python datasets/prepare_coco_object.py`, from the instances json or from
the COCO-Stuff maps (see that script for the difference).
"""

import os

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

from .sem_seg_catalog import register_sem_seg

__all__ = [
    "COCO_THING_IDS",
    "COCO_OBJECT_CLASSES",
    "COCO_DIR",
    "COCO_OBJECT_LABEL_DIR",
    "register_all_coco_object",
]

_THINGS = [c for c in COCO_CATEGORIES if c["isthing"]]
# COCO category ids of the 80 things, ascending; label value i + 1 is thing i.
COCO_THING_IDS = tuple(c["id"] for c in _THINGS)
COCO_OBJECT_CLASSES = ("background",) + tuple(c["name"] for c in _THINGS)

COCO_DIR = "coco"
# Prepared label folder, relative to COCO_DIR.
COCO_OBJECT_LABEL_DIR = os.path.join("objectmaps_detectron2", "val2017")
_PREPARE_COMMAND = "python datasets/prepare_coco_object.py"


def register_all_coco_object(root, prefix=""):
    """Register coco_object_val (its name preceded by `prefix`) under `root`."""
    coco_root = os.path.join(root, COCO_DIR)
    register_sem_seg(
        prefix + "coco_object_val",
        os.path.join(coco_root, "val2017"),
        os.path.join(coco_root, COCO_OBJECT_LABEL_DIR),
        _PREPARE_COMMAND,
        stuff_classes=COCO_OBJECT_CLASSES,
        ignore_label=255,
        background_threshold=0.95,
    )
