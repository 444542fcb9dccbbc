import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.data.datasets.register_voc import register_all_voc

H, W = 20, 30
IDS = ["2007_000001", "2007_000002", "2008_000003"]
VAL = ["2008_000003", "2007_000001"]


def _voc_label(seed):
    label = np.random.default_rng(seed).integers(0, 21, (H, W)).astype(np.uint8)
    label[0, :] = 255  # object boundary
    label[1, :3] = 0
    return label


def _save_palette_png(label, path):
    im = Image.fromarray(label)
    im.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    im.save(path)


def _write_voc(root, write_jpeg, labels, image_sizes=None):
    voc = root / "VOCdevkit" / "VOC2012"
    (voc / "SegmentationClass").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    for seed, (image_id, label) in enumerate(labels.items()):
        h, w = (image_sizes or {}).get(image_id, label.shape)
        write_jpeg(voc / "JPEGImages" / f"{image_id}.jpg", h, w, seed)
        _save_palette_png(label, voc / "SegmentationClass" / f"{image_id}.png")
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(VAL) + "\n")
    return voc


def test_prepare_then_load_gives_the_written_labels(
    tmp_path, write_jpeg, load_prepare, catalog_prefix
):
    labels = {image_id: _voc_label(i) for i, image_id in enumerate(IDS)}
    voc = _write_voc(tmp_path, write_jpeg, labels)
    assert load_prepare("voc").main(str(tmp_path)) == VAL

    register_all_voc(str(tmp_path), prefix=catalog_prefix)
    for name in ("voc21_val", "voc20_val"):
        dicts = DatasetCatalog.get(catalog_prefix + name)
        # Only the val ids, although JPEGImages holds a third image.
        assert [os.path.basename(d["file_name"]) for d in dicts] == [
            "2007_000001.jpg",
            "2008_000003.jpg",
        ]
        for d in dicts:
            image_id = os.path.basename(d["file_name"])[:-4]
            assert d["file_name"] == str(voc / "JPEGImages" / f"{image_id}.jpg")
            got = np.array(Image.open(d["sem_seg_file_name"]))
            original = labels[image_id]
            if name == "voc21_val":
                expected = original
            else:
                expected = np.where(
                    (original == 0) | (original == 255), 255, original.astype(int) - 1
                )
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, expected)
    # Pixel by pixel on known positions: the boundary row stays ignored, background is
    # class 0 in voc21 and ignored in voc20.
    got21 = np.array(Image.open(voc / "annotations_detectron2" / "voc21_val" / "2007_000001.png"))
    got20 = np.array(Image.open(voc / "annotations_detectron2" / "voc20_val" / "2007_000001.png"))
    assert (got21[0] == 255).all() and (got20[0] == 255).all()
    assert (got21[1, :3] == 0).all() and (got20[1, :3] == 255).all()
    r, c = np.argwhere(labels["2007_000001"] == 15)[0]
    assert got21[r, c] == 15 and got20[r, c] == 14


def test_metadata(tmp_path, catalog_prefix):
    register_all_voc(str(tmp_path), prefix=catalog_prefix)
    m21 = MetadataCatalog.get(catalog_prefix + "voc21_val")
    m20 = MetadataCatalog.get(catalog_prefix + "voc20_val")
    assert len(m21.stuff_classes) == 21 and m21.stuff_classes[0] == "background"
    assert m21.stuff_classes[1:] == m20.stuff_classes
    assert m20.stuff_classes[0] == "aeroplane" and m20.stuff_classes[-1] == "monitor"
    assert m20.stuff_classes[10] == "table" and m20.stuff_classes[15] == "plant"
    assert (m21.background_threshold, m20.background_threshold) == (0.95, None)
    for m in (m21, m20):
        assert (m.ignore_label, m.evaluator_type) == (255, "sem_seg")
        assert m.image_root == str(tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages")
    assert m20.sem_seg_root.endswith(os.path.join("annotations_detectron2", "voc20_val"))


def test_unprepared_dataset_names_path_and_command(tmp_path, write_jpeg, catalog_prefix):
    write_jpeg(tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages" / "a.jpg", H, W)
    register_all_voc(str(tmp_path), prefix=catalog_prefix)
    with pytest.raises(FileNotFoundError) as e:
        DatasetCatalog.get(catalog_prefix + "voc20_val")
    msg = str(e.value)
    assert "python datasets/prepare_voc.py" in msg
    assert str(tmp_path / "VOCdevkit" / "VOC2012" / "annotations_detectron2" / "voc20_val") in msg


def test_label_size_mismatch_names_both_files(tmp_path, write_jpeg, load_prepare):
    labels = {image_id: _voc_label(i) for i, image_id in enumerate(IDS)}
    voc = _write_voc(tmp_path, write_jpeg, labels, image_sizes={"2008_000003": (H, W + 1)})
    with pytest.raises(ValueError) as e:
        load_prepare("voc").main(str(tmp_path))
    msg = str(e.value)
    assert str(voc / "SegmentationClass" / "2008_000003.png") in msg
    assert str(voc / "JPEGImages" / "2008_000003.jpg") in msg
    assert "20x30" in msg and "20x31" in msg


def test_bad_value_fails_and_leaves_no_partial_output(tmp_path, write_jpeg, load_prepare):
    labels = {image_id: _voc_label(i) for i, image_id in enumerate(IDS)}
    labels["2007_000001"][5, 5] = 21  # second val id: the first one is already written
    voc = _write_voc(tmp_path, write_jpeg, labels)
    with pytest.raises(ValueError, match=r"2007_000001\.png.*\[21\]"):
        load_prepare("voc").main(str(tmp_path))
    assert not (voc / "annotations_detectron2" / "voc21_val").exists()
    assert not (voc / "annotations_detectron2" / "voc21_val.partial").exists()


def test_rgb_label_is_rejected(tmp_path, write_jpeg, load_prepare):
    labels = {image_id: _voc_label(i) for i, image_id in enumerate(IDS)}
    voc = _write_voc(tmp_path, write_jpeg, labels)
    Image.open(voc / "SegmentationClass" / "2008_000003.png").convert("RGB").save(
        voc / "SegmentationClass" / "2008_000003.png"
    )
    with pytest.raises(ValueError, match="palette PNG"):
        load_prepare("voc").main(str(tmp_path))


def test_missing_official_files_are_named(tmp_path, load_prepare):
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        load_prepare("voc").main(str(tmp_path))
