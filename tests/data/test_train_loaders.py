"""INPUT.DATASET_MAPPER_NAME chooses the training loader."""
import pytest
from detectron2.config import get_cfg
from detectron2.data import transforms as T

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.train_loaders import TRAIN_LOADERS, build_train_loader, semantic_train_augmentations


def _cfg(**input_keys):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    for key, value in input_keys.items():
        setattr(cfg.INPUT, key, value)
    return cfg


def test_default_is_the_image_text_loader():
    cfg = _cfg()
    assert cfg.INPUT.DATASET_MAPPER_NAME == "image_text" and set(TRAIN_LOADERS) == {"image_text", "semantic"}
    with pytest.raises(ValueError, match="No image-text training data"):
        build_train_loader(cfg)


def test_semantic_needs_training_datasets_and_unknown_names_are_refused():
    with pytest.raises(ValueError, match="DATASETS.TRAIN"):
        build_train_loader(_cfg(DATASET_MAPPER_NAME="semantic"))
    with pytest.raises(ValueError, match=r"INPUT.DATASET_MAPPER_NAME must be one of \['image_text', 'semantic'\]"):
        build_train_loader(_cfg(DATASET_MAPPER_NAME="panoptic"))


def test_semantic_augmentations_resize_then_crop_then_flip():
    cfg = _cfg(MIN_SIZE_TRAIN=(224, 448), MAX_SIZE_TRAIN=1024, MIN_SIZE_TRAIN_SAMPLING="choice")
    cfg.INPUT.CROP.ENABLED = True
    cfg.INPUT.CROP.TYPE = "absolute"
    cfg.INPUT.CROP.SIZE = (64, 96)
    resize, crop, flip = semantic_train_augmentations(cfg)
    assert isinstance(resize, T.ResizeShortestEdge) and resize.short_edge_length == (224, 448)
    assert resize.max_size == 1024 and resize.is_range is False
    assert isinstance(crop, T.RandomCrop) and crop.crop_type == "absolute" and tuple(crop.crop_size) == (64, 96)
    assert isinstance(flip, T.RandomFlip) and flip.horizontal
    cfg.INPUT.CROP.ENABLED = False
    cfg.INPUT.RANDOM_FLIP = "none"
    assert [type(a) for a in semantic_train_augmentations(cfg)] == [T.ResizeShortestEdge]
