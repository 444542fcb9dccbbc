#!/usr/bin/env python
"""Write the PASCAL VOC 2012 labels that `voc21_val`, `voc20_val` and `voc21_train` read.

Reads the official VOC2012 trainval download under $DETECTRON2_DATASETS (default ./datasets):
    VOCdevkit/VOC2012/JPEGImages/<id>.jpg
    VOCdevkit/VOC2012/SegmentationClass/<id>.png   palette PNG: index = class (0 background,
                                                   1..20 classes, 255 object boundary)
    VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt (and train.txt, when present)
Writes, for the 1449 val images:
    VOCdevkit/VOC2012/annotations_detectron2/voc21_val/<id>.png   0 background, 1..20, 255 ignore
    VOCdevkit/VOC2012/annotations_detectron2/voc20_val/<id>.png   0..19, 255 ignore (background too)
and, for the 1464 train images of train.txt (supervised transfer):
    VOCdevkit/VOC2012/annotations_detectron2/voc21_train/<id>.png

Usage: python datasets/prepare_voc.py [--root DIR]
"""

import os

import numpy as np
from PIL import Image

from groupvit_d2.data.datasets.label_files import (
    prepare_argument_parser,
    check_label_size,
    check_label_values,
    lookup_table,
    read_split_file,
    require_dir,
    require_file,
    save_label_png,
    staged_output_dirs,
)
from groupvit_d2.data.datasets.register_voc import VOC_CLASSES, VOC_DIR, VOC_LABEL_DIRS

_IGNORE = 255
_VALID_VALUES = set(range(len(VOC_CLASSES) + 1)) | {_IGNORE}
# voc20: background becomes ignore and the 20 classes move down by one.
_TO_VOC20 = lookup_table({k: k - 1 for k in range(1, len(VOC_CLASSES) + 1)}, 256, _IGNORE, np.uint8)


def read_voc_label(path):
    """(H, W) uint8 class indices of a SegmentationClass PNG."""
    with Image.open(path) as im:
        if im.mode not in ("P", "L"):
            raise ValueError(
                f"{path} is a {im.mode} image; expected the palette PNG of "
                "SegmentationClass, whose pixel indices are the class ids."
            )
        return np.array(im, dtype=np.uint8)


def convert_voc_label(label):
    """
    Args:
        label (np.ndarray): (H, W) uint8 VOC indices: 0 background, 1..20 classes, 255 boundary.

    Returns:
        tuple[np.ndarray, np.ndarray]: (H, W) uint8 voc21 and voc20 train ids.
    """
    return label.copy(), _TO_VOC20[label]


def main(root):
    """Convert the val split under `root`; returns the list of converted image ids."""
    voc_root = os.path.join(root, VOC_DIR)
    image_dir = require_dir(
        os.path.join(voc_root, "JPEGImages"), "the VOC2012 images (VOCtrainval_11-May-2012.tar)"
    )
    label_dir = require_dir(
        os.path.join(voc_root, "SegmentationClass"),
        "the VOC2012 class segmentation PNGs (VOCtrainval_11-May-2012.tar)",
    )
    split = require_file(
        os.path.join(voc_root, "ImageSets", "Segmentation", "val.txt"),
        "the VOC2012 segmentation val split (VOCtrainval_11-May-2012.tar)",
    )
    ids = read_split_file(split)
    out_dirs = [os.path.join(voc_root, VOC_LABEL_DIRS[n]) for n in ("voc21_val", "voc20_val")]
    with staged_output_dirs(*out_dirs) as (out21, out20):
        for image_id in ids:
            image_path = require_file(
                os.path.join(image_dir, image_id + ".jpg"), f"the image of {split} entry {image_id}"
            )
            label_path = require_file(
                os.path.join(label_dir, image_id + ".png"), f"the label of {split} entry {image_id}"
            )
            label = read_voc_label(label_path)
            check_label_size(label_path, label.shape, image_path)
            check_label_values(label, _VALID_VALUES, label_path)
            voc21, voc20 = convert_voc_label(label)
            save_label_png(voc21, os.path.join(out21, image_id + ".png"))
            save_label_png(voc20, os.path.join(out20, image_id + ".png"))
    print(f"Wrote {len(ids)} labels to each of {out_dirs[0]} and {out_dirs[1]}.")
    train_split = os.path.join(voc_root, "ImageSets", "Segmentation", "train.txt")
    if os.path.isfile(train_split):
        out_dir = os.path.join(voc_root, VOC_LABEL_DIRS["voc21_train"])
        _convert_train(train_split, image_dir, label_dir, out_dir)
    return ids


def _convert_train(split, image_dir, label_dir, out_dir):
    """Write voc21 labels (unchanged VOC indices) for the ids of the train split."""
    ids = read_split_file(split)
    with staged_output_dirs(out_dir) as (out21,):
        for image_id in ids:
            image_path = require_file(
                os.path.join(image_dir, image_id + ".jpg"), f"the image of {split} entry {image_id}"
            )
            label_path = require_file(
                os.path.join(label_dir, image_id + ".png"), f"the label of {split} entry {image_id}"
            )
            label = read_voc_label(label_path)
            check_label_size(label_path, label.shape, image_path)
            check_label_values(label, _VALID_VALUES, label_path)
            save_label_png(label, os.path.join(out21, image_id + ".png"))
    print(f"Wrote {len(ids)} train labels to {out_dir}.")


def parse_args():
    parser = prepare_argument_parser(__doc__.split("\n")[0])
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_args().root)
