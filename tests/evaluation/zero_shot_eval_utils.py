"""Tiny benchmark files in the official download layouts, and the tiny evaluation config.

What each dataset holds (H x W, the labels are designed so that IoUs can be worked out by hand):

voc21_val / voc20_val (VOCdevkit/VOC2012, JPEG):
    2007_000001  32x48 RGB        row 0 ignored (255); columns 0..23 person (15), 24..47 background
    2007_000002  48x32 grayscale  rows 0..23 car (7), rows 24..47 background
    2007_000003  40x600 RGB       all background; resized to 17x256, smaller than the 64 window
context60/59/459_val (VOCdevkit/VOC2010, .mat labels; context459 is 16-bit):
    2008_000001, 2008_000002  32x48 RGB
ade20k_847_val (ADE20K_2021_17_01, RGB-encoded class masks; 16-bit labels):
    ADE_val_00000001, ADE_val_00000002  32x48 RGB
cityscapes_fine_val (cityscapes, PNG):
    frankfurt_000000_000001  32x64 RGBA
    frankfurt_000000_000002  32x64 16-bit grayscale
"""
import importlib.util
import pathlib

import numpy as np
import scipy.io
from detectron2.config import get_cfg
from PIL import Image

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.datasets.register_ade20k_847 import ADE20K_847_CATEGORIES
from groupvit_d2.data.datasets.register_pascal_context import PASCAL_CONTEXT_59_IDS

REPO = pathlib.Path(__file__).resolve().parents[2]
PERSON, CAR = 15, 7


def load_prepare(name):
    """Import datasets/prepare_<name>.py (a script folder, not a package)."""
    spec = importlib.util.spec_from_file_location(f"prepare_{name}", REPO / "datasets" / f"prepare_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save(pixels, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _noise(shape, seed, dtype=np.uint8, high=256):
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def write_voc(root):
    voc = root / "VOCdevkit" / "VOC2012"
    person = np.zeros((32, 48), np.uint8)
    person[:, :24] = PERSON
    person[0] = 255
    car = np.zeros((48, 32), np.uint8)
    car[:24] = CAR
    labels = {"2007_000001": person, "2007_000002": car, "2007_000003": np.zeros((40, 600), np.uint8)}
    images = {
        "2007_000001": _noise((32, 48, 3), 1),
        "2007_000002": _noise((48, 32), 2),  # grayscale JPEG
        "2007_000003": _noise((40, 600, 3), 3),
    }
    for image_id, label in labels.items():
        _save(images[image_id], voc / "JPEGImages" / f"{image_id}.jpg")
        im = Image.fromarray(label)
        im.putpalette(  # SegmentationClass files are palette PNGs; putpalette keeps the indices
            [v for i in range(256) for v in (i, (3 * i) % 256, 255 - i)]
        )
        (voc / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        im.save(voc / "SegmentationClass" / f"{image_id}.png")
    split = voc / "ImageSets" / "Segmentation" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("\n".join(labels) + "\n")


def write_pascal_context(root):
    context = root / "VOCdevkit" / "VOC2010"
    ids = ["2008_000001", "2008_000002"]
    for seed, image_id in enumerate(ids):
        _save(_noise((32, 48, 3), 10 + seed), context / "JPEGImages" / f"{image_id}.jpg")
        label_map = _noise((32, 48), 20 + seed, np.uint16, high=460)  # 0 unlabeled, 1..459
        label_map[:8, :8] = PASCAL_CONTEXT_59_IDS[0]
        (context / "trainval").mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(context / "trainval" / f"{image_id}.mat", {"LabelMap": label_map})
    split = context / "ImageSets" / "SegmentationContext" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("\n".join(ids) + "\n")


def write_ade20k_847(root):
    folder = root / "ADE20K_2021_17_01" / "images" / "ADE" / "validation" / "urban" / "street"
    for seed, stem in enumerate(["ADE_val_00000001", "ADE_val_00000002"]):
        _save(_noise((32, 48, 3), 30 + seed), folder / f"{stem}.jpg")
        train_ids = _noise((32, 48), 40 + seed, np.int64, high=len(ADE20K_847_CATEGORIES))
        class_index = np.array([c for c, _ in ADE20K_847_CATEGORIES])[train_ids]
        class_index[:4] = 0  # unlabeled
        seg = np.zeros((32, 48, 3), np.uint8)
        seg[..., 0] = class_index // 256 * 10
        seg[..., 1] = class_index % 256
        _save(seg, folder / f"{stem}_seg.png")


def write_cityscapes(root):
    city = "frankfurt"
    for seed, (stem, image) in enumerate(
        [
            ("frankfurt_000000_000001", _noise((32, 64, 4), 50)),  # RGBA
            ("frankfurt_000000_000002", _noise((32, 64), 51, np.uint16, high=65536)),  # 16-bit grey
        ]
    ):
        _save(image, root / "cityscapes" / "leftImg8bit" / "val" / city / f"{stem}_leftImg8bit.png")
        label_ids = np.full((32, 64), 7, np.uint8)  # road
        label_ids[16:, 32:] = 26  # car
        label_ids[:2] = 0  # unlabeled
        _save(label_ids, root / "cityscapes" / "gtFine" / "val" / city / f"{stem}_gtFine_labelIds.png")


TINY_CONFIG = REPO / "configs" / "groupvit" / "tiny.yaml"
# Keep the text side cheap: the 847- and 459-class vocabularies with 80 templates would dominate.
EVAL_OPTS = [
    "MODEL.DEVICE", "cpu",
    "DATALOADER.NUM_WORKERS", "0",
    "MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "identity",
]


def make_eval_cfg(output_dir, datasets, *opts):
    """The tiny GroupViT evaluation config for `datasets` (registered names)."""
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(str(TINY_CONFIG))
    cfg.merge_from_list(EVAL_OPTS + ["OUTPUT_DIR", str(output_dir), "DATASETS.TEST", tuple(datasets)] + list(opts))
    return cfg


def resized_size(height, width, short=64, long=256):
    """(H', W') of the evaluation resize: one factor min(short / short side, long / long side),
    rounded as int(x + 0.5) (see ZeroShotSemSegDatasetMapper)."""
    f = min(short / min(height, width), long / max(height, width))
    return int(height * f + 0.5), int(width * f + 0.5)
