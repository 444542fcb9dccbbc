#!/usr/bin/env python
"""Write the COCO-Stuff-164k val2017 labels (171 classes) that `coco_stuff171_val` reads.

Reads, under $DETECTRON2_DATASETS (default ./datasets):
    coco/val2017/<id>.jpg
    coco/stuffthingmaps/val2017/<id>.png    COCO-Stuff's stuffthingmaps_trainval2017.zip,
                                            extracted: (category id - 1) for the 182 ids, of
                                            which 171 are used, and 255 for unlabeled pixels
Writes:
    coco/stuffthingmaps_detectron2/val2017/<id>.png   0..170 (class order of
                                                      register_coco_stuff.py), 255 ignore
The output folder and ids follow the MaskFormer-family Detectron2 plugins.

Usage: python datasets/prepare_coco_stuff.py [--root DIR]
"""

import os

import numpy as np

from groupvit_d2.data.datasets.coco_stuffthingmaps import iter_stuffthingmaps
from groupvit_d2.data.datasets.label_files import (
    lookup_table,
    prepare_argument_parser,
    save_label_png,
    staged_output_dirs,
)
from groupvit_d2.data.datasets.register_coco_stuff import COCO_STUFF_171_IDS, COCO_STUFF_LABEL_DIR

_IGNORE = 255
_TO_LABEL = lookup_table(
    {cat_id - 1: k for k, cat_id in enumerate(COCO_STUFF_171_IDS)}, 256, _IGNORE, np.uint8
)


def stuffthingmap_to_label(stuffthingmap):
    """(H, W) COCO-Stuff map values (category id - 1, 255 unlabeled) -> (H, W) uint8 0..170/255."""
    return _TO_LABEL[stuffthingmap]


def main(root):
    """Convert val2017 under `root`; returns the list of converted file names."""
    coco_root = os.path.join(root, "coco")
    out_dir = os.path.join(coco_root, COCO_STUFF_LABEL_DIR)
    names = []
    with staged_output_dirs(out_dir) as (staged,):
        for name, stuffthingmap in iter_stuffthingmaps(coco_root):
            save_label_png(
                stuffthingmap_to_label(stuffthingmap), os.path.join(staged, name + ".png")
            )
            names.append(name)
    print(f"Wrote {len(names)} labels to {out_dir}.")
    return names


def parse_args():
    parser = prepare_argument_parser(__doc__.split("\n")[0])
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_args().root)
