"""Reading COCO-Stuff's stuffthingmaps: the source of COCO-Stuff and official COCO-Object labels.

stuffthingmaps_trainval2017.zip, extracted into coco/stuffthingmaps, holds one 8-bit PNG per image
whose values are (COCO category id - 1) for the 182 ids, 171 of them used, and 255 for unlabeled
pixels.
"""

import os

import numpy as np
from PIL import Image

from .label_files import check_label_size, check_label_values, require_dir, require_file
from .register_coco_stuff import COCO_STUFF_171_IDS

__all__ = ["STUFFTHINGMAP_VALUES", "iter_stuffthingmaps"]

STUFFTHINGMAP_VALUES = frozenset({i - 1 for i in COCO_STUFF_171_IDS} | {255})


def iter_stuffthingmaps(coco_root, split="val2017"):
    """
    Yield the checked maps of one split, sorted by file name.

    Args:
        coco_root (str): the "coco" folder, holding `split`/ images and stuffthingmaps/`split`/.

    Yields:
        tuple[str, np.ndarray]: file name without extension, and its (H, W) uint8 map.

    Raises:
        FileNotFoundError: a folder, map or image is missing.
        ValueError: a map's size differs from its image's, or it holds an unknown value.
    """
    image_dir = require_dir(
        os.path.join(coco_root, split), f"the COCO {split} images ({split}.zip)"
    )
    map_dir = require_dir(
        os.path.join(coco_root, "stuffthingmaps", split),
        "COCO-Stuff's stuffthingmaps_trainval2017.zip extracted into coco/stuffthingmaps",
    )
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(map_dir) if f.endswith(".png"))
    if not names:
        raise FileNotFoundError(f"{map_dir} holds no .png maps.")
    for name in names:
        map_path = os.path.join(map_dir, name + ".png")
        image_path = require_file(
            os.path.join(image_dir, name + ".jpg"), f"the image of {map_path}"
        )
        with Image.open(map_path) as im:
            stuffthingmap = np.array(im)
        if stuffthingmap.ndim != 2:
            raise ValueError(f"{map_path} has shape {stuffthingmap.shape}; expected (H, W).")
        check_label_size(map_path, stuffthingmap.shape, image_path)
        check_label_values(stuffthingmap, STUFFTHINGMAP_VALUES, map_path)
        yield name, stuffthingmap.astype(np.uint8)
