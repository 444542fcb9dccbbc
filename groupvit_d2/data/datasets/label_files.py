"""Reading official label files and writing prepared ones, for the `datasets/prepare_*.py` scripts.

Every check raises an error that names the offending file, so a broken download is found when
the labels are prepared, not halfway through an evaluation.
"""

import contextlib
import os
import shutil

import numpy as np
from PIL import Image

__all__ = [
    "read_split_file",
    "require_dir",
    "require_file",
    "image_size",
    "check_label_size",
    "check_label_values",
    "lookup_table",
    "save_label_png",
    "staged_output_dirs",
]


def require_dir(path, expected):
    """Raise FileNotFoundError naming `path` and what the official download puts there."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} not found: expected {expected}.")
    return path


def require_file(path, expected):
    """Raise FileNotFoundError naming `path` and what the official download puts there."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: expected {expected}.")
    return path


def read_split_file(path):
    """Image ids of a split file (one id a line, blank lines ignored), in file order."""
    with open(path) as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise ValueError(f"{path} lists no image ids.")
    return ids


def image_size(path):
    """(height, width) of an image file, read from its header only."""
    with Image.open(path) as im:
        return im.height, im.width


def check_label_size(label_source, label_hw, image_path):
    """
    Raise ValueError naming both files when a label's (height, width) differs from its image's.

    Args:
        label_source (str): the file the label comes from (PNG, .mat, or json entry).
        label_hw (tuple[int, int]): the label's (height, width).
        image_path (str): the image file.
    """
    image_hw = image_size(image_path)
    if tuple(label_hw) != image_hw:
        raise ValueError(
            f"Label {label_source} is {label_hw[0]}x{label_hw[1]} (HxW) but its image "
            f"{image_path} is {image_hw[0]}x{image_hw[1]}; they must have the same size."
        )


def check_label_values(label, allowed, source):
    """Raise ValueError naming `source` when `label` holds a value outside `allowed`."""
    bad = np.setdiff1d(np.unique(label), np.asarray(list(allowed)))
    if bad.size:
        raise ValueError(
            f"Label {source} holds unexpected value(s) {bad.tolist()[:10]}; expected values in "
            f"{_describe(allowed)}."
        )


def _describe(values):
    values = sorted(values)
    if len(values) > 12:
        return f"{{{', '.join(map(str, values[:6]))}, ..., {', '.join(map(str, values[-3:]))}}}"
    return "{" + ", ".join(map(str, values)) + "}"


def lookup_table(mapping, size, default, dtype):
    """A (size,) array t with t[k] = mapping[k] for k in mapping and `default` elsewhere."""
    table = np.full(size, default, dtype=dtype)
    for k, v in mapping.items():
        table[k] = v
    return table


def save_label_png(label, path):
    """
    Write a (H, W) label map as a PNG: 8-bit for uint8 arrays, 16-bit for uint16 ones.

    Args:
        label (np.ndarray): (H, W) uint8 or uint16 array.
    """
    if label.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"label for {path} must be uint8 or uint16, got {label.dtype}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(label).save(path)


@contextlib.contextmanager
def staged_output_dirs(*final_dirs):
    """
    Yield fresh "<dir>.partial" folders that replace `final_dirs` only when the block succeeds.

    A run that stops halfway (bad file, interrupt) must not leave a label folder that the
    catalog would read as a complete, smaller dataset.
    """
    staging = [d.rstrip(os.sep) + ".partial" for d in final_dirs]
    for d in staging:
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    try:
        yield staging
    except BaseException:
        for d in staging:
            shutil.rmtree(d, ignore_errors=True)
        raise
    for tmp, final in zip(staging, final_dirs):
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(tmp, final)


def prepare_argument_parser(description):
    """The prepare scripts' common command line: --root, defaulting to $DETECTRON2_DATASETS."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--root",
        default=os.getenv("DETECTRON2_DATASETS", "datasets"),
        help="dataset root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    return parser
