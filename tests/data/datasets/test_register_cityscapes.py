import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.data.datasets.register_cityscapes import register_all_cityscapes

H, W = 6, 9
# The 19 evaluated labelIds and their trainIds, from the Cityscapes paper's class table.
LABEL_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
STEMS = {
    "aachen": ["aachen_000000_000019", "aachen_000001_000019"],
    "bremen": ["bremen_000000_000019"],
}


def _label_ids(seed):
    label = np.random.default_rng(seed).integers(0, 34, (H, W)).astype(np.uint8)
    label.flat[:34] = np.arange(34)  # every labelId appears at least once
    return label


def _write_cityscapes(root, split="val"):
    labels = {}
    for seed, (city, stems) in enumerate(sorted(STEMS.items())):
        for i, stem in enumerate(stems):
            image = root / "cityscapes" / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((H, W, 3), 10 * seed + i, np.uint8)).save(image)
            gt = root / "cityscapes" / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png"
            gt.parent.mkdir(parents=True, exist_ok=True)
            labels[stem] = _label_ids(10 * seed + i)
            Image.fromarray(labels[stem]).save(gt)
    return labels


def test_prepare_writes_train_ids_pixel_by_pixel(tmp_path, load_prepare):
    labels = _write_cityscapes(tmp_path)
    written = load_prepare("cityscapes").main(str(tmp_path))
    assert len(written) == 3
    for path in written:
        stem = os.path.basename(path)[: -len("_gtFine_labelTrainIds.png")]
        got = np.array(Image.open(path))
        assert got.dtype == np.uint8
        for (y, x), label_id in np.ndenumerate(labels[stem]):
            assert got[y, x] == LABEL_ID_TO_TRAIN_ID.get(int(label_id), 255)


def test_registered_dataset_pairs_images_and_train_ids(tmp_path, load_prepare, catalog_prefix):
    _write_cityscapes(tmp_path)
    load_prepare("cityscapes").main(str(tmp_path))
    register_all_cityscapes(str(tmp_path), prefix=catalog_prefix)
    name = catalog_prefix + "cityscapes_fine_val"

    dicts = DatasetCatalog.get(name)
    assert [os.path.basename(d["file_name"]) for d in dicts] == [
        "aachen_000000_000019_leftImg8bit.png",
        "aachen_000001_000019_leftImg8bit.png",
        "bremen_000000_000019_leftImg8bit.png",
    ]
    for d in dicts:
        city = os.path.basename(os.path.dirname(d["file_name"]))
        stem = os.path.basename(d["file_name"])[: -len("_leftImg8bit.png")]
        assert d["sem_seg_file_name"] == str(
            tmp_path / "cityscapes" / "gtFine" / "val" / city / f"{stem}_gtFine_labelTrainIds.png"
        )

    meta = MetadataCatalog.get(name)
    assert len(meta.stuff_classes) == 19
    assert meta.stuff_classes[0] == "road" and meta.stuff_classes[18] == "bicycle"
    assert meta.stuff_classes[11] == "person" and meta.stuff_classes[13] == "car"
    assert meta.ignore_label == 255
    assert meta.evaluator_type == "sem_seg"
    assert meta.background_threshold is None
    assert meta.image_root == str(tmp_path / "cityscapes" / "leftImg8bit" / "val")
    assert meta.sem_seg_root == str(tmp_path / "cityscapes" / "gtFine" / "val")


def test_missing_download_and_missing_prepare_name_the_command(tmp_path, catalog_prefix):
    # Registering reads nothing, so an empty root registers fine.
    register_all_cityscapes(str(tmp_path), prefix=catalog_prefix)
    name = catalog_prefix + "cityscapes_fine_val"
    with pytest.raises(FileNotFoundError, match="prepare_cityscapes.py") as err:
        DatasetCatalog.get(name)
    assert "leftImg8bit" in str(err.value)

    # Official files present but not prepared: the missing train-id file is named.
    _write_cityscapes(tmp_path)
    with pytest.raises(FileNotFoundError, match="prepare_cityscapes.py") as err:
        DatasetCatalog.get(name)
    assert "aachen_000000_000019_gtFine_labelTrainIds.png" in str(err.value)


def test_prepare_rejects_bad_labels(tmp_path, load_prepare):
    _write_cityscapes(tmp_path)
    bad = tmp_path / "cityscapes/gtFine/val/bremen/bremen_000000_000019_gtFine_labelIds.png"
    label = _label_ids(0)
    label[2, 2] = 40
    Image.fromarray(label).save(bad)
    with pytest.raises(ValueError, match="bremen_000000_000019_gtFine_labelIds.png") as err:
        load_prepare("cityscapes").main(str(tmp_path))
    assert "40" in str(err.value)

    Image.fromarray(_label_ids(0)[:, :-1]).save(bad)
    with pytest.raises(ValueError, match="leftImg8bit.png"):
        load_prepare("cityscapes").main(str(tmp_path))


def test_prepare_without_download_raises(tmp_path, load_prepare):
    with pytest.raises(FileNotFoundError, match="leftImg8bit"):
        load_prepare("cityscapes").main(str(tmp_path))
