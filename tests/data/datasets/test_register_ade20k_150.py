import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.data.datasets.register_ade20k_150 import register_all_ade20k_150

H, W = 8, 19  # 152 pixels: every annotation value 0..150 fits
NAMES = ["ADE_val_00000001", "ADE_val_00000002"]


def _annotation(seed):
    label = np.random.default_rng(seed).integers(0, 151, (H, W)).astype(np.uint8)
    label.flat[:151] = np.arange(151)
    return label


def _write_ade(root, write_jpeg, labels):
    ade = root / "ADEChallengeData2016"
    (ade / "annotations" / "validation").mkdir(parents=True)
    for seed, (name, label) in enumerate(labels.items()):
        write_jpeg(ade / "images" / "validation" / f"{name}.jpg", H, W, seed)
        Image.fromarray(label).save(ade / "annotations" / "validation" / f"{name}.png")
    return ade


def test_prepare_then_load_gives_shifted_labels(tmp_path, write_jpeg, load_prepare, catalog_prefix):
    labels = {name: _annotation(i) for i, name in enumerate(NAMES)}
    ade = _write_ade(tmp_path, write_jpeg, labels)
    assert load_prepare("ade20k_150").main(str(tmp_path)) == [f"{n}.png" for n in NAMES]

    register_all_ade20k_150(str(tmp_path), prefix=catalog_prefix)
    dicts = DatasetCatalog.get(catalog_prefix + "ade20k_150_val")
    assert [os.path.basename(d["file_name"]) for d in dicts] == [f"{n}.jpg" for n in NAMES]
    for d in dicts:
        name = os.path.basename(d["file_name"])[:-4]
        assert d["sem_seg_file_name"] == str(
            ade / "annotations_detectron2" / "validation" / f"{name}.png"
        )
        got = np.array(Image.open(d["sem_seg_file_name"]))
        assert got.dtype == np.uint8 and got.shape == (H, W)
        for (y, x), value in np.ndenumerate(labels[name]):
            assert got[y, x] == (255 if value == 0 else value - 1)
        # The first row holds 0, 1, 2, ...: ignore, then classes 0, 1, ...
        assert got[0, :4].tolist() == [255, 0, 1, 2]
        assert got.flat[150] == 149


def test_metadata(catalog_prefix, tmp_path):
    register_all_ade20k_150(str(tmp_path), prefix=catalog_prefix)
    meta = MetadataCatalog.get(catalog_prefix + "ade20k_150_val")
    assert len(meta.stuff_classes) == 150 == len(set(meta.stuff_classes))
    assert meta.stuff_classes[:4] == ["wall", "building", "sky", "floor"]
    assert meta.stuff_classes[7] == "bed"  # mmseg spells it "bed " with a trailing space
    assert meta.stuff_classes[149] == "flag"
    assert meta.ignore_label == 255
    assert meta.evaluator_type == "sem_seg"
    assert meta.background_threshold is None
    assert meta.image_root == str(tmp_path / "ADEChallengeData2016" / "images" / "validation")


def test_missing_files_name_the_prepare_command(tmp_path, write_jpeg, catalog_prefix):
    register_all_ade20k_150(str(tmp_path), prefix=catalog_prefix)
    name = catalog_prefix + "ade20k_150_val"
    with pytest.raises(FileNotFoundError, match="prepare_ade20k_150.py"):
        DatasetCatalog.get(name)
    # Downloaded but not prepared: the label folder is named.
    _write_ade(tmp_path, write_jpeg, {NAMES[0]: _annotation(0)})
    with pytest.raises(FileNotFoundError, match="prepare_ade20k_150.py") as err:
        DatasetCatalog.get(name)
    assert "annotations_detectron2" in str(err.value)


def test_prepare_rejects_values_above_150(tmp_path, write_jpeg, load_prepare):
    label = _annotation(0)
    label[3, 3] = 151
    _write_ade(tmp_path, write_jpeg, {NAMES[0]: label})
    with pytest.raises(ValueError, match=f"{NAMES[0]}.png") as err:
        load_prepare("ade20k_150").main(str(tmp_path))
    assert "151" in str(err.value)
    # A failed run leaves no label folder the catalog could mistake for a complete one.
    assert not (tmp_path / "ADEChallengeData2016/annotations_detectron2/validation").exists()
