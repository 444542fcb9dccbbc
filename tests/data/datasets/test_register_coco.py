import json
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES
from PIL import Image

from groupvit_d2.data.datasets.register_coco_object import register_all_coco_object
from groupvit_d2.data.datasets.register_coco_stuff import register_all_coco_stuff

H, W = 20, 30
NAMES = ["000000000139", "000000000285"]


def _box(r0, r1, c0, c1):
    m = np.zeros((H, W), dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def _compressed_rle(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def _uncompressed_rle(mask):
    # Run lengths over the column-major pixel order, starting with a run of zeros.
    flat = mask.flatten(order="F").astype(int)
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return {"size": [H, W], "counts": counts}


PERSON, DOG, TOOTHBRUSH = 1, 18, 90  # COCO category ids
ANNOTATIONS = [  # (mask, category id, crowd), in json order, all on the first image
    (_box(2, 10, 3, 12), PERSON, 0),
    (_box(5, 15, 8, 20), DOG, 0),  # over the person where they overlap
    (_box(0, 20, 15, 30), PERSON, 1),  # crowd: under the dog, ignored elsewhere
    (_box(16, 20, 0, 5), TOOTHBRUSH, 0),
]


def _expected_object_label():
    # Labels 1, 17 and 80: person, dog and toothbrush in the 80-thing order.
    label = np.zeros((H, W), dtype=np.uint8)
    label[_box(0, 20, 15, 30)] = 255
    label[_box(2, 10, 3, 12)] = 1
    label[_box(5, 15, 8, 20)] = 17
    label[_box(16, 20, 0, 5)] = 80
    return label


def _write_coco(root, write_jpeg, categories=None, json_size=(H, W)):
    coco = root / "coco"
    for seed, name in enumerate(NAMES):
        write_jpeg(coco / "val2017" / f"{name}.jpg", H, W, seed)
    things = [{"id": c["id"], "name": c["name"]} for c in COCO_CATEGORIES if c["isthing"]]
    anns = [
        {
            "id": k + 1,
            "image_id": 139,
            "category_id": cat,
            "iscrowd": crowd,
            "segmentation": _uncompressed_rle(m) if crowd else _compressed_rle(m),
            "area": float(m.sum()),
            "bbox": [0, 0, 1, 1],
        }
        for k, (m, cat, crowd) in enumerate(ANNOTATIONS)
    ]
    images = [
        {"id": int(n), "file_name": f"{n}.jpg", "height": json_size[0], "width": json_size[1]}
        for n in NAMES
    ]
    (coco / "annotations").mkdir(parents=True)
    content = {"images": images, "annotations": anns, "categories": categories or things}
    (coco / "annotations" / "instances_val2017.json").write_text(json.dumps(content))
    return coco


# (stuffthingmap value, COCO-Object label, COCO-Stuff-171 label). Map values are category id - 1:
# person, stop sign (id 13, after the unused 12), dog, toothbrush, banner (first stuff, id 92),
# wood (last stuff, id 182), unlabeled.
STUFFTHING_CASES = [
    (0, 1, 0),
    (12, 12, 11),
    (17, 17, 16),
    (89, 80, 79),
    (91, 0, 80),
    (181, 0, 170),
    (255, 0, 255),
]


def _write_stuffthingmaps(coco, bad_value=None):
    values = np.array([v for v, _, _ in STUFFTHING_CASES], dtype=np.uint8)
    (coco / "stuffthingmaps" / "val2017").mkdir(parents=True)
    maps = {}
    for k, name in enumerate(NAMES):
        m = np.roll(values[np.arange(H * W) % len(values)], k).reshape(H, W)
        if bad_value is not None:
            m[1, 1] = bad_value
        Image.fromarray(m).save(coco / "stuffthingmaps" / "val2017" / f"{name}.png")
        maps[name] = m
    return maps


def test_object_from_instances(tmp_path, write_jpeg, load_prepare, catalog_prefix):
    _write_coco(tmp_path, write_jpeg)
    assert load_prepare("coco_object").main(str(tmp_path), source="instances") == NAMES
    register_all_coco_object(str(tmp_path), prefix=catalog_prefix)
    dicts = DatasetCatalog.get(catalog_prefix + "coco_object_instances_val")
    assert [os.path.basename(d["file_name"]) for d in dicts] == [f"{n}.jpg" for n in NAMES]
    got = [np.array(Image.open(d["sem_seg_file_name"])) for d in dicts]
    np.testing.assert_array_equal(got[0], _expected_object_label())
    np.testing.assert_array_equal(got[1], np.zeros((H, W), np.uint8))  # no annotations
    meta = MetadataCatalog.get(catalog_prefix + "coco_object_instances_val")
    assert [meta.stuff_classes[i] for i in (0, 1, 17, 80)] == [
        "background",
        "person",
        "dog",
        "toothbrush",
    ]
    assert len(meta.stuff_classes) == 81
    assert (meta.background_threshold, meta.ignore_label, meta.evaluator_type) == (
        0.95,
        255,
        "sem_seg",
    )


def test_object_and_stuff_from_stuffthingmaps(tmp_path, write_jpeg, load_prepare, catalog_prefix):
    coco = _write_coco(tmp_path, write_jpeg)
    maps = _write_stuffthingmaps(coco)
    load_prepare("coco_object").main(str(tmp_path))  # the official route is the default
    load_prepare("coco_stuff").main(str(tmp_path))
    register_all_coco_object(str(tmp_path), prefix=catalog_prefix)
    register_all_coco_stuff(str(tmp_path), prefix=catalog_prefix)
    for name, column in (("coco_object_val", 1), ("coco_stuff171_val", 2)):
        dicts = DatasetCatalog.get(catalog_prefix + name)
        assert len(dicts) == 2
        for d in dicts:
            source = maps[os.path.basename(d["file_name"])[:-4]]
            got = np.array(Image.open(d["sem_seg_file_name"]))
            for case in STUFFTHING_CASES:
                assert (got[source == case[0]] == case[column]).all(), (name, case)
    meta = MetadataCatalog.get(catalog_prefix + "coco_stuff171_val")
    assert len(meta.stuff_classes) == 171 and meta.background_threshold is None
    assert [meta.stuff_classes[i] for i in (0, 11, 79, 80, 170)] == [
        "person",
        "stop sign",
        "toothbrush",
        "banner",
        "wood",
    ]
    assert meta.ignore_label == 255 and "background" not in meta.stuff_classes


def _stuffthingmap_as_coco_stuff_paints_it():
    """The first image's COCO-Stuff map made from ANNOTATIONS the way COCO-Stuff made its maps:
    the non-crowd things in json order (category id - 1), a stuff region (id 149, "grass", under
    the things), and 255 (unlabeled) elsewhere, crowd regions included."""
    stuffthingmap = np.full((H, W), 255, dtype=np.uint8)
    stuffthingmap[0:2] = 149 - 1
    for mask, category, crowd in ANNOTATIONS:
        if not crowd:
            stuffthingmap[mask] = category - 1
    return stuffthingmap


def test_official_and_instances_routes_differ_as_their_rules_say(tmp_path, write_jpeg, load_prepare,
                                                               catalog_prefix):
    coco = _write_coco(tmp_path, write_jpeg)
    (coco / "stuffthingmaps" / "val2017").mkdir(parents=True)
    stuffthingmap = _stuffthingmap_as_coco_stuff_paints_it()
    Image.fromarray(stuffthingmap).save(coco / "stuffthingmaps" / "val2017" / f"{NAMES[0]}.png")
    Image.fromarray(np.full((H, W), 255, np.uint8)).save(coco / "stuffthingmaps" / "val2017" / f"{NAMES[1]}.png")
    prepare = load_prepare("coco_object")
    prepare.main(str(tmp_path))
    prepare.main(str(tmp_path), source="instances")
    register_all_coco_object(str(tmp_path), prefix=catalog_prefix)
    official, instances = (
        np.array(Image.open(DatasetCatalog.get(catalog_prefix + name)[0]["sem_seg_file_name"]))
        for name in ("coco_object_val", "coco_object_instances_val")
    )
    crowd_only = _box(0, 20, 15, 30) & ~_box(5, 15, 8, 20)
    # A crowd region: background in the official route, ignored in the instances route.
    assert (official[crowd_only] == 0).all() and (instances[crowd_only] == 255).all()
    # Stuff and unlabeled pixels are background; nothing is ignored in the official route.
    assert (official[0:2, 0:3] == 0).all() and 255 not in official
    # The things agree: person 1, dog 17 (over the person), toothbrush 80.
    things = instances != 255
    np.testing.assert_array_equal(official[things], instances[things])
    assert official[3, 4] == 1 and official[6, 9] == 17 and official[17, 1] == 80


@pytest.mark.parametrize("script", ["coco_stuff", "coco_object"])
def test_unused_stuffthingmap_value_is_rejected(tmp_path, write_jpeg, load_prepare, script):
    coco = _write_coco(tmp_path, write_jpeg)
    _write_stuffthingmaps(coco, bad_value=11)  # id 12 is not a COCO-Stuff class
    with pytest.raises(ValueError, match=r"000000000139\.png.*\[11\]"):
        load_prepare(script).main(str(tmp_path))


def test_stuffthingmap_size_mismatch_names_both_files(tmp_path, write_jpeg, load_prepare):
    coco = _write_coco(tmp_path, write_jpeg)
    _write_stuffthingmaps(coco)
    write_jpeg(coco / "val2017" / "000000000285.jpg", H, W - 1)
    with pytest.raises(ValueError) as e:
        load_prepare("coco_stuff").main(str(tmp_path))
    assert str(coco / "stuffthingmaps" / "val2017" / "000000000285.png") in str(e.value)
    assert str(coco / "val2017" / "000000000285.jpg") in str(e.value)


def test_json_size_mismatch_names_json_and_image(tmp_path, write_jpeg, load_prepare):
    coco = _write_coco(tmp_path, write_jpeg, json_size=(H, W + 2))
    with pytest.raises(ValueError) as e:
        load_prepare("coco_object").main(str(tmp_path), source="instances")
    assert "instances_val2017.json" in str(e.value)
    assert str(coco / "val2017" / "000000000139.jpg") in str(e.value)


def test_unexpected_categories_are_rejected(tmp_path, write_jpeg, load_prepare):
    things = [{"id": c["id"], "name": c["name"]} for c in COCO_CATEGORIES if c["isthing"]]
    things[16]["name"] = "puppy"  # dog, id 18
    _write_coco(tmp_path, write_jpeg, categories=things)
    with pytest.raises(ValueError, match="18: 'puppy' vs 'dog'"):
        load_prepare("coco_object").main(str(tmp_path), source="instances")


def test_unprepared_datasets_name_path_and_command(tmp_path, write_jpeg, catalog_prefix):
    write_jpeg(tmp_path / "coco" / "val2017" / "a.jpg", H, W)
    register_all_coco_object(str(tmp_path), prefix=catalog_prefix)
    register_all_coco_stuff(str(tmp_path), prefix=catalog_prefix)
    for name, command, folder in (
        ("coco_object_val", "prepare_coco_object.py", "coco_object_detectron2"),
        ("coco_object_instances_val", "prepare_coco_object.py --source instances",
         "coco_object_instances_detectron2"),
        ("coco_stuff171_val", "prepare_coco_stuff.py", "stuffthingmaps_detectron2"),
    ):
        with pytest.raises(FileNotFoundError) as e:
            DatasetCatalog.get(catalog_prefix + name)
        assert f"python datasets/{command}" in str(e.value)
        assert str(tmp_path / "coco" / folder / "val2017") in str(e.value)
