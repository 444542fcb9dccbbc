"""COCO 2017 captions (118k train / 5k val images, about 5 captions each) as image-text data.

Reads the official layout under the dataset root:
    coco/annotations/captions_{train,val}2017.json
    coco/{train,val}2017/*.jpg
Each dict is {"file_name", "image_id", "height", "width", "captions": list[str]}; the image-text
mapper draws one caption per use. Images without a caption are left out.
"""

import logging
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.file_io import PathManager

__all__ = ["COCO_CAPTION_SPLITS", "load_coco_captions", "register_all_coco_captions"]

logger = logging.getLogger(__name__)

# name -> (image folder, captions json), relative to the dataset root.
COCO_CAPTION_SPLITS = {
    "coco_captions_train2017": ("coco/train2017", "coco/annotations/captions_train2017.json"),
    "coco_captions_val2017": ("coco/val2017", "coco/annotations/captions_val2017.json"),
}
_DOWNLOAD_HINT = (
    "Download the official COCO 2017 images and annotations_trainval2017.zip from cocodataset.org and "
    "unpack them under $DETECTRON2_DATASETS/coco (default ./datasets/coco): see datasets/README.md"
)


def load_coco_captions(json_file, image_root, name=""):
    """
    Read a COCO captions json into image-caption dicts.

    Returns:
        list[dict]: {"file_name", "image_id", "height", "width", "captions"}, sorted by image id.
    """
    if not PathManager.isfile(json_file):
        raise FileNotFoundError(
            f"Dataset '{name}': captions file not found at {json_file}. {_DOWNLOAD_HINT}"
        )
    if not PathManager.isdir(image_root):
        raise FileNotFoundError(
            f"Dataset '{name}': image folder not found at {image_root}. {_DOWNLOAD_HINT}"
        )
    from pycocotools.coco import COCO

    coco = COCO(PathManager.get_local_path(json_file))
    dicts, without = [], 0
    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        captions = [
            a["caption"].strip()
            for a in coco.imgToAnns.get(image_id, [])
            if a.get("caption", "").strip()
        ]
        if not captions:
            without += 1
            continue
        dicts.append(
            {
                "file_name": os.path.join(image_root, info["file_name"]),
                "image_id": image_id,
                "height": info.get("height"),
                "width": info.get("width"),
                "captions": captions,
            }
        )
    if not dicts:
        raise ValueError(f"Dataset '{name}': {json_file} holds no image with a caption")
    if without:
        logger.warning("Dataset '%s': %d images without a caption are left out", name, without)
    logger.info(
        "Dataset '%s': %d images, %d captions",
        name,
        len(dicts),
        sum(len(d["captions"]) for d in dicts),
    )
    return dicts


def register_all_coco_captions(root, prefix=""):
    """Register coco_captions_train2017 and coco_captions_val2017 (preceded by `prefix`) under `root`."""
    for name, (image_dir, json_name) in COCO_CAPTION_SPLITS.items():
        name = prefix + name
        image_root = os.path.join(root, image_dir)
        json_file = os.path.join(root, json_name)
        DatasetCatalog.register(
            name, lambda j=json_file, i=image_root, n=name: load_coco_captions(j, i, n)
        )
        MetadataCatalog.get(name).set(image_root=image_root, json_file=json_file)
