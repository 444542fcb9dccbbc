import importlib.util
import json
import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from groupvit_d2.data import synthetic
from groupvit_d2.data.image_text_dataset import ImageTextWebDataset
from groupvit_d2.data.synthetic import (
    CATEGORIES,
    CATEGORY_NAMES,
    generate_synthetic_dataset,
    render_sample,
)
from groupvit_d2.data.synthetic import render as render_module

_REPO = pathlib.Path(__file__).resolve().parents[3]


def tree_bytes(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_categories_are_distinct_nouns():
    assert len(CATEGORIES) == 12
    assert len(set(CATEGORY_NAMES)) == 12 and all(
        n.isalpha() and n.islower() for n in CATEGORY_NAMES
    )
    assert len({c.colour for c in CATEGORIES}) == 12
    assert len({c.shape for c in CATEGORIES}) == 12


def test_same_seed_same_bytes(tmp_path):
    kwargs = dict(num_train=7, num_val=3, image_size=24, max_image_size=48, shard_size=3)
    generate_synthetic_dataset(str(tmp_path / "a"), seed=4, **kwargs)
    generate_synthetic_dataset(str(tmp_path / "b"), seed=4, workers=2, **kwargs)
    generate_synthetic_dataset(str(tmp_path / "c"), seed=5, **kwargs)
    a, b, c = (tree_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert sorted(a) == sorted(c) and any(a[k] != c[k] for k in a if k != "meta.json")
    assert sorted(k for k in a if k.startswith("train/")) == [
        f"train/train-{i:06d}.tar" for i in range(3)
    ]


def test_masks_are_the_drawn_objects(monkeypatch):
    drawn = []
    rasterise = render_module.rasterise

    def recording(shape, matrix, offset, height, width):
        parts, union = rasterise(shape, matrix, offset, height, width)
        drawn.append(union)
        return parts, union

    monkeypatch.setattr(render_module, "rasterise", recording)
    colour_errors = []
    for seed in range(40):
        drawn.clear()
        sample = render_sample(np.random.default_rng(seed), 56, 72)
        assert sample.image.shape == (56, 72, 3) and sample.image.dtype == np.uint8
        assert sample.label.shape == (56, 72) and sample.label.dtype == np.uint8
        expected = np.zeros((56, 72), dtype=np.uint8)
        for obj, union in zip(sample.objects, drawn):
            expected[union] = obj["category_id"]
            assert obj["area"] == int(union.sum()) > 0
        assert np.array_equal(sample.label, expected)
        for obj in sample.objects:
            cat = CATEGORIES[obj["category_id"] - 1]
            region = sample.label == obj["category_id"]
            assert obj["visible"] == int(region.sum())
            if cat.texture == "solid" and obj["visible"] > 30:
                median = np.median(sample.image[region].astype(float), axis=0)
                colour_errors.append(np.abs(median - np.array(cat.colour)).max())
        assert 1 <= len(sample.objects) <= 3
        assert any(o["mentioned"] for o in sample.objects)
        for obj in sample.objects:
            if obj["mentioned"]:
                assert obj["category"] in sample.caption
    assert colour_errors and max(colour_errors) < 20


def test_written_files_agree(tmp_path):
    root = tmp_path / "syn"
    meta = generate_synthetic_dataset(
        str(root), seed=0, num_train=6, num_val=4, image_size=32, shard_size=4
    )
    assert meta["train_shards"] == "train/train-{000000..000001}.tar"
    with open(root / "meta.json") as f:
        assert json.load(f) == meta
    with open(root / "annotations" / "val.json") as f:
        records = json.load(f)
    for record in records:
        label = np.asarray(Image.open(root / "val" / "labels" / f"{record['key']}.png"))
        assert label.dtype == np.uint8 and label.shape == (32, 32)
        present = set(np.unique(label).tolist()) - {0}
        assert present == {o["category_id"] for o in record["objects"] if o["visible"]}
    ds = ImageTextWebDataset(
        str(root / meta["train_shards"]), resampled=False, shuffle_buffer=0, rank=0, world_size=1
    )
    samples = list(ds)
    with open(root / "annotations" / "train.json") as f:
        train = {r["key"]: r["caption"] for r in json.load(f)}
    assert {s["key"]: s["caption"] for s in samples} == train
    assert all(s["image"].size == (32, 32) for s in samples)
    train_image = np.asarray(Image.open(root / "train_seg" / "images" / "0000000.jpg"))
    assert np.array_equal(train_image, np.asarray(samples[0]["image"]))


def test_cli_and_bad_arguments(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "generate_synthetic", _REPO / "tools" / "generate_synthetic.py"
    )
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    meta = cli.main(
        [
            "--root",
            str(tmp_path / "cli"),
            "--num-train",
            "2",
            "--num-val",
            "1",
            "--image-size",
            "20",
            "--workers",
            "1",
            "--no-train-seg",
        ]
    )
    assert meta["num_train"] == 2 and not (tmp_path / "cli" / "train_seg").exists()
    assert (tmp_path / "cli" / "val" / "labels" / "0000000.png").is_file()
    with pytest.raises(ValueError, match="image_size"):
        synthetic.generate_synthetic_dataset(str(tmp_path / "x"), image_size=64, max_image_size=32)


def test_object_size_and_full_captions(tmp_path):
    # Objects drawn from a larger half-extent range cover more of the image, and with
    # partial_caption_prob 0 every caption names every visible object.
    kwargs = dict(num_train=0, num_val=40, image_size=64, shard_size=10)
    small = generate_synthetic_dataset(str(tmp_path / "small"), object_size=(0.1, 0.15), **kwargs)
    large = generate_synthetic_dataset(
        str(tmp_path / "large"), object_size=(0.3, 0.35), partial_caption_prob=0.0, **kwargs
    )
    assert small["object_size"] == [0.1, 0.15] and large["partial_caption_prob"] == 0.0

    def records(name):
        with open(tmp_path / name / "annotations" / "val.json") as f:
            return json.load(f)

    def foreground(name):
        labels = [
            np.asarray(Image.open(tmp_path / name / "val" / "labels" / f"{r['key']}.png"))
            for r in records(name)
        ]
        return float(np.mean([(lab > 0).mean() for lab in labels]))

    assert foreground("large") > 2.5 * foreground("small")
    for record in records("large"):
        for obj in record["objects"]:
            half = obj["size"] / 64
            assert 0.3 <= half <= 0.35 + 1e-6
            if obj["area"] and obj["visible"] >= render_module.MIN_VISIBLE_FRACTION * obj["area"]:
                assert obj["mentioned"] and obj["category"] in record["caption"]


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(object_size=(0.3, 0.2)), "object_size"),
        (dict(object_size=(0.0, 0.2)), "object_size"),
        (dict(object_size=(0.2, 0.6)), "object_size"),
        (dict(partial_caption_prob=1.5), "partial_caption_prob"),
    ],
)
def test_bad_generator_options(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        generate_synthetic_dataset(str(tmp_path / "x"), num_train=1, num_val=1, **options)
