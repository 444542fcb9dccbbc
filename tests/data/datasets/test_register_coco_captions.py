import json

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from groupvit_d2.data.datasets.register_coco_captions import register_all_coco_captions


def write_coco_captions(root, write_jpeg):
    images = [
        {"id": 9, "file_name": "000000000009.jpg", "height": 10, "width": 12},
        {"id": 3, "file_name": "000000000003.jpg", "height": 8, "width": 6},
        {"id": 5, "file_name": "000000000005.jpg", "height": 8, "width": 8},  # no caption
    ]
    annotations = [
        {"id": 1, "image_id": 9, "caption": "A plate of food. "},
        {"id": 2, "image_id": 3, "caption": "a dog"},
        {"id": 3, "image_id": 9, "caption": "Some food on a table"},
        {"id": 4, "image_id": 3, "caption": "   "},
    ]
    (root / "coco" / "annotations").mkdir(parents=True)
    with open(root / "coco" / "annotations" / "captions_train2017.json", "w") as f:
        json.dump({"images": images, "annotations": annotations}, f)
    for image in images:
        write_jpeg(
            root / "coco" / "train2017" / image["file_name"], image["height"], image["width"]
        )


def test_coco_captions_dicts(tmp_path, write_jpeg, catalog_prefix):
    write_coco_captions(tmp_path, write_jpeg)
    register_all_coco_captions(str(tmp_path), prefix=catalog_prefix)
    dicts = DatasetCatalog.get(catalog_prefix + "coco_captions_train2017")
    assert [d["image_id"] for d in dicts] == [3, 9]
    assert dicts[0] == {
        "file_name": str(tmp_path / "coco" / "train2017" / "000000000003.jpg"),
        "image_id": 3,
        "height": 8,
        "width": 6,
        "captions": ["a dog"],
    }
    assert dicts[1]["captions"] == ["A plate of food.", "Some food on a table"]
    meta = MetadataCatalog.get(catalog_prefix + "coco_captions_train2017")
    assert meta.image_root == str(tmp_path / "coco" / "train2017")


def test_missing_files_name_the_path(tmp_path, catalog_prefix):
    register_all_coco_captions(str(tmp_path), prefix=catalog_prefix)
    with pytest.raises(FileNotFoundError, match="captions_val2017.json"):
        DatasetCatalog.get(catalog_prefix + "coco_captions_val2017")
