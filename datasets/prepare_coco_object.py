#!/usr/bin/env python
"""Write the COCO-Object val2017 labels of `coco_object_val` (or `coco_object_instances_val`).

Reads, under $DETECTRON2_DATASETS (default ./datasets):
    coco/val2017/<id>.jpg
    coco/stuffthingmaps/val2017/<id>.png               --source stuffthingmaps (default):
                                                       COCO-Stuff's
                                                       stuffthingmaps_trainval2017.zip, extracted
    coco/annotations/instances_val2017.json            --source instances
Writes:
    coco/coco_object_detectron2/val2017/<id>.png             (stuffthingmaps) 0 background,
                                                             1..80 things, nothing ignored
    coco/coco_object_instances_detectron2/val2017/<id>.png   (instances) 0 background,
                                                             1..80 things, 255 crowd regions

--source stuffthingmaps follows the conversion of the official GroupViT evaluation
(NVlabs/GroupViT convert_dataset/convert_coco_object.py), which the published COCO-Object numbers
were measured with: the maps hold (category id - 1); the 80 things become 1..80 and every other
value, the stuff classes and the unlabeled 255 alike, becomes 0 (background). Nothing is ignored.
COCO-Stuff's API paints only the non-crowd instances (by default), so a crowd region is background
there unless a stuff class covers it.

--source instances paints each image's instance masks (pycocotools annToMask) in the order the
json lists them, a later instance over an earlier one where they overlap, the convention of the
COCO-Stuff API (cocoSegmentationToSegmentationMap). Crowd regions are painted 255 (ignore) first,
so instances inside them keep their class: a crowd mask covers many objects and the background
between them only coarsely, so it can be scored neither as background nor as its class. Its
dataset is `coco_object_instances_val`; its numbers do not compare with published ones.

Usage: python datasets/prepare_coco_object.py [--root DIR] [--source {stuffthingmaps,instances}]
"""

import os

import numpy as np
from pycocotools.coco import COCO

from groupvit_d2.data.datasets.coco_stuffthingmaps import iter_stuffthingmaps
from groupvit_d2.data.datasets.label_files import (
    prepare_argument_parser,
    check_label_size,
    lookup_table,
    require_dir,
    require_file,
    save_label_png,
    staged_output_dirs,
)
from groupvit_d2.data.datasets.register_coco_object import (
    COCO_DIR,
    COCO_OBJECT_CLASSES,
    COCO_OBJECT_LABEL_DIRS,
    COCO_THING_IDS,
)

_IGNORE = 255
# COCO category id -> label value.
_THING_TO_LABEL = {cat_id: k + 1 for k, cat_id in enumerate(COCO_THING_IDS)}
# COCO-Stuff maps hold (category id - 1); stuff and unlabeled (255) pixels become background.
_STUFFTHINGMAP_TO_LABEL = lookup_table(
    {cat_id - 1: v for cat_id, v in _THING_TO_LABEL.items()}, 256, 0, np.uint8
)


def check_categories(coco, json_path):
    """Raise ValueError when the json's categories are not the 80 COCO things (ids and names)."""
    found = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    expected = dict(zip(COCO_THING_IDS, COCO_OBJECT_CLASSES[1:]))
    if found != expected:
        diff = sorted(i for i in set(found) | set(expected) if found.get(i) != expected.get(i))
        shown = ", ".join(f"{i}: {found.get(i)!r} vs {expected.get(i)!r}" for i in diff[:5])
        raise ValueError(
            f"{json_path}: categories differ from the 80 COCO thing classes at {len(diff)} id(s) "
            f"(json vs expected): {shown}."
        )


def instances_to_label(coco, image_id):
    """
    Paint one image's instances.

    Args:
        coco (pycocotools.coco.COCO): the loaded instances json.
        image_id (int): a COCO image id.

    Returns:
        np.ndarray: (H, W) uint8, 0 background, 1..80 things, 255 crowd regions no instance covers.
    """
    info = coco.imgs[image_id]
    label = np.zeros((info["height"], info["width"]), dtype=np.uint8)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
    for ann in anns:
        if ann.get("iscrowd", 0):
            label[coco.annToMask(ann) > 0] = _IGNORE
    for ann in anns:
        if ann.get("iscrowd", 0):
            continue
        if ann["category_id"] not in _THING_TO_LABEL:
            raise ValueError(
                f"Annotation {ann.get('id')} of image {image_id} has category_id "
                f"{ann['category_id']}, which is not one of the 80 COCO things."
            )
        label[coco.annToMask(ann) > 0] = _THING_TO_LABEL[ann["category_id"]]
    return label


def stuffthingmap_to_label(stuffthingmap):
    """(H, W) COCO-Stuff map values (category id - 1, 255 unlabeled) -> (H, W) uint8 labels."""
    return _STUFFTHINGMAP_TO_LABEL[stuffthingmap]


def _from_instances(coco_root, out_dir):
    image_dir = require_dir(
        os.path.join(coco_root, "val2017"), "the COCO val2017 images (val2017.zip)"
    )
    json_path = require_file(
        os.path.join(coco_root, "annotations", "instances_val2017.json"),
        "the COCO instances annotations (annotations_trainval2017.zip)",
    )
    coco = COCO(json_path)
    check_categories(coco, json_path)
    names = []
    for image_id in sorted(coco.getImgIds()):
        info = coco.imgs[image_id]
        image_path = require_file(
            os.path.join(image_dir, info["file_name"]), f"the image of {json_path} id {image_id}"
        )
        check_label_size(
            f"{json_path} (image id {image_id})", (info["height"], info["width"]), image_path
        )
        name = os.path.splitext(info["file_name"])[0]
        save_label_png(instances_to_label(coco, image_id), os.path.join(out_dir, name + ".png"))
        names.append(name)
    return names


def _from_stuffthingmaps(coco_root, out_dir):
    names = []
    for name, stuffthingmap in iter_stuffthingmaps(coco_root):
        save_label_png(stuffthingmap_to_label(stuffthingmap), os.path.join(out_dir, name + ".png"))
        names.append(name)
    return names


# source -> (converter, the dataset that reads its labels)
_SOURCES = {
    "stuffthingmaps": (_from_stuffthingmaps, "coco_object_val"),
    "instances": (_from_instances, "coco_object_instances_val"),
}


def main(root, source="stuffthingmaps"):
    """Convert val2017 under `root` from `source`; returns the list of converted file names."""
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {sorted(_SOURCES)}, got {source!r}")
    converter, dataset_name = _SOURCES[source]
    coco_root = os.path.join(root, COCO_DIR)
    out_dir = os.path.join(coco_root, COCO_OBJECT_LABEL_DIRS[dataset_name])
    with staged_output_dirs(out_dir) as (staged,):
        names = converter(coco_root, staged)
    print(f"Wrote {len(names)} labels (from {source}) of {dataset_name} to {out_dir}.")
    return names


def parse_args():
    parser = prepare_argument_parser(__doc__.split("\n")[0])
    parser.add_argument(
        "--source",
        choices=tuple(_SOURCES),
        default="stuffthingmaps",
        help="build coco_object_val from the COCO-Stuff maps as the official GroupViT evaluation "
        "does (default), or coco_object_instances_val from the instances json",
    )
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    main(args.root, source=args.source)
