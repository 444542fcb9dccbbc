"""voc21_train: the VOC 2012 segmentation train split, for supervised transfer and the kNN bank."""
import os

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.data.datasets.register_voc import register_all_voc


def _write(voc, write_jpeg, image_id, label, seed):
    write_jpeg(voc / "JPEGImages" / f"{image_id}.jpg", *label.shape, seed)
    im = Image.fromarray(label)
    im.putpalette([v for i in range(256) for v in (i, 255 - i, (5 * i) % 256)])
    (voc / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    im.save(voc / "SegmentationClass" / f"{image_id}.png")


def test_train_split_is_prepared_and_registered(tmp_path, write_jpeg, load_prepare, catalog_prefix):
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    labels = {}
    for seed, image_id in enumerate(["2007_000010", "2007_000020", "2007_000030"]):
        label = np.random.default_rng(seed).integers(0, 21, (12, 16)).astype(np.uint8)
        label[0] = 255
        labels[image_id] = label
        _write(voc, write_jpeg, image_id, label, seed)
    split = voc / "ImageSets" / "Segmentation"
    split.mkdir(parents=True)
    (split / "val.txt").write_text("2007_000010\n")
    (split / "train.txt").write_text("2007_000030\n2007_000020\n")

    assert load_prepare("voc").main(str(tmp_path)) == ["2007_000010"]
    register_all_voc(str(tmp_path), prefix=catalog_prefix)
    train = DatasetCatalog.get(catalog_prefix + "voc21_train")
    assert [os.path.basename(d["file_name"]) for d in train] == ["2007_000020.jpg", "2007_000030.jpg"]
    for d in train:
        image_id = os.path.basename(d["file_name"])[:-4]
        np.testing.assert_array_equal(np.array(Image.open(d["sem_seg_file_name"])), labels[image_id])
    meta = MetadataCatalog.get(catalog_prefix + "voc21_train")
    val_meta = MetadataCatalog.get(catalog_prefix + "voc21_val")
    assert meta.stuff_classes == val_meta.stuff_classes and len(meta.stuff_classes) == 21
    assert meta.ignore_label == 255 and meta.background_threshold == 0.95


def test_without_train_list_only_val_is_written(tmp_path, write_jpeg, load_prepare):
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    _write(voc, write_jpeg, "2007_000010", np.zeros((8, 8), np.uint8), 0)
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000010\n")
    load_prepare("voc").main(str(tmp_path))
    assert sorted(os.listdir(voc / "annotations_detectron2")) == ["voc20_val", "voc21_val"]
