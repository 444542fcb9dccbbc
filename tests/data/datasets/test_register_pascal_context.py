import os

import numpy as np
import pytest
import scipy.io
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.data.datasets.register_pascal_context import (
    PASCAL_CONTEXT_459_CLASSES,
    register_all_pascal_context,
)

H, W = 20, 30
IDS = ["2008_000002", "2008_000003", "2010_000001"]
VAL = ["2008_000002", "2010_000001"]
# 459-class id -> context60 value, worked out by hand from the class lists: 0 unlabeled, 1
# accordion and 459 wool are outside the 59 classes (background); 2 aeroplane, 308 pottedplant,
# 397 table and 458 wood are 59-class entries 1, 40, 50 and 59.
TO_60 = {0: 0, 1: 0, 2: 1, 308: 40, 397: 50, 458: 59, 459: 0}


def _label_map(shift):
    values = np.array(sorted(TO_60))
    return np.roll(values[np.arange(H * W) % len(values)], shift).reshape(H, W).astype(np.uint16)


def _write_context(root, write_jpeg, maps, image_sizes=None, split=True):
    ctx = root / "VOCdevkit" / "VOC2010"
    (ctx / "trainval").mkdir(parents=True)
    for seed, (image_id, label_map) in enumerate(maps.items()):
        h, w = (image_sizes or {}).get(image_id, label_map.shape)
        write_jpeg(ctx / "JPEGImages" / f"{image_id}.jpg", h, w, seed)
        scipy.io.savemat(ctx / "trainval" / f"{image_id}.mat", {"LabelMap": label_map})
    if split:
        (ctx / "ImageSets" / "SegmentationContext").mkdir(parents=True)
        (ctx / "ImageSets" / "SegmentationContext" / "val.txt").write_text("\n".join(VAL))
    return ctx


def _write_labels_txt(path, names):
    path.write_text("".join(f"{i + 1}: {n}\n" for i, n in enumerate(names)))


def test_prepare_then_load_gives_the_written_labels(
    tmp_path, write_jpeg, load_prepare, catalog_prefix
):
    maps = {image_id: _label_map(i) for i, image_id in enumerate(IDS)}
    ctx = _write_context(tmp_path, write_jpeg, maps)
    _write_labels_txt(ctx / "labels.txt", PASCAL_CONTEXT_459_CLASSES)
    assert load_prepare("pascal_context").main(str(tmp_path)) == VAL

    register_all_pascal_context(str(tmp_path), prefix=catalog_prefix)
    loaded = {}
    for name in ("context60_val", "context59_val", "context459_val"):
        dicts = DatasetCatalog.get(catalog_prefix + name)
        assert [os.path.basename(d["file_name"]) for d in dicts] == [f"{i}.jpg" for i in VAL]
        loaded[name] = {
            os.path.basename(d["file_name"])[:-4]: np.array(Image.open(d["sem_seg_file_name"]))
            for d in dicts
        }
    for image_id in VAL:
        ids = maps[image_id].astype(int)
        ctx60 = loaded["context60_val"][image_id]
        ctx59 = loaded["context59_val"][image_id]
        ctx459 = loaded["context459_val"][image_id]
        assert (ctx60.dtype, ctx59.dtype, ctx459.dtype) == (np.uint8, np.uint8, np.uint16)
        for r in range(H):
            for c in range(W):
                v60 = TO_60[ids[r, c]]
                assert ctx60[r, c] == v60
                assert ctx59[r, c] == (255 if v60 == 0 else v60 - 1)
                assert ctx459[r, c] == (65535 if ids[r, c] == 0 else ids[r, c] - 1)


def test_metadata_matches_the_id_tables(tmp_path, catalog_prefix):
    register_all_pascal_context(str(tmp_path), prefix=catalog_prefix)
    m60, m59, m459 = (
        MetadataCatalog.get(catalog_prefix + n)
        for n in ("context60_val", "context59_val", "context459_val")
    )
    assert len(m60.stuff_classes) == 60 and m60.stuff_classes[0] == "background"
    assert m60.stuff_classes[1:] == m59.stuff_classes and len(m459.stuff_classes) == 459
    # The hand-worked TO_60 values name the same classes in both lists.
    for class_id, v60 in TO_60.items():
        if v60:
            full = m459.stuff_classes[class_id - 1]
            short = m60.stuff_classes[v60]
            assert short == {"aeroplane": "airplane", "pottedplant": "plant"}.get(full, full)
    assert (m60.background_threshold, m59.background_threshold, m459.background_threshold) == (
        0.35,
        None,
        None,
    )
    assert (m60.ignore_label, m59.ignore_label, m459.ignore_label) == (255, 255, 65535)
    assert {m.evaluator_type for m in (m60, m59, m459)} == {"sem_seg"}


def test_unprepared_dataset_names_path_and_command(tmp_path, write_jpeg, catalog_prefix):
    write_jpeg(tmp_path / "VOCdevkit" / "VOC2010" / "JPEGImages" / "a.jpg", H, W)
    register_all_pascal_context(str(tmp_path), prefix=catalog_prefix)
    with pytest.raises(FileNotFoundError) as e:
        DatasetCatalog.get(catalog_prefix + "context459_val")
    assert "python datasets/prepare_pascal_context.py" in str(e.value)
    assert os.path.join("annotations_detectron2", "context459_val") in str(e.value)


def test_missing_split_file_says_which_and_how(tmp_path, write_jpeg, load_prepare):
    _write_context(tmp_path, write_jpeg, {IDS[0]: _label_map(0)}, split=False)
    with pytest.raises(FileNotFoundError) as e:
        load_prepare("pascal_context").main(str(tmp_path))
    msg = str(e.value)
    assert os.path.join("SegmentationContext", "val.txt") in msg and "--split" in msg


def test_split_option_and_missing_mat(tmp_path, write_jpeg, load_prepare):
    ctx = _write_context(tmp_path, write_jpeg, {i: _label_map(0) for i in IDS})
    other = tmp_path / "my_val.txt"
    other.write_text("2008_000003\n")
    assert load_prepare("pascal_context").main(str(tmp_path), split=str(other)) == ["2008_000003"]
    os.remove(ctx / "trainval" / "2010_000001.mat")
    with pytest.raises(FileNotFoundError, match=r"trainval.2010_000001\.mat"):
        load_prepare("pascal_context").main(str(tmp_path))


def test_label_size_mismatch_names_both_files(tmp_path, write_jpeg, load_prepare):
    maps = {image_id: _label_map(i) for i, image_id in enumerate(IDS)}
    ctx = _write_context(tmp_path, write_jpeg, maps, image_sizes={"2010_000001": (H + 2, W)})
    with pytest.raises(ValueError) as e:
        load_prepare("pascal_context").main(str(tmp_path))
    assert str(ctx / "trainval" / "2010_000001.mat") in str(e.value)
    assert str(ctx / "JPEGImages" / "2010_000001.jpg") in str(e.value)


def test_out_of_range_id_and_missing_labelmap_key(tmp_path, write_jpeg, load_prepare):
    maps = {image_id: _label_map(i) for i, image_id in enumerate(IDS)}
    maps["2008_000002"][3, 4] = 460
    ctx = _write_context(tmp_path, write_jpeg, maps)
    with pytest.raises(ValueError, match=r"\[460\]"):
        load_prepare("pascal_context").main(str(tmp_path))
    scipy.io.savemat(ctx / "trainval" / "2008_000002.mat", {"Labels": maps["2010_000001"]})
    with pytest.raises(KeyError, match="LabelMap"):
        load_prepare("pascal_context").main(str(tmp_path))


def test_disagreeing_labels_txt_is_rejected(tmp_path, write_jpeg, load_prepare):
    ctx = _write_context(tmp_path, write_jpeg, {i: _label_map(0) for i in IDS})
    names = list(PASCAL_CONTEXT_459_CLASSES)
    names[396], names[397] = names[397], names[396]  # ids 397 and 398
    _write_labels_txt(ctx / "labels.txt", names)
    with pytest.raises(ValueError, match=r"2 id\(s\).*397: 'tableware' vs 'table'"):
        load_prepare("pascal_context").main(str(tmp_path))
