import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.data.datasets.sem_seg_catalog import load_prepared_sem_seg, register_sem_seg

CMD = "python datasets/prepare_x.py"


def _write(folder, names, ext):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.fromarray(np.zeros((4, 5), np.uint8)).save(folder / f"{n}.{ext}")


def test_load_pairs_labels_with_their_images_only(tmp_path):
    _write(tmp_path / "img", ["a", "b", "c"], "jpg")
    _write(tmp_path / "gt", ["c", "a"], "png")
    dicts = load_prepared_sem_seg("x", str(tmp_path / "gt"), str(tmp_path / "img"), CMD)
    assert [(d["file_name"], d["sem_seg_file_name"]) for d in dicts] == [
        (str(tmp_path / "img" / "a.jpg"), str(tmp_path / "gt" / "a.png")),
        (str(tmp_path / "img" / "c.jpg"), str(tmp_path / "gt" / "c.png")),
    ]


@pytest.mark.parametrize("missing", ["img", "gt"])
def test_missing_folder_names_path_and_command(tmp_path, missing):
    _write(tmp_path / "img", ["a"], "jpg")
    _write(tmp_path / "gt", ["a"], "png")
    (tmp_path / missing / ("a.jpg" if missing == "img" else "a.png")).unlink()
    (tmp_path / missing).rmdir()
    with pytest.raises(FileNotFoundError) as e:
        load_prepared_sem_seg("x", str(tmp_path / "gt"), str(tmp_path / "img"), CMD)
    assert str(tmp_path / missing) in str(e.value) and CMD in str(e.value)


def test_empty_label_folder_is_an_error(tmp_path):
    _write(tmp_path / "img", ["a"], "jpg")
    (tmp_path / "gt").mkdir()
    with pytest.raises(FileNotFoundError, match="label files"):
        load_prepared_sem_seg("x", str(tmp_path / "gt"), str(tmp_path / "img"), CMD)


@pytest.mark.parametrize("images", [["a"], ["a", "z"]])
def test_label_without_image_is_an_error(tmp_path, images):
    # ["a", "z"]: as many images as labels but different names, which load_sem_seg would pair
    # by position.
    _write(tmp_path / "img", images, "jpg")
    _write(tmp_path / "gt", ["a", "b"], "png")
    with pytest.raises(FileNotFoundError, match=r"1 label file\(s\).*b\.jpg"):
        load_prepared_sem_seg("x", str(tmp_path / "gt"), str(tmp_path / "img"), CMD)


def test_register_sets_metadata_without_touching_disk(tmp_path, catalog_prefix):
    name = catalog_prefix + "toy"
    register_sem_seg(
        name,
        str(tmp_path / "nope_img"),
        str(tmp_path / "nope_gt"),
        CMD,
        ["background", "cat"],
        background_threshold=0.5,
        stuff_synonyms=[["background"], ["cat", "kitten"]],
    )
    meta = MetadataCatalog.get(name)
    assert meta.stuff_classes == ["background", "cat"]
    assert (meta.ignore_label, meta.evaluator_type, meta.background_threshold) == (
        255,
        "sem_seg",
        0.5,
    )
    assert meta.stuff_synonyms[1] == ["cat", "kitten"]
    assert meta.sem_seg_root == str(tmp_path / "nope_gt")
    with pytest.raises(FileNotFoundError, match="prepare_x.py"):
        DatasetCatalog.get(name)
