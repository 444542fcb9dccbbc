"""The training DataLoader named by cfg.INPUT.DATASET_MAPPER_NAME."""
from detectron2.data import DatasetMapper, build_detection_train_loader
from detectron2.data import transforms as T

from .image_text_loader import build_image_text_train_loader

__all__ = ["TRAIN_LOADERS", "build_train_loader", "build_semantic_train_loader", "semantic_train_augmentations"]


def semantic_train_augmentations(cfg):
    """Resize the short side (INPUT.MIN_SIZE_TRAIN, MAX_SIZE_TRAIN, MIN_SIZE_TRAIN_SAMPLING), then
    crop (INPUT.CROP, when enabled), then flip (INPUT.RANDOM_FLIP).

    Detectron2's default list crops before resizing; segmentation recipes resize first so that the
    crop size is in the resized image's pixels.
    """
    augs = [T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING)]
    if cfg.INPUT.CROP.ENABLED:
        augs.append(T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE))
    if cfg.INPUT.RANDOM_FLIP != "none":
        augs.append(T.RandomFlip(horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                                 vertical=cfg.INPUT.RANDOM_FLIP == "vertical"))
    return augs


def build_semantic_train_loader(cfg):
    """Sem-seg training batches of cfg.DATASETS.TRAIN for Detectron2's SemanticSegmentor.

    Detectron2's DatasetMapper with `semantic_train_augmentations(cfg)`; labels come from each
    record's "sem_seg_file_name" as "sem_seg" (H, W) int64.
    Images stay 0-255 in INPUT.FORMAT order (RGB here); the model normalises them.
    """
    if not cfg.DATASETS.TRAIN:
        raise ValueError("INPUT.DATASET_MAPPER_NAME 'semantic' needs labelled datasets in DATASETS.TRAIN")
    mapper = DatasetMapper(cfg, is_train=True, augmentations=semantic_train_augmentations(cfg))
    return build_detection_train_loader(cfg, mapper=mapper)


# INPUT.DATASET_MAPPER_NAME -> builder(cfg) of the endless training loader.
TRAIN_LOADERS = {
    "image_text": build_image_text_train_loader,
    "semantic": build_semantic_train_loader,
}


def build_train_loader(cfg):
    """The loader cfg.INPUT.DATASET_MAPPER_NAME names (see TRAIN_LOADERS)."""
    name = cfg.INPUT.DATASET_MAPPER_NAME
    if name not in TRAIN_LOADERS:
        raise ValueError(f"INPUT.DATASET_MAPPER_NAME must be one of {sorted(TRAIN_LOADERS)}, got {name!r}")
    return TRAIN_LOADERS[name](cfg)
