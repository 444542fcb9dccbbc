"""COCO-Object val2017 (5000 images) for zero-shot semantic segmentation.

The 80 COCO thing classes plus background at 0, as in the official GroupViT evaluation
(NVlabs/GroupViT, segmentation/datasets/coco_object.py, whose names equal Detectron2's builtin COCO
thing names, taken from there). Background (everything that is no thing) is predicted by
thresholding (0.95, segmentation/configs/_base_/datasets/coco.py).

Two label sources, two datasets (`python datasets/prepare_coco_object.py` writes either; see that
script for the rules):
- coco_object_val: the official evaluation's labels, converted from the COCO-Stuff maps; every
  pixel that is no thing, unlabeled and crowd pixels included, is background and nothing is
  ignored. The published COCO-Object numbers were measured on these.
- coco_object_instances_val: labels painted from the instances json, crowd regions ignored (255).
"""

import os

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

from .sem_seg_catalog import register_sem_seg

__all__ = [
    "COCO_THING_IDS",
    "COCO_OBJECT_CLASSES",
    "COCO_DIR",
    "COCO_OBJECT_LABEL_DIRS",
    "register_all_coco_object",
]

_THINGS = [c for c in COCO_CATEGORIES if c["isthing"]]
# COCO category ids of the 80 things, ascending; label value i + 1 is thing i.
COCO_THING_IDS = tuple(c["id"] for c in _THINGS)
COCO_OBJECT_CLASSES = ("background",) + tuple(c["name"] for c in _THINGS)

COCO_DIR = "coco"
# Prepared label folder of each dataset, relative to COCO_DIR.
COCO_OBJECT_LABEL_DIRS = {
    "coco_object_val": os.path.join("coco_object_detectron2", "val2017"),
    "coco_object_instances_val": os.path.join("coco_object_instances_detectron2", "val2017"),
}
_PREPARE_COMMANDS = {
    "coco_object_val": "python datasets/prepare_coco_object.py",
    "coco_object_instances_val": "python datasets/prepare_coco_object.py --source instances",
}


def register_all_coco_object(root, prefix=""):
    """Register coco_object_val and coco_object_instances_val (names preceded by `prefix`)."""
    coco_root = os.path.join(root, COCO_DIR)
    for name, label_dir in COCO_OBJECT_LABEL_DIRS.items():
        register_sem_seg(
            prefix + name,
            os.path.join(coco_root, "val2017"),
            os.path.join(coco_root, label_dir),
            _PREPARE_COMMANDS[name],
            stuff_classes=COCO_OBJECT_CLASSES,
            ignore_label=255,
            background_threshold=0.95,
        )
