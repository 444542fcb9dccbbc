#!/usr/bin/env python
"""Write the ADE20K-847 images and 16-bit train-id labels that `ade20k_847_val` reads.

Reads the official ADE20K full download (ADE20K_2021_17_01.zip) under $DETECTRON2_DATASETS
(default ./datasets):
    ADE20K_2021_17_01/images/ADE/validation/<scene folders>/ADE_val_<n>.jpg
    ADE20K_2021_17_01/images/ADE/validation/<scene folders>/ADE_val_<n>_seg.png
        class index of a pixel = R // 10 * 256 + G
Writes the layout of the open-vocabulary "ade20k_full_sem_seg_val" benchmark (MaskFormer, SAN,
ODISE, CAT-Seg), with PNG labels instead of TIFF:
    ADE20K_2021_17_01/images_detectron2/validation/ADE_val_<n>.jpg
    ADE20K_2021_17_01/annotations_detectron2/validation/ADE_val_<n>.png   0..846, 65535 ignore
Like those, an image whose short side exceeds 512 is resized to a short side of 512 (image
bilinear, label nearest) and images are re-encoded with Pillow's default JPEG settings, so that
results compare with the published ADE-847 numbers; --max-short-side 0 keeps the original size.

The files are found by walking the folders: index_ade20k.pkl is not read (unpickling a
downloaded file can run code), and the class list is ADE20K_847_CATEGORIES in
groupvit_d2/data/datasets/register_ade20k_847.py.

Usage: python datasets/prepare_ade20k_847.py [--root DIR] [--max-short-side 512]
"""

import os

import cv2
import numpy as np
from PIL import Image

from groupvit_d2.data.datasets.label_files import (
    prepare_argument_parser,
    check_label_size,
    lookup_table,
    require_dir,
    require_file,
    save_label_png,
    staged_output_dirs,
)
from groupvit_d2.data.datasets.register_ade20k_847 import ADE20K_847_CATEGORIES, ADE20K_847_DIR

_IGNORE = 65535
# The largest class index an RGB mask can encode is 255 // 10 * 256 + 255.
_TO_TRAIN_ID = lookup_table(
    {class_index: train_id for train_id, (class_index, _) in enumerate(ADE20K_847_CATEGORIES)},
    65536,
    _IGNORE,
    np.uint16,
)
_SPLIT_PREFIX = {"validation": "ADE_val_", "training": "ADE_train_"}


def read_class_mask(seg_path):
    """(H, W) int64 class indices of an ADE20K *_seg.png (R // 10 * 256 + G)."""
    with Image.open(seg_path) as im:
        if im.mode != "RGB":
            raise ValueError(
                f"{seg_path} is a {im.mode} image; expected the RGB *_seg.png of ADE20K full, "
                "whose R and G channels encode the class index."
            )
        seg = np.array(im, dtype=np.int64)
    return seg[:, :, 0] // 10 * 256 + seg[:, :, 1]


def convert_class_mask(class_mask):
    """(H, W) class indices -> (H, W) uint16 train ids (0..846, 65535 for the other classes)."""
    return _TO_TRAIN_ID[class_mask]


def resized_shape(height, width, max_short_side):
    """(height, width) after shrinking the short side to `max_short_side` (MaskFormer's rule)."""
    if not max_short_side:
        return height, width
    if width >= height > max_short_side:
        return max_short_side, round(width / float(height) * max_short_side)
    if height >= width > max_short_side:
        return round(height / float(width) * max_short_side), max_short_side
    return height, width


def read_image(path):
    """The image as a uint8 array, grey or RGB (other modes converted to RGB)."""
    with Image.open(path) as im:
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        return np.array(im)


def find_images(image_root, prefix):
    """Sorted {file name: path} of `prefix`*.jpg anywhere under `image_root`."""
    found = {}
    for folder, _, files in os.walk(image_root):
        for file in files:
            if file.startswith(prefix) and file.endswith(".jpg"):
                path = os.path.join(folder, file)
                if file in found:
                    raise ValueError(f"Two images named {file}: {found[file]} and {path}.")
                found[file] = path
    return dict(sorted(found.items()))


def main(root, splits=("validation",), max_short_side=512):
    """Convert `splits` under `root`; returns the converted image file names."""
    ade_root = os.path.join(root, ADE20K_847_DIR)
    converted = []
    for split in splits:
        image_root = require_dir(
            os.path.join(ade_root, "images", "ADE", split),
            "the ADE20K full images and *_seg.png masks (ADE20K_2021_17_01.zip)",
        )
        images = find_images(image_root, _SPLIT_PREFIX[split])
        if not images:
            raise FileNotFoundError(
                f"No {_SPLIT_PREFIX[split]}*.jpg images found under {image_root}."
            )
        out_dirs = [
            os.path.join(ade_root, "images_detectron2", split),
            os.path.join(ade_root, "annotations_detectron2", split),
        ]
        with staged_output_dirs(*out_dirs) as (image_out, label_out):
            for file, image_path in images.items():
                stem = os.path.splitext(file)[0]
                seg_path = require_file(
                    os.path.join(os.path.dirname(image_path), stem + "_seg.png"),
                    f"the class mask of {image_path}",
                )
                class_mask = read_class_mask(seg_path)
                check_label_size(seg_path, class_mask.shape, image_path)
                label = convert_class_mask(class_mask)
                image = read_image(image_path)

                height, width = label.shape
                new_h, new_w = resized_shape(height, width, max_short_side)
                if (new_h, new_w) != (height, width):
                    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
                    label = cv2.resize(label, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
                Image.fromarray(image).save(os.path.join(image_out, file))
                save_label_png(label, os.path.join(label_out, stem + ".png"))
        print(f"Wrote {len(images)} images and labels to {out_dirs[0]} and {out_dirs[1]}.")
        converted += list(images)
    return converted


def parse_args():
    parser = prepare_argument_parser(__doc__.split("\n")[0])
    parser.add_argument(
        "--splits", nargs="+", default=["validation"], choices=sorted(_SPLIT_PREFIX)
    )
    parser.add_argument(
        "--max-short-side",
        type=int,
        default=512,
        help="shrink images whose short side exceeds this (0: keep sizes); 512 is the benchmark's",
    )
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    main(args.root, args.splits, args.max_short_side)
