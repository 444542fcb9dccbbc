import os

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from PIL import Image

from groupvit_d2.data.datasets.register_ade20k_847 import (
    ADE20K_847_CATEGORIES,
    register_all_ade20k_847,
)

# (class index in *_seg.png, expected train id), from the published 847-class table.
WALL, BUILDING, ADDING_MACHINE = (2978, 0), (312, 1), (3148, 846)
UNLISTED = (1, 65535)  # not among the 847
UNLABELED = (0, 65535)


def _seg_png(class_index, path, rng):
    """Encode class indices as ADE20K full does: R = index // 256 * 10, G = index % 256."""
    h, w = class_index.shape
    seg = np.zeros((h, w, 3), np.uint8)
    seg[..., 0] = class_index // 256 * 10
    seg[..., 1] = class_index % 256
    seg[..., 2] = rng.integers(0, 256, (h, w))  # instance ids: must not matter
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(seg).save(path)
    return seg


def _write_ade_full(root, write_jpeg, samples):
    """samples: {(scene folder, name): class-index map}."""
    val = root / "ADE20K_2021_17_01" / "images" / "ADE" / "validation"
    rng = np.random.default_rng(0)
    for seed, ((folder, name), class_index) in enumerate(samples.items()):
        write_jpeg(val / folder / f"{name}.jpg", *class_index.shape, seed)
        _seg_png(class_index, val / folder / f"{name}_seg.png", rng)
    # A file that must never be unpickled: the class list ships with the package.
    (root / "ADE20K_2021_17_01" / "index_ade20k.pkl").write_bytes(b"not a pickle")
    return root / "ADE20K_2021_17_01"


def _small_sample():
    index = np.array(
        [
            [WALL[0], WALL[0], BUILDING[0], ADDING_MACHINE[0], UNLISTED[0]],
            [UNLABELED[0], WALL[0], BUILDING[0], ADDING_MACHINE[0], 2420],
            [WALL[0], 2855, 2855, 2131, 976],
        ]
    )
    expected = np.array(
        [
            [0, 0, 1, 846, 65535],
            [65535, 0, 1, 846, 2],  # sky
            [0, 3, 3, 4, 5],  # tree, road, floor
        ]
    )
    return index, expected


def test_prepare_writes_16bit_train_ids(tmp_path, write_jpeg, load_prepare, catalog_prefix):
    index, expected = _small_sample()
    ade = _write_ade_full(
        tmp_path,
        write_jpeg,
        {
            ("cultural/apse_indoor", "ADE_val_00000002"): index,
            ("urban/street", "ADE_val_00000001"): index[::-1].copy(),
            ("urban/street", "ADE_train_00000001"): index,  # another split: skipped
        },
    )
    assert load_prepare("ade20k_847").main(str(tmp_path)) == [
        "ADE_val_00000001.jpg",
        "ADE_val_00000002.jpg",
    ]
    register_all_ade20k_847(str(tmp_path), prefix=catalog_prefix)
    dicts = DatasetCatalog.get(catalog_prefix + "ade20k_847_val")
    assert [os.path.basename(d["file_name"]) for d in dicts] == [
        "ADE_val_00000001.jpg",
        "ADE_val_00000002.jpg",
    ]
    for d, want in zip(dicts, [expected[::-1], expected]):
        assert d["file_name"].startswith(str(ade / "images_detectron2" / "validation"))
        label_image = Image.open(d["sem_seg_file_name"])
        assert label_image.mode.startswith("I")  # a 16-bit PNG
        # Read as SemSegEvaluator reads it.
        got = np.array(label_image, dtype=np.int64)
        np.testing.assert_array_equal(got, want)
        assert Image.open(d["file_name"]).size == (5, 3)  # small images keep their size


def test_red_channel_is_divided_by_ten_with_floor(tmp_path, load_prepare):
    module = load_prepare("ade20k_847")
    seg = np.zeros((1, 2, 3), np.uint8)
    seg[0, 0] = (116, 162, 0)  # 116 // 10 = 11: 11 * 256 + 162 = 2978, wall
    seg[0, 1] = (10, 56, 0)  # 256 + 56 = 312, building
    Image.fromarray(seg).save(tmp_path / "x_seg.png")
    index = module.read_class_mask(str(tmp_path / "x_seg.png"))
    assert index.tolist() == [[2978, 312]]
    assert module.convert_class_mask(index).tolist() == [[0, 1]]


def test_large_images_shrink_to_short_side_512(tmp_path, write_jpeg, load_prepare, catalog_prefix):
    h, w = 520, 600
    index = np.full((h, w), WALL[0])
    index[:, 300:] = BUILDING[0]
    _write_ade_full(tmp_path, write_jpeg, {("nature", "ADE_val_00000007"): index})
    load_prepare("ade20k_847").main(str(tmp_path))
    register_all_ade20k_847(str(tmp_path), prefix=catalog_prefix)
    (d,) = DatasetCatalog.get(catalog_prefix + "ade20k_847_val")
    # Short side 520 > 512: (512, round(600 / 520 * 512)) = (512, 591).
    assert Image.open(d["file_name"]).size == (591, 512)
    label = np.array(Image.open(d["sem_seg_file_name"]), dtype=np.int64)
    assert label.shape == (512, 591)
    assert set(np.unique(label).tolist()) == {0, 1}
    assert (label[:, :290] == 0).all() and (label[:, 300:] == 1).all()


def test_keep_size_when_asked(tmp_path, write_jpeg, load_prepare):
    index = np.full((520, 600), WALL[0])
    ade = _write_ade_full(tmp_path, write_jpeg, {("nature", "ADE_val_00000007"): index})
    load_prepare("ade20k_847").main(str(tmp_path), max_short_side=0)
    out = ade / "annotations_detectron2" / "validation" / "ADE_val_00000007.png"
    assert np.array(Image.open(out)).shape == (520, 600)


def test_metadata_and_class_table(tmp_path, catalog_prefix):
    register_all_ade20k_847(str(tmp_path), prefix=catalog_prefix)
    meta = MetadataCatalog.get(catalog_prefix + "ade20k_847_val")
    assert len(meta.stuff_classes) == 847
    assert meta.stuff_classes[0] == "wall"
    assert meta.stuff_classes[1] == "building, edifice"
    assert meta.stuff_classes[846] == "adding machine, totalizer, totaliser"
    assert meta.ignore_label == 65535
    assert meta.evaluator_type == "sem_seg"
    assert meta.background_threshold is None
    indices = [index for index, _ in ADE20K_847_CATEGORIES]
    assert len(set(indices)) == 847
    # Every index must be encodable in the R/G channels of a *_seg.png.
    assert max(indices) <= 255 // 10 * 256 + 255


def test_missing_files_name_the_prepare_command(tmp_path, write_jpeg, catalog_prefix, load_prepare):
    register_all_ade20k_847(str(tmp_path), prefix=catalog_prefix)
    with pytest.raises(FileNotFoundError, match="prepare_ade20k_847.py"):
        DatasetCatalog.get(catalog_prefix + "ade20k_847_val")
    with pytest.raises(FileNotFoundError, match="ADE20K_2021_17_01"):
        load_prepare("ade20k_847").main(str(tmp_path))


def test_prepare_rejects_mask_of_other_size(tmp_path, write_jpeg, load_prepare):
    val = tmp_path / "ADE20K_2021_17_01" / "images" / "ADE" / "validation" / "home"
    write_jpeg(val / "ADE_val_00000003.jpg", 4, 6)
    _seg_png(np.zeros((4, 5), np.int64), val / "ADE_val_00000003_seg.png", np.random.default_rng(0))
    with pytest.raises(ValueError, match="ADE_val_00000003_seg.png") as err:
        load_prepare("ade20k_847").main(str(tmp_path))
    assert "ADE_val_00000003.jpg" in str(err.value)


def test_semseg_evaluator_reads_the_16bit_labels(
    tmp_path, write_jpeg, load_prepare, catalog_prefix
):
    index, expected = _small_sample()
    _write_ade_full(tmp_path, write_jpeg, {("home", "ADE_val_00000001"): index})
    load_prepare("ade20k_847").main(str(tmp_path))
    register_all_ade20k_847(str(tmp_path), prefix=catalog_prefix)
    name = catalog_prefix + "ade20k_847_val"
    (d,) = DatasetCatalog.get(name)

    evaluator = SemSegEvaluator(name, distributed=False)
    evaluator.reset()
    # Perfect on the labelled pixels except one wall pixel predicted as class 5 (floor); the
    # ignored pixels (65535) are predicted as class 7 and must not count.
    pred = np.where(expected == 65535, 7, expected)
    pred[0, 0] = 5
    scores = torch.nn.functional.one_hot(torch.as_tensor(pred), 847).permute(2, 0, 1).float()
    evaluator.process([{"file_name": d["file_name"]}], [{"sem_seg": scores}])
    result = evaluator.evaluate()["sem_seg"]
    # Classes present: wall (3 of 4 right, IoU 3/4), floor (1 right + 1 wrong: IoU 1/2), building,
    # adding machine, sky, tree, road (IoU 1). Pixel accuracy 12 / 13.
    assert result["IoU-wall"] == pytest.approx(75.0)
    assert result["IoU-floor, flooring"] == pytest.approx(50.0)
    assert result["mIoU"] == pytest.approx(100 * (0.75 + 0.5 + 5) / 7)
    assert result["pACC"] == pytest.approx(100 * 12 / 13)
