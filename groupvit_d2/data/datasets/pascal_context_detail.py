"""PASCAL-Context 59-class masks as the official evaluations make them: `SegmentationClassContext`.

mmsegmentation's `tools/convert_datasets/pascal_context.py` (used by the official GroupViT
evaluation and by SAN) writes `VOC2010/SegmentationClassContext/<id>.png` from the PASCAL in Detail
annotations `trainval_merged.json` through the Detail API: each image's semantic mask is its
segmentation annotations painted in the json's order, a later one over an earlier one, with their
category id (the 459-class id); the ids are then indexed into (0, the 59 ids ascending), so the
PNGs hold 0 for background and k for the k-th of the 59 classes. Masks made from the raw
`trainval/<id>.mat` files are reported to differ from these.

The Detail API is not needed: the json is read directly and its run-length encoded masks are
decoded with pycocotools (the Detail API's mask code is a copy of COCO's).
"""

import json
import os

import numpy as np
import pycocotools.mask as mask_util

from .label_files import check_label_size, require_file, save_label_png
from .register_pascal_context import PASCAL_CONTEXT_59_IDS, PASCAL_CONTEXT_459_CLASSES

__all__ = [
    "SEGMENTATION_CLASS_CONTEXT_DIR",
    "CONTEXT_59_INDEX",
    "DetailAnnotations",
    "write_segmentation_class_context",
]

SEGMENTATION_CLASS_CONTEXT_DIR = "SegmentationClassContext"
# 459-class id -> SegmentationClassContext value: 0 for unlabeled and the 400 other classes
# (mmsegmentation's converter stops on those; the 60-class benchmark counts them as background).
CONTEXT_59_INDEX = np.zeros(len(PASCAL_CONTEXT_459_CLASSES) + 1, dtype=np.uint8)
CONTEXT_59_INDEX[list(PASCAL_CONTEXT_59_IDS)] = np.arange(1, len(PASCAL_CONTEXT_59_IDS) + 1)


class DetailAnnotations:
    """The images and semantic segmentations of a PASCAL in Detail json (trainval_merged.json).

    Args:
        path (str): the json file; it must hold "images" (image_id, file_name, height, width,
            phase) and "annos_segmentation" (image_id, category_id, segmentation as COCO RLE).
    """

    def __init__(self, path):
        self.path = require_file(path, "PASCAL in Detail's trainval_merged.json")
        with open(path) as f:
            data = json.load(f)
        missing = [k for k in ("images", "annos_segmentation") if not isinstance(data, dict) or k not in data]
        if missing:
            raise ValueError(f"{path} is not a PASCAL in Detail annotation file: it has no {missing}.")
        self.images = {}
        for image in data["images"]:
            keys = ("image_id", "file_name", "height", "width", "phase")
            if not all(k in image for k in keys):
                raise ValueError(f"{path}: an entry of 'images' lacks one of {keys}: {sorted(image)}")
            self.images[os.path.splitext(image["file_name"])[0]] = image
        by_image_id = {image["image_id"]: name for name, image in self.images.items()}
        # Json order within each image: the Detail API paints in that order.
        self.segmentations = {name: [] for name in self.images}
        for ann in data["annos_segmentation"]:
            if ann.get("image_id") not in by_image_id:
                raise ValueError(f"{path}: segmentation {ann.get('id')} names unknown image_id {ann.get('image_id')}.")
            self.segmentations[by_image_id[ann["image_id"]]].append(ann)

    def names(self, phase):
        """File names (no extension) of the images of `phase` ("train" or "val"), sorted."""
        return sorted(n for n, image in self.images.items() if image["phase"] == phase)

    def label_map(self, name):
        """(H, W) int64 459-class ids of image `name` (0 where no annotation paints), the Detail
        API's `getMask(img)`."""
        image = self.images[name]
        height, width = int(image["height"]), int(image["width"])
        label = np.zeros((height, width), dtype=np.int64)
        for ann in self.segmentations[name]:
            category = int(ann["category_id"])
            if not 0 < category < len(CONTEXT_59_INDEX):
                raise ValueError(
                    f"{self.path}: segmentation {ann.get('id')} of {name} has category_id {category}; "
                    f"expected a PASCAL-Context class id in 1..{len(CONTEXT_59_INDEX) - 1}."
                )
            mask = _decode(ann["segmentation"], height, width, f"{self.path} (segmentation {ann.get('id')})")
            label[mask != 0] = category
        return label


def _decode(segmentation, height, width, source):
    if not isinstance(segmentation, dict) or "counts" not in segmentation:
        raise ValueError(f"{source}: expected a run-length encoded mask (a dict with 'size' and 'counts').")
    if isinstance(segmentation["counts"], list):
        segmentation = mask_util.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation["counts"], str):
        segmentation = dict(segmentation, counts=segmentation["counts"].encode("ascii"))
    mask = mask_util.decode(segmentation)
    if mask.shape != (height, width):
        raise ValueError(f"{source}: the mask is {mask.shape[0]}x{mask.shape[1]}, the image {height}x{width}.")
    return mask


def write_segmentation_class_context(annotations, image_dir, out_dir, phases=("train", "val")):
    """Write <out_dir>/<name>.png (0 background, 1..59) for every image of `phases`.

    Args:
        annotations (DetailAnnotations): the loaded json.
        image_dir (str): VOC2010/JPEGImages, to check each mask's size against its image.
        out_dir (str): the folder to write into.

    Returns:
        dict[str, list[str]]: the names written, per phase.
    """
    written = {}
    for phase in phases:
        written[phase] = annotations.names(phase)
        for name in written[phase]:
            image_path = require_file(
                os.path.join(image_dir, annotations.images[name]["file_name"]),
                f"the image of {annotations.path} entry {name}",
            )
            label = CONTEXT_59_INDEX[annotations.label_map(name)]
            check_label_size(f"{annotations.path} (image {name})", label.shape, image_path)
            save_label_png(label, os.path.join(out_dir, name + ".png"))
    return written
