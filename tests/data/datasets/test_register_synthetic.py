import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.data.datasets.register_synthetic import SYNTHETIC_CLASSES, register_all_synthetic
from groupvit_d2.data.synthetic import CATEGORY_NAMES, generate_synthetic_dataset


def test_registered_synthetic_splits(tmp_path, catalog_prefix):
    generate_synthetic_dataset(
        str(tmp_path / "synthetic"),
        seed=1,
        num_train=5,
        num_val=3,
        image_size=24,
        max_image_size=40,
        shard_size=2,
    )
    register_all_synthetic(str(tmp_path), prefix=catalog_prefix)
    val = DatasetCatalog.get(catalog_prefix + "synthetic_val")
    assert len(val) == 3
    for d in val:
        label = np.asarray(Image.open(d["sem_seg_file_name"]))
        image = Image.open(d["file_name"])
        assert label.shape == (d["height"], d["width"]) and image.size == (d["width"], d["height"])
        assert label.max() <= len(CATEGORY_NAMES) and label.max() > 0
    assert len(DatasetCatalog.get(catalog_prefix + "synthetic_train_seg")) == 5
    captions = DatasetCatalog.get(catalog_prefix + "synthetic_train_captions")
    assert len(captions) == 5 and all(
        len(d["captions"]) == 1 and d["captions"][0] for d in captions
    )

    meta = MetadataCatalog.get(catalog_prefix + "synthetic_val")
    assert meta.stuff_classes == ["background"] + list(CATEGORY_NAMES) == list(SYNTHETIC_CLASSES)
    assert len(set(meta.stuff_classes)) == 13
    assert meta.evaluator_type == "sem_seg" and meta.ignore_label == 255
    assert meta.background_threshold == 0.95
    assert meta.sem_seg_root == str(tmp_path / "synthetic" / "val" / "labels")
    assert len(meta.stuff_colors) == 13


def test_missing_benchmark_names_the_command(tmp_path, catalog_prefix):
    register_all_synthetic(str(tmp_path), prefix=catalog_prefix)
    with pytest.raises(FileNotFoundError, match="tools/generate_synthetic.py"):
        DatasetCatalog.get(catalog_prefix + "synthetic_val")
    with pytest.raises(FileNotFoundError, match="tools/generate_synthetic.py"):
        DatasetCatalog.get(catalog_prefix + "synthetic_train_captions")
