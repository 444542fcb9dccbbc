"""The synthetic benchmark written by `python tools/generate_synthetic.py` (under <root>/synthetic).

- synthetic_val: labelled validation images for zero-shot segmentation.
- synthetic_train_seg: the training images with their label maps (oracle / kNN diagnostics).
- synthetic_train_captions: the training images with their captions, as image-text dicts (the
  same pairs as the webdataset shards train/train-*.tar).

Class 0 is a background that the model predicts by thresholding. Like VOC and COCO-Object, the set
is object-centric (a few things on an unlabelled background), so it uses their threshold, 0.95;
the threshold is capped by the image's best group-class score, so objects are never all lost.
The label maps are exact (drawn without antialiasing), hence no ignore pixels; 255 stays the
ignore value of the 8-bit label files.
"""

import json
import os

from detectron2.data import DatasetCatalog, MetadataCatalog

from ..synthetic.categories import CATEGORIES, CATEGORY_NAMES
from .sem_seg_catalog import load_prepared_sem_seg

__all__ = [
    "SYNTHETIC_CLASSES",
    "SYNTHETIC_DIR",
    "register_all_synthetic",
    "load_synthetic_sem_seg",
    "load_synthetic_captions",
]

SYNTHETIC_CLASSES = ("background",) + CATEGORY_NAMES
SYNTHETIC_COLORS = [[0, 0, 0]] + [list(c.colour) for c in CATEGORIES]
SYNTHETIC_DIR = "synthetic"
BACKGROUND_THRESHOLD = 0.95
# name -> (image folder, label folder, annotation file), relative to <root>/synthetic.
_SEM_SEG_SPLITS = {
    "synthetic_val": ("val/images", "val/labels", "annotations/val.json"),
    "synthetic_train_seg": ("train_seg/images", "train_seg/labels", "annotations/train.json"),
}


def _command(folder):
    return f"python tools/generate_synthetic.py --root {folder}"


def _check_generated(folder, name):
    if not os.path.isfile(os.path.join(folder, "meta.json")):
        raise FileNotFoundError(
            f"Dataset '{name}': no synthetic benchmark at {folder} (meta.json is missing). "
            f"Write it with `{_command(folder)}`."
        )


def _annotations(folder, annotation_file):
    path = os.path.join(folder, annotation_file)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return {r["key"]: r for r in json.load(f)}


def load_synthetic_sem_seg(folder, split, name):
    """Sem-seg dicts {"file_name", "sem_seg_file_name", "height", "width"} of one split."""
    _check_generated(folder, name)
    image_dir, label_dir, annotation_file = _SEM_SEG_SPLITS[split]
    dicts = load_prepared_sem_seg(
        name, os.path.join(folder, label_dir), os.path.join(folder, image_dir), _command(folder)
    )
    records = _annotations(folder, annotation_file)
    for d in dicts:
        record = records.get(os.path.splitext(os.path.basename(d["file_name"]))[0])
        if record is not None:
            d["height"], d["width"] = record["height"], record["width"]
    return dicts


def load_synthetic_captions(folder, name):
    """Image-caption dicts {"file_name", "image_id", "height", "width", "captions"} of the train split."""
    _check_generated(folder, name)
    records = _annotations(folder, "annotations/train.json")
    image_root = os.path.join(folder, "train_seg", "images")
    if not records or not os.path.isdir(image_root):
        raise FileNotFoundError(
            f"Dataset '{name}': {image_root} or annotations/train.json is missing under {folder}; "
            f"write them with `{_command(folder)}` (without --no-train-seg)."
        )
    return [
        {
            "file_name": os.path.join(image_root, key + ".jpg"),
            "image_id": int(key),
            "height": r["height"],
            "width": r["width"],
            "captions": [r["caption"]],
        }
        for key, r in sorted(records.items())
    ]


def register_all_synthetic(root, prefix=""):
    """Register the synthetic datasets (names preceded by `prefix`) of <root>/synthetic."""
    folder = os.path.join(root, SYNTHETIC_DIR)
    for split, (image_dir, label_dir, _) in _SEM_SEG_SPLITS.items():
        name = prefix + split
        DatasetCatalog.register(name, lambda s=split, n=name: load_synthetic_sem_seg(folder, s, n))
        MetadataCatalog.get(name).set(
            stuff_classes=list(SYNTHETIC_CLASSES),
            stuff_colors=SYNTHETIC_COLORS,
            ignore_label=255,
            evaluator_type="sem_seg",
            image_root=os.path.join(folder, image_dir),
            sem_seg_root=os.path.join(folder, label_dir),
            background_threshold=BACKGROUND_THRESHOLD,
        )
    name = prefix + "synthetic_train_captions"
    DatasetCatalog.register(name, lambda n=name: load_synthetic_captions(folder, n))
    MetadataCatalog.get(name).set(image_root=os.path.join(folder, "train_seg", "images"))
