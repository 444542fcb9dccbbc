import io

import numpy as np
import pytest
import webdataset as wds
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from PIL import Image

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.dataset_mappers.image_text_mapper import (
    ImageTextDatasetMapper,
    build_image_text_augmentation,
)
from groupvit_d2.data.image_text_loader import build_image_text_train_loader
from groupvit_d2.data.text import build_tokenizer, get_templates


def jpeg(seed):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
        buf, "JPEG"
    )
    return buf.getvalue()


@pytest.fixture
def cfg():
    c = get_cfg()
    add_groupvit_config(c)
    c.INPUT.IMAGE_TEXT.CROP_SIZE = 16
    c.SOLVER.IMS_PER_BATCH = 4
    c.DATALOADER.NUM_WORKERS = 0
    c.DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER = 2
    c.DATASETS.IMAGE_TEXT.EPOCH_LENGTH = 6
    return c


@pytest.fixture
def caption_mapper(cfg):
    return ImageTextDatasetMapper(
        augmentation=build_image_text_augmentation(cfg, True),
        tokenizer=build_tokenizer(77),
        num_labels=2,
        templates=get_templates("simple"),
        label_sources=("caption",),
        label_fill="pad",
    )


def check_batch(batch):
    assert isinstance(batch, list) and len(batch) == 4
    for item in batch:
        assert item["image"].shape == (3, 16, 16) and item["text"].shape == (3, 77)
        assert item["label_mask"].tolist() == [True, False]


def test_loader_over_shards_is_endless(cfg, caption_mapper, tmp_path):
    with wds.TarWriter(str(tmp_path / "s-000000.tar"), encoder=False) as w:
        for i in range(5):
            w.write({"__key__": f"{i:03d}", "jpg": jpeg(i), "txt": f"photo number {i}".encode()})
    cfg.DATASETS.IMAGE_TEXT.SHARDS = [str(tmp_path / "s-{000000..000000}.tar")]
    loader = build_image_text_train_loader(cfg, caption_mapper)
    it = iter(loader)
    # Six samples an epoch, batches of four: iteration goes on past the first epoch.
    for _ in range(4):
        check_batch(next(it))


def test_loader_over_registered_captions(cfg, caption_mapper, tmp_path):
    dicts = []
    for i in range(3):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(jpeg(i))
        dicts.append(
            {"file_name": str(path), "image_id": i, "captions": [f"image {i}", f"picture {i}"]}
        )
    name = "test_image_text_loader_captions"
    DatasetCatalog.register(name, lambda: dicts)
    try:
        cfg.DATASETS.IMAGE_TEXT.NAMES = [name]
        it = iter(build_image_text_train_loader(cfg, caption_mapper))
        check_batch(next(it))
        check_batch(next(it))
    finally:
        DatasetCatalog.remove(name)


def test_loader_configuration_errors(cfg, caption_mapper):
    with pytest.raises(ValueError, match="SHARDS"):
        build_image_text_train_loader(cfg, caption_mapper)
    cfg.DATASETS.IMAGE_TEXT.SHARDS = ["a.tar"]
    cfg.DATASETS.IMAGE_TEXT.NAMES = ["coco_captions_train2017"]
    with pytest.raises(ValueError, match="not both"):
        build_image_text_train_loader(cfg, caption_mapper)
    cfg.DATASETS.IMAGE_TEXT.NAMES = []
    cfg.SOLVER.IMS_PER_BATCH = 0
    with pytest.raises(ValueError, match="IMS_PER_BATCH"):
        build_image_text_train_loader(cfg, caption_mapper)
