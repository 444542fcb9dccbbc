"""ADE20K SceneParsing val (ADEChallengeData2016, 150 classes) for zero-shot semantic segmentation.

There is no background class: annotation value 0 ("other") is ignored, so the model needs no
background threshold.
"""

import os

from .sem_seg_catalog import register_sem_seg

__all__ = ["ADE20K_150_CLASSES", "ADE20K_150_DIR", "register_all_ade20k_150"]

# The class names of mmsegmentation's ADE20KDataset, which GroupViT-style zero-shot evaluations
# (e.g. OVSegmentor, whose settings the thesis reuses) prompt with. Index = annotation value - 1.
# fmt: off
ADE20K_150_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing",
    "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
    "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister",
    "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
)
# fmt: on

ADE20K_150_DIR = "ADEChallengeData2016"
_PREPARE_COMMAND = "python datasets/prepare_ade20k_150.py"


def register_all_ade20k_150(root, prefix=""):
    """Register ade20k_150_val (preceded by `prefix`) under `root`; nothing is read from disk."""
    ade_root = os.path.join(root, ADE20K_150_DIR)
    register_sem_seg(
        prefix + "ade20k_150_val",
        os.path.join(ade_root, "images", "validation"),
        os.path.join(ade_root, "annotations_detectron2", "validation"),
        _PREPARE_COMMAND,
        stuff_classes=ADE20K_150_CLASSES,
        ignore_label=255,
        background_threshold=None,
    )
