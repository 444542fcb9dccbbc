#!/usr/bin/env python
"""Write the Cityscapes train-id labels that `cityscapes_fine_val` reads.

Reads the official download under $DETECTRON2_DATASETS (default ./datasets):
    cityscapes/leftImg8bit/val/<city>/<stem>_leftImg8bit.png      (leftImg8bit_trainvaltest.zip)
    cityscapes/gtFine/val/<city>/<stem>_gtFine_labelIds.png       (gtFine_trainvaltest.zip)
Writes next to each labelIds file:
    cityscapes/gtFine/val/<city>/<stem>_gtFine_labelTrainIds.png  0..18 train ids, 255 ignore
with Cityscapes' own labelId -> trainId table (cityscapesScripts' labels.py), like its
createTrainIdLabelImgs.py does.

Usage: python datasets/prepare_cityscapes.py [--root DIR] [--splits val train]
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
)
from groupvit_d2.data.datasets.register_cityscapes import (
    CITYSCAPES_DIR,
    CITYSCAPES_LABELS,
    IMAGE_SUFFIX,
    TRAIN_IDS_SUFFIX,
)

LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
_IGNORE = 255
_LABEL_ID_TO_TRAIN_ID = lookup_table(
    {label_id: train_id for _, label_id, train_id in CITYSCAPES_LABELS if label_id >= 0},
    256,
    _IGNORE,
    np.uint8,
)
_VALID_LABEL_IDS = {label_id for _, label_id, _ in CITYSCAPES_LABELS if label_id >= 0}


def read_label_ids(path):
    """(H, W) uint8 labelIds of a *_gtFine_labelIds.png."""
    with Image.open(path) as im:
        if im.mode not in ("L", "P"):
            raise ValueError(
                f"{path} is a {im.mode} image; expected the 8-bit single-channel labelIds PNG."
            )
        return np.array(im, dtype=np.uint8)


def convert_label_ids(label_ids):
    """(H, W) uint8 labelIds -> (H, W) uint8 trainIds (255 for ignored ids)."""
    return _LABEL_ID_TO_TRAIN_ID[label_ids]


def main(root, splits=("val",)):
    """Convert the labels of `splits` under `root`; returns the written label paths."""
    written = []
    for split in splits:
        image_dir = require_dir(
            os.path.join(root, CITYSCAPES_DIR, "leftImg8bit", split),
            "the Cityscapes images (leftImg8bit_trainvaltest.zip)",
        )
        gt_dir = require_dir(
            os.path.join(root, CITYSCAPES_DIR, "gtFine", split),
            "the Cityscapes fine labels (gtFine_trainvaltest.zip)",
        )
        count = 0
        for city in sorted(os.listdir(gt_dir)):
            city_dir = os.path.join(gt_dir, city)
            if not os.path.isdir(city_dir):
                continue
            for file in sorted(os.listdir(city_dir)):
                if not file.endswith(LABEL_IDS_SUFFIX):
                    continue
                stem = file[: -len(LABEL_IDS_SUFFIX)]
                label_path = os.path.join(city_dir, file)
                image_path = require_file(
                    os.path.join(image_dir, city, stem + IMAGE_SUFFIX), f"the image of {label_path}"
                )
                label_ids = read_label_ids(label_path)
                check_label_size(label_path, label_ids.shape, image_path)
                check_label_values(label_ids, _VALID_LABEL_IDS, label_path)
                out_path = os.path.join(city_dir, stem + TRAIN_IDS_SUFFIX)
                save_label_png(convert_label_ids(label_ids), out_path)
                written.append(out_path)
                count += 1
        if count == 0:
            raise FileNotFoundError(f"No <city>/*{LABEL_IDS_SUFFIX} files found under {gt_dir}.")
        print(f"Wrote {count} *{TRAIN_IDS_SUFFIX} labels under {gt_dir}.")
    return written


def parse_args():
    parser = prepare_argument_parser(__doc__.split("\n")[0])
    parser.add_argument("--splits", nargs="+", default=["val"], help="gtFine splits to convert")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    main(args.root, args.splits)
