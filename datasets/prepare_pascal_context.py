#!/usr/bin/env python
"""Write the PASCAL-Context val labels read by `context60_val`, `context59_val`, `context459_val`.

Reads, under $DETECTRON2_DATASETS (default ./datasets):
    VOCdevkit/VOC2010/JPEGImages/<id>.jpg           VOC2010 trainval images
    VOCdevkit/VOC2010/ImageSets/SegmentationContext/val.txt
                                                    the 5105 val ids (--split to use another
                                                    list, e.g. ImageSets/Main/val.txt); written
                                                    from the json when missing (--source json)
  and, for Context-60/59 (--source, default "auto": the first of these that exists):
    VOCdevkit/VOC2010/SegmentationClassContext/<id>.png
                                                    "context": mmsegmentation's masks (0
                                                    background, 1..59), as the official
                                                    GroupViT evaluation reads them
    VOCdevkit/VOC2010/trainval_merged.json          "json": PASCAL in Detail annotations; the
                                                    masks above are written from it first, as
                                                    mmsegmentation's converter does
    VOCdevkit/VOC2010/trainval/<id>.mat             "mat": PASCAL-Context trainval.tar.gz:
                                                    'LabelMap' (H, W) uint16, ids 1..459,
                                                    0 = unlabeled
  and, for Context-459, always the .mat files (skipped, with a note, when trainval/ is missing
  and Context-60/59 come from another source);
    VOCdevkit/VOC2010/labels.txt                    optional ("id: name" for the 459 classes);
                                                    checked against the built-in class list
Writes:
    VOCdevkit/VOC2010/SegmentationClassContext/<id>.png                (--source json, train and
                                                                      val, when missing)
    VOCdevkit/VOC2010/annotations_detectron2/context60_val/<id>.png   0 background, 1..59
    VOCdevkit/VOC2010/annotations_detectron2/context59_val/<id>.png   0..58, 255 ignore
    VOCdevkit/VOC2010/annotations_detectron2/context459_val/<id>.png  16-bit: 0..458,
                                                                      65535 ignore
"Background" in context60 is every pixel outside the 59 classes: unlabeled pixels and the
other 400 classes, as in mmsegmentation's and the official GroupViT's evaluation. The published
Context numbers were measured on the SegmentationClassContext masks; labels from the .mat files
are not the same pixels everywhere.

Usage: python datasets/prepare_pascal_context.py [--root DIR] [--source {auto,context,json,mat}]
           [--split FILE] [--mat-dir DIR] [--json FILE] [--labels FILE]
"""

import os

import numpy as np
import scipy.io
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
from groupvit_d2.data.datasets.pascal_context_detail import (
    SEGMENTATION_CLASS_CONTEXT_DIR,
    DetailAnnotations,
    write_segmentation_class_context,
)
from groupvit_d2.data.datasets.register_pascal_context import (
    PASCAL_CONTEXT_59_IDS,
    PASCAL_CONTEXT_459_CLASSES,
    PASCAL_CONTEXT_DIR,
    PASCAL_CONTEXT_LABEL_DIRS,
)

_NUM_IDS = len(PASCAL_CONTEXT_459_CLASSES) + 1  # 0 (unlabeled) .. 459
_TO_CONTEXT60 = lookup_table(
    {i: k + 1 for k, i in enumerate(PASCAL_CONTEXT_59_IDS)}, _NUM_IDS, 0, np.uint8
)
_TO_CONTEXT59 = lookup_table(
    {i: k for k, i in enumerate(PASCAL_CONTEXT_59_IDS)}, _NUM_IDS, 255, np.uint8
)
_TO_CONTEXT459 = lookup_table({i: i - 1 for i in range(1, _NUM_IDS)}, _NUM_IDS, 65535, np.uint16)
_SPLIT = os.path.join("ImageSets", "SegmentationContext", "val.txt")
_JSON = "trainval_merged.json"
SOURCES = ("auto", "context", "json", "mat")


def read_label_map(path):
    """(H, W) int64 459-class ids of a PASCAL-Context .mat file."""
    mat = scipy.io.loadmat(path)
    if "LabelMap" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise KeyError(f"{path} has no 'LabelMap' array (it holds {keys}).")
    label = np.asarray(mat["LabelMap"])
    if label.ndim != 2:
        raise ValueError(f"{path}: 'LabelMap' has shape {label.shape}; expected (H, W).")
    return label.astype(np.int64)


def convert_context_label(label_map):
    """
    Args:
        label_map (np.ndarray): (H, W) integer 459-class ids, 0 = unlabeled.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: (H, W) context60 (uint8), context59 (uint8)
        and context459 (uint16) train ids.
    """
    return _TO_CONTEXT60[label_map], _TO_CONTEXT59[label_map], _TO_CONTEXT459[label_map]


def context_masks_to_labels(mask):
    """
    Args:
        mask (np.ndarray): (H, W) SegmentationClassContext values, 0 background, 1..59.

    Returns:
        tuple[np.ndarray, np.ndarray]: (H, W) context60 and context59 (uint8) train ids.
    """
    mask = mask.astype(np.uint8)
    return mask, np.where(mask == 0, 255, mask - 1).astype(np.uint8)


def read_context_mask(path):
    """(H, W) uint8 values of a SegmentationClassContext PNG."""
    with Image.open(path) as im:
        mask = np.array(im)
    if mask.ndim != 2:
        raise ValueError(f"{path} has shape {mask.shape}; expected (H, W) class indices.")
    return mask


def check_labels_txt(path):
    """Raise ValueError when a labels.txt ("id: name" lines) disagrees with the built-in list."""
    found = {}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            key, sep, name = line.partition(":")
            if not sep or not key.strip().isdigit():
                raise ValueError(f"{path}:{line_no}: {line.strip()!r} is not an 'id: name' line.")
            found[int(key)] = name.strip()
    expected = {i + 1: n for i, n in enumerate(PASCAL_CONTEXT_459_CLASSES)}
    diff = [i for i in sorted(set(found) | set(expected)) if found.get(i) != expected.get(i)]
    if diff:
        shown = ", ".join(f"{i}: {found.get(i)!r} vs {expected.get(i)!r}" for i in diff[:5])
        raise ValueError(
            f"{path} disagrees with the built-in PASCAL-Context 459-class list at {len(diff)} "
            f"id(s) (file vs built-in): {shown}. The labels would be mapped to the wrong classes."
        )


def choose_source(context_root, source="auto", json_path=None):
    """The source of the Context-60/59 labels: `source`, or for "auto" the first that exists of
    SegmentationClassContext/, trainval_merged.json and the .mat files."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source != "auto":
        return source
    if os.path.isdir(os.path.join(context_root, SEGMENTATION_CLASS_CONTEXT_DIR)):
        return "context"
    if os.path.isfile(json_path or os.path.join(context_root, _JSON)):
        return "json"
    return "mat"


def _write_from_json(context_root, image_dir, json_path, split):
    """SegmentationClassContext/ (train and val) from the json, and the split files it lacks."""
    annotations = DetailAnnotations(json_path)
    out_dir = os.path.join(context_root, SEGMENTATION_CLASS_CONTEXT_DIR)
    with staged_output_dirs(out_dir) as (staged,):
        written = write_segmentation_class_context(annotations, image_dir, staged)
    print(f"Wrote {sum(map(len, written.values()))} masks from {json_path} to {out_dir}.")
    split_dir = os.path.join(context_root, os.path.dirname(_SPLIT))
    for phase, names in written.items():
        path = split if phase == "val" else os.path.join(split_dir, phase + ".txt")
        if not os.path.isfile(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".partial", "w") as f:
                f.write("".join(n + "\n" for n in names))
            os.replace(path + ".partial", path)
            print(f"Wrote the {len(names)} {phase} ids of {json_path} to {path}.")


def main(root, split=None, mat_dir=None, labels_txt=None, source="auto", json_path=None):
    """
    Convert the val split under `root`; returns the list of converted image ids.

    Args:
        split, mat_dir, labels_txt, json_path (str or None): override the default locations
            under `root`/VOCdevkit/VOC2010 (split file, folder of .mat files, labels.txt,
            trainval_merged.json).
        source: where the Context-60/59 labels come from, one of SOURCES (see the module doc).
    """
    context_root = os.path.join(root, PASCAL_CONTEXT_DIR)
    image_dir = require_dir(
        os.path.join(context_root, "JPEGImages"),
        "the VOC2010 images (VOCtrainval_03-May-2010.tar)",
    )
    json_path = json_path or os.path.join(context_root, _JSON)
    source = choose_source(context_root, source, json_path)
    mat_dir = mat_dir or os.path.join(context_root, "trainval")
    mat_expected = "the PASCAL-Context annotations: trainval.tar.gz extracted there (<id>.mat files)"
    if source == "mat":
        require_dir(mat_dir, mat_expected)
    split = split or os.path.join(context_root, _SPLIT)
    context_dir = os.path.join(context_root, SEGMENTATION_CLASS_CONTEXT_DIR)
    if source == "json":
        _write_from_json(context_root, image_dir, json_path, split)
    elif source == "context":
        require_dir(context_dir, "mmsegmentation's SegmentationClassContext masks (<id>.png, 0..59)")
    if not os.path.isfile(split):
        raise FileNotFoundError(
            f"{split} not found: expected the PASCAL-Context val list (5105 VOC2010 val ids, "
            "one a line), as mmsegmentation's tools/convert_datasets/pascal_context.py writes "
            "it. VOC2010's own ImageSets/Main/val.txt lists the same images: pass it with "
            f"--split {os.path.join(context_root, 'ImageSets', 'Main', 'val.txt')}."
        )
    with_459 = os.path.isdir(mat_dir)
    if with_459:
        labels_txt = labels_txt or os.path.join(context_root, "labels.txt")
        if os.path.isfile(labels_txt):
            check_labels_txt(labels_txt)
        else:
            print(f"{labels_txt} not found; using the built-in 459-class list unchecked.")
    else:
        print(f"{mat_dir} not found: context459_val needs {mat_expected}; it is not written.")

    ids = read_split_file(split)
    names = ["context60_val", "context59_val"] + (["context459_val"] if with_459 else [])
    out_dirs = [os.path.join(context_root, PASCAL_CONTEXT_LABEL_DIRS[n]) for n in names]
    with staged_output_dirs(*out_dirs) as staged:
        for image_id in ids:
            image_path = require_file(
                os.path.join(image_dir, image_id + ".jpg"), f"the image of {split} entry {image_id}"
            )
            labels = []
            if with_459:
                mat_path = require_file(
                    os.path.join(mat_dir, image_id + ".mat"),
                    f"the PASCAL-Context annotation of {split} entry {image_id}",
                )
                label_map = read_label_map(mat_path)
                check_label_size(mat_path, label_map.shape, image_path)
                check_label_values(label_map, range(_NUM_IDS), mat_path)
                labels = list(convert_context_label(label_map))
            if source != "mat":
                mask_path = require_file(
                    os.path.join(context_dir, image_id + ".png"),
                    f"the SegmentationClassContext mask of {split} entry {image_id}",
                )
                mask = read_context_mask(mask_path)
                check_label_size(mask_path, mask.shape, image_path)
                check_label_values(mask, range(len(PASCAL_CONTEXT_59_IDS) + 1), mask_path)
                labels[:2] = context_masks_to_labels(mask)
            for out_dir, label in zip(staged, labels):
                save_label_png(label, os.path.join(out_dir, image_id + ".png"))
    if len(ids) != 5105:
        print(f"Note: {split} lists {len(ids)} images; the standard val split has 5105.")
    print(f"Context-60/59 labels from {source}. Wrote {len(ids)} labels to each of {', '.join(out_dirs)}.")
    return ids


def parse_args():
    parser = prepare_argument_parser(__doc__.split("\n")[0])
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="Context-60/59 labels from SegmentationClassContext/ ('context'), from "
        "trainval_merged.json ('json') or from the .mat files ('mat'); 'auto' takes the first "
        "that exists",
    )
    parser.add_argument("--split", help=f"val id list (default: VOCdevkit/VOC2010/{_SPLIT})")
    parser.add_argument("--json", help=f"PASCAL in Detail annotations (default: VOC2010/{_JSON})")
    parser.add_argument("--mat-dir", help="folder of <id>.mat files (default: VOC2010/trainval)")
    parser.add_argument("--labels", help="labels.txt to check (default: VOC2010/labels.txt)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    main(args.root, split=args.split, mat_dir=args.mat_dir, labels_txt=args.labels, source=args.source,
         json_path=args.json)
