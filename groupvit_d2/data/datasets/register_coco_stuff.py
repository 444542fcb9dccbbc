"""COCO-Stuff-164k val2017 (5000 images, 171 classes) for zero-shot semantic segmentation.

The 80 things (Detectron2's builtin COCO names) followed by the 91 stuff classes of COCO-Stuff,
ids 92..182, named as in Mask2Former's COCO_CATEGORIES (mask2former/data/datasets/
register_coco_stuff_10k.py). No background class: unlabeled pixels are ignored.

Labels are written by `python datasets/prepare_coco_stuff.py`, into the folder MaskFormer-family
plugins use (coco/stuffthingmaps_detectron2/val2017: ids 0..170, 255 ignore).
"""

import os

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

from .sem_seg_catalog import register_sem_seg

__all__ = [
    "COCO_STUFF_171_IDS",
    "COCO_STUFF_171_CLASSES",
    "COCO_STUFF_LABEL_DIR",
    "register_all_coco_stuff",
]

# COCO-Stuff category ids 92..182, in order.
# fmt: off
_STUFF_NAMES = (
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage",
    "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds",
    "counter", "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble",
    "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower", "fog", "food-other",
    "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves",
    "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing",
    "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf",
    "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)
# fmt: on
_THINGS = [c for c in COCO_CATEGORIES if c["isthing"]]
# COCO category ids of the 171 classes, ascending; label value i is class i.
COCO_STUFF_171_IDS = tuple(c["id"] for c in _THINGS) + tuple(range(92, 92 + len(_STUFF_NAMES)))
COCO_STUFF_171_CLASSES = tuple(c["name"] for c in _THINGS) + _STUFF_NAMES

# Prepared label folder, relative to the "coco" folder.
COCO_STUFF_LABEL_DIR = os.path.join("stuffthingmaps_detectron2", "val2017")
_PREPARE_COMMAND = "python datasets/prepare_coco_stuff.py"


def register_all_coco_stuff(root, prefix=""):
    """Register coco_stuff171_val (its name preceded by `prefix`) under `root`."""
    coco_root = os.path.join(root, "coco")
    register_sem_seg(
        prefix + "coco_stuff171_val",
        os.path.join(coco_root, "val2017"),
        os.path.join(coco_root, COCO_STUFF_LABEL_DIR),
        _PREPARE_COMMAND,
        stuff_classes=COCO_STUFF_171_CLASSES,
        ignore_label=255,
        background_threshold=None,
    )
