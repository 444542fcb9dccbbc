#!/usr/bin/env python
"""Write the ADE20K-150 train-id labels that `ade20k_150_val` reads.

Reads the official SceneParsing download (ADEChallengeData2016.zip) under $DETECTRON2_DATASETS
(default ./datasets):
    ADEChallengeData2016/images/validation/ADE_val_<n>.jpg
    ADEChallengeData2016/annotations/validation/ADE_val_<n>.png   0 other, 1..150 classes
Writes, as Mask2Former's prepare_ade20k_sem_seg.py does:
    ADEChallengeData2016/annotations_detectron2/validation/ADE_val_<n>.png   0..149, 255 ignore

Usage: python datasets/prepare_ade20k_150.py [--root DIR] [--splits validation training]
"""

import os

import numpy as np
from PIL import Image

from groupvit_d2.data.datasets.label_files import (
    prepare_argument_parser,
    check_label_size,
    check_label_values,
    lookup_table,
    require_dir,
    require_file,
    save_label_png,
    staged_output_dirs,
)
from groupvit_d2.data.datasets.register_ade20k_150 import ADE20K_150_CLASSES, ADE20K_150_DIR

_IGNORE = 255
_NUM_CLASSES = len(ADE20K_150_CLASSES)
# 0 ("other") becomes ignore; the classes move down by one.
_TO_TRAIN_ID = lookup_table({k: k - 1 for k in range(1, _NUM_CLASSES + 1)}, 256, _IGNORE, np.uint8)
_VALID_VALUES = set(range(_NUM_CLASSES + 1))


def read_ade_label(path):
    """(H, W) uint8 values of an ADEChallengeData2016 annotation PNG."""
    with Image.open(path) as im:
        if im.mode not in ("L", "P"):
            raise ValueError(
                f"{path} is a {im.mode} image; expected the 8-bit single-channel annotation PNG."
            )
        return np.array(im, dtype=np.uint8)


def convert_ade_label(label):
    """(H, W) uint8 annotation (0 other, 1..150) -> (H, W) uint8 train ids (0..149, 255)."""
    return _TO_TRAIN_ID[label]


def main(root, splits=("validation",)):
    """Convert `splits` under `root`; returns the converted file names."""
    ade_root = os.path.join(root, ADE20K_150_DIR)
    converted = []
    for split in splits:
        image_dir = require_dir(
            os.path.join(ade_root, "images", split), "the ADE20K images (ADEChallengeData2016.zip)"
        )
        label_dir = require_dir(
            os.path.join(ade_root, "annotations", split),
            "the ADE20K annotations (ADEChallengeData2016.zip)",
        )
        files = sorted(f for f in os.listdir(label_dir) if f.endswith(".png"))
        if not files:
            raise FileNotFoundError(f"No *.png annotations found in {label_dir}.")
        out_dir = os.path.join(ade_root, "annotations_detectron2", split)
        with staged_output_dirs(out_dir) as (staging,):
            for file in files:
                label_path = os.path.join(label_dir, file)
                image_path = require_file(
                    os.path.join(image_dir, os.path.splitext(file)[0] + ".jpg"),
                    f"the image of {label_path}",
                )
                label = read_ade_label(label_path)
                check_label_size(label_path, label.shape, image_path)
                check_label_values(label, _VALID_VALUES, label_path)
                save_label_png(convert_ade_label(label), os.path.join(staging, file))
        print(f"Wrote {len(files)} labels to {out_dir}.")
        converted += files
    return converted


def parse_args():
    parser = prepare_argument_parser(__doc__.split("\n")[0])
    parser.add_argument("--splits", nargs="+", default=["validation"])
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    main(args.root, args.splits)
