import json
import os
import shutil

import numpy as np
import pycocotools.mask as mask_util
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


# --- Context-60/59 from mmsegmentation's SegmentationClassContext / PASCAL in Detail json ------

PHASES = {"2008_000002": "val", "2008_000003": "train", "2010_000001": "val"}


def _box(r0, r1, c0, c1):
    m = np.zeros((H, W), dtype=np.uint8)
    m[r0:r1, c0:c1] = 1
    return m


def _rle(mask, compressed):
    if not compressed:  # column-major run lengths, starting with a run of zeros
        flat = mask.flatten(order="F")
        changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
        return {"size": [H, W], "counts": np.diff(np.concatenate([[0], changes])).tolist()}
    rle = mask_util.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


# (mask, 459-class id) painted in this order on 2008_000002: sky (360) over the top rows, then a
# person (284) partly over it, an accordion (1, not one of the 59) and a table (397) over the person.
SEGMENTS = [
    (_box(0, 8, 0, 30), 360),
    (_box(4, 16, 5, 15), 284),
    (_box(16, 20, 0, 6), 1),
    (_box(10, 14, 10, 20), 397),
]


def _expected_context_mask():
    # SegmentationClassContext values (index among the 59 ids + 1): sky 47, person 37, table 50.
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[0:8, :] = 47
    mask[4:16, 5:15] = 37
    mask[10:14, 10:20] = 50
    return mask


def _write_detail_json(ctx, category=None):
    images = [
        {"image_id": int(i.replace("_", "")), "file_name": f"{i}.jpg", "height": H, "width": W, "phase": phase}
        for i, phase in PHASES.items()
    ]
    annos = [
        {"id": k + 1, "image_id": 2008000002, "category_id": category or cat, "segmentation": _rle(m, k % 2 == 0)}
        for k, (m, cat) in enumerate(SEGMENTS)
    ]
    annos.append({"id": 9, "image_id": 2008000003, "category_id": 2, "segmentation": _rle(_box(0, 5, 0, 5), True)})
    path = ctx / "trainval_merged.json"
    path.write_text(json.dumps({"images": images, "annos_segmentation": annos, "categories": []}))
    return path


def _load_split(prefix, name):
    return {
        os.path.basename(d["file_name"])[:-4]: np.array(Image.open(d["sem_seg_file_name"]))
        for d in DatasetCatalog.get(prefix + name)
    }


def test_json_route_writes_segmentation_class_context_as_the_detail_api_paints(
    tmp_path, write_jpeg, load_prepare, catalog_prefix
):
    maps = {image_id: _label_map(i) for i, image_id in enumerate(IDS)}
    ctx = _write_context(tmp_path, write_jpeg, maps, split=False)
    _write_detail_json(ctx)
    # "auto" prefers the json to the .mat files; the split files come from the json's phases.
    assert load_prepare("pascal_context").main(str(tmp_path)) == VAL
    split_dir = ctx / "ImageSets" / "SegmentationContext"
    assert (split_dir / "val.txt").read_text().split() == VAL
    assert (split_dir / "train.txt").read_text().split() == ["2008_000003"]
    written = {p.stem: np.array(Image.open(p)) for p in (ctx / "SegmentationClassContext").glob("*.png")}
    assert sorted(written) == IDS
    np.testing.assert_array_equal(written["2008_000002"], _expected_context_mask())
    np.testing.assert_array_equal(written["2010_000001"], np.zeros((H, W), np.uint8))  # no annotation
    assert (written["2008_000003"][:5, :5] == 1).all() and written["2008_000003"].sum() == 25  # aeroplane

    register_all_pascal_context(str(tmp_path), prefix=catalog_prefix)
    ctx60, ctx59 = _load_split(catalog_prefix, "context60_val"), _load_split(catalog_prefix, "context59_val")
    expected = _expected_context_mask()
    np.testing.assert_array_equal(ctx60["2008_000002"], expected)
    np.testing.assert_array_equal(ctx59["2008_000002"], np.where(expected == 0, 255, expected - 1))
    # Context-459 still comes from the .mat files.
    ctx459 = _load_split(catalog_prefix, "context459_val")
    ids = maps["2008_000002"].astype(int)
    np.testing.assert_array_equal(ctx459["2008_000002"], np.where(ids == 0, 65535, ids - 1))


def test_existing_segmentation_class_context_is_read_first(tmp_path, write_jpeg, load_prepare, catalog_prefix):
    maps = {image_id: _label_map(i) for i, image_id in enumerate(IDS)}
    ctx = _write_context(tmp_path, write_jpeg, maps)
    _write_detail_json(ctx, category=2)  # would paint aeroplanes: must not be read
    masks = {}
    for k, image_id in enumerate(VAL):
        masks[image_id] = (np.arange(H * W).reshape(H, W) + k) % 60
        (ctx / "SegmentationClassContext").mkdir(exist_ok=True)
        Image.fromarray(masks[image_id].astype(np.uint8)).save(ctx / "SegmentationClassContext" / f"{image_id}.png")
    shutil.rmtree(ctx / "trainval")  # Context-459 is then skipped, 60/59 still written
    assert load_prepare("pascal_context").main(str(tmp_path)) == VAL
    register_all_pascal_context(str(tmp_path), prefix=catalog_prefix)
    ctx60, ctx59 = _load_split(catalog_prefix, "context60_val"), _load_split(catalog_prefix, "context59_val")
    for image_id, mask in masks.items():
        np.testing.assert_array_equal(ctx60[image_id], mask)
        np.testing.assert_array_equal(ctx59[image_id], np.where(mask == 0, 255, mask - 1))
    with pytest.raises(FileNotFoundError, match="context459_val"):
        DatasetCatalog.get(catalog_prefix + "context459_val")


def test_mat_route_is_still_available_by_name(tmp_path, write_jpeg, load_prepare, catalog_prefix):
    maps = {image_id: _label_map(i) for i, image_id in enumerate(IDS)}
    ctx = _write_context(tmp_path, write_jpeg, maps)
    _write_detail_json(ctx)
    load_prepare("pascal_context").main(str(tmp_path), source="mat")
    register_all_pascal_context(str(tmp_path), prefix=catalog_prefix)
    got = _load_split(catalog_prefix, "context60_val")["2008_000002"]
    np.testing.assert_array_equal(got, np.vectorize(TO_60.get)(maps["2008_000002"].astype(int)))
    assert not (ctx / "SegmentationClassContext").exists()


def test_bad_context_sources_name_the_file(tmp_path, write_jpeg, load_prepare):
    ctx = _write_context(tmp_path, write_jpeg, {i: _label_map(0) for i in IDS})
    json_path = _write_detail_json(ctx, category=460)
    with pytest.raises(ValueError, match=r"trainval_merged\.json.*category_id 460"):
        load_prepare("pascal_context").main(str(tmp_path))
    json_path.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match=r"trainval_merged\.json.*annos_segmentation"):
        load_prepare("pascal_context").main(str(tmp_path), source="json")
    json_path.unlink()
    with pytest.raises(FileNotFoundError, match="SegmentationClassContext"):
        load_prepare("pascal_context").main(str(tmp_path), source="context")
    (ctx / "SegmentationClassContext").mkdir()
    for image_id in VAL:
        Image.fromarray(np.full((H, W), 60, np.uint8)).save(ctx / "SegmentationClassContext" / f"{image_id}.png")
    with pytest.raises(ValueError, match=r"2008_000002\.png.*\[60\]"):
        load_prepare("pascal_context").main(str(tmp_path))
