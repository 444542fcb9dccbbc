"""PASCAL VOC 2012 val (1449 images) for zero-shot semantic segmentation.

Class names follow the official GroupViT evaluation (NVlabs/GroupViT,
segmentation/datasets/pascal_voc.py): the VOC classes with "table", "plant" and "monitor" in place
of "diningtable", "pottedplant" and "tvmonitor". The official class list gives no synonyms. The
"tcl" prompt protocol prompts with the devkit's names (metadata `prompt_classes`).

- voc21_val: background at 0 plus the 20 classes; the model predicts background by thresholding
  (0.95, segmentation/configs/_base_/datasets/pascal_voc12.py).
- voc20_val: the 20 classes only; background pixels are ignored.
- voc21_train: the 1464 train images (ImageSets/Segmentation/train.txt) with voc21_val's classes,
  for supervised transfer (configs/supervised/groupvit_linear_voc.yaml) and the grouping oracle's
  kNN bank.

Labels are written by `python datasets/prepare_voc.py`.
"""

import os

from .prompt_protocols import renamed
from .sem_seg_catalog import register_sem_seg

__all__ = ["VOC_CLASSES", "VOC_DIR", "VOC_LABEL_DIRS", "register_all_voc"]

VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "table",
    "dog",
    "horse",
    "motorbike",
    "person",
    "plant",
    "sheep",
    "sofa",
    "train",
    "monitor",
)

# The 8-benchmark protocol of later papers prompts with the VOC devkit's own names.
_TCL_RENAMES = {"table": "diningtable", "plant": "pottedplant", "monitor": "tvmonitor"}

VOC_DIR = os.path.join("VOCdevkit", "VOC2012")
# Prepared label folders, relative to VOC_DIR.
VOC_LABEL_DIRS = {
    "voc21_val": os.path.join("annotations_detectron2", "voc21_val"),
    "voc20_val": os.path.join("annotations_detectron2", "voc20_val"),
    "voc21_train": os.path.join("annotations_detectron2", "voc21_train"),
}
_PREPARE_COMMAND = "python datasets/prepare_voc.py"


def register_all_voc(root, prefix=""):
    """Register voc21_val, voc20_val and voc21_train (each name preceded by `prefix`) under `root`."""
    voc_root = os.path.join(root, VOC_DIR)
    image_root = os.path.join(voc_root, "JPEGImages")
    for name in ("voc21_val", "voc21_train"):
        register_sem_seg(
            prefix + name,
            image_root,
            os.path.join(voc_root, VOC_LABEL_DIRS[name]),
            _PREPARE_COMMAND,
            stuff_classes=("background",) + VOC_CLASSES,
            ignore_label=255,
            background_threshold=0.95,
            prompt_classes={"tcl": list(renamed(("background",) + VOC_CLASSES, _TCL_RENAMES))},
        )
    register_sem_seg(
        prefix + "voc20_val",
        image_root,
        os.path.join(voc_root, VOC_LABEL_DIRS["voc20_val"]),
        _PREPARE_COMMAND,
        stuff_classes=VOC_CLASSES,
        ignore_label=255,
        background_threshold=None,
        prompt_classes={"tcl": list(renamed(VOC_CLASSES, _TCL_RENAMES))},
    )
