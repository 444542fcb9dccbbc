import io
import json
import logging

import numpy as np
import pytest
import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader

from groupvit_d2.data import image_text_dataset as itd
from groupvit_d2.data.image_text_dataset import ImageTextWebDataset, expand_shards


def encode(mode="RGB", fmt="JPEG", size=(8, 6), seed=0):
    rng = np.random.default_rng(seed)
    if mode == "P":
        image = Image.fromarray(rng.integers(0, 4, size[::-1], dtype=np.uint8), mode="L").convert(
            "P"
        )
    else:
        channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
        pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def write_shard(path, samples):
    with wds.TarWriter(str(path), encoder=False) as writer:
        for sample in samples:
            writer.write(
                {
                    k: v.encode() if isinstance(v, str) and k != "__key__" else v
                    for k, v in sample.items()
                }
            )
    return str(path)


def plain_samples(prefix, n):
    return [
        {"__key__": f"{prefix}{i:03d}", "jpg": encode(seed=i), "txt": f"caption {prefix} {i}"}
        for i in range(n)
    ]


def keys_of(dataset, num_workers=0):
    dataset.mapper = lambda s: s["key"]
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers)
    return list(loader)


@pytest.fixture
def four_shards(tmp_path):
    """Two corpora ("a", "b") of two shards each, 5 samples a shard."""
    for corpus in "ab":
        for s in range(2):
            write_shard(tmp_path / f"{corpus}-{s:06d}.tar", plain_samples(f"{corpus}{s}_", 5))
    return [str(tmp_path / "a-{000000..000001}.tar"), str(tmp_path / "b-{000000..000001}.tar")]


def test_expand_shards(tmp_path, four_shards, caplog):
    assert expand_shards(four_shards[0]) == [
        str(tmp_path / "a-000000.tar"),
        str(tmp_path / "a-000001.tar"),
    ]
    assert len(expand_shards(str(tmp_path / "*.tar"))) == 4
    with caplog.at_level(logging.WARNING):
        assert len(expand_shards(str(tmp_path / "a-{000000..000002}.tar"))) == 2
    assert "1 of 3 shards are missing" in caplog.text
    with pytest.raises(FileNotFoundError, match="SHARDS"):
        expand_shards(str(tmp_path / "c-{000000..000001}.tar"))
    assert (
        expand_shards("pipe:curl -s http://host/x-{0..2}.tar")[2]
        == "pipe:curl -s http://host/x-2.tar"
    )


@pytest.mark.parametrize("shuffle_buffer", [0, 4])
def test_two_ranks_two_workers_read_each_sample_once(four_shards, shuffle_buffer):
    seen = []
    for rank in range(2):
        ds = ImageTextWebDataset(
            four_shards,
            resampled=False,
            shuffle_buffer=shuffle_buffer,
            seed=3,
            rank=rank,
            world_size=2,
        )
        keys = keys_of(ds, num_workers=2)
        assert len(keys) == 10  # one shard (5 samples) for each of its two workers
        seen += keys
    assert sorted(seen) == sorted(
        f"{c}{s}_{i:03d}" for c in "ab" for s in range(2) for i in range(5)
    )


def test_two_shards_over_four_readers_still_partition(tmp_path):
    for s in range(2):
        write_shard(tmp_path / f"x-{s:06d}.tar", plain_samples(f"x{s}_", 3))
    pattern = str(tmp_path / "x-{000000..000001}.tar")
    seen = []
    for rank in range(2):
        for worker in range(2):
            ds = ImageTextWebDataset(
                pattern, resampled=False, shuffle_buffer=0, rank=rank, world_size=2
            )
            seen += [s["key"] for s in ds._epoch_samples(0, worker, 2)]
    assert sorted(seen) == sorted(f"x{s}_{i:03d}" for s in range(2) for i in range(3))


def test_resampled_epoch_share_and_weights(four_shards):
    ds = ImageTextWebDataset(
        four_shards, epoch_length=10, resampled=True, shuffle_buffer=0, seed=0, rank=1, world_size=2
    )
    assert [ds.samples_per_worker(w, 2) for w in range(2)] == [3, 2]
    assert len(keys_of(ds, num_workers=2)) == 5
    # Shards are redrawn: an epoch longer than the data does not end early.
    long = ImageTextWebDataset(
        four_shards,
        weights=[3, 1],
        epoch_length=800,
        resampled=True,
        shuffle_buffer=8,
        seed=1,
        rank=0,
        world_size=1,
    )
    keys = keys_of(long)
    assert len(keys) == 800
    share_a = sum(k.startswith("a") for k in keys) / len(keys)
    assert abs(share_a - 0.75) < 0.06
    # Same seed, same stream; the next epoch differs.
    again = ImageTextWebDataset(
        four_shards,
        weights=[3, 1],
        epoch_length=800,
        resampled=True,
        shuffle_buffer=8,
        seed=1,
        rank=0,
        world_size=1,
    )
    assert keys_of(again) == keys
    again.set_epoch(1)
    assert keys_of(again) != keys


def test_infinite_runs_over_epochs(four_shards):
    ds = ImageTextWebDataset(
        four_shards,
        epoch_length=4,
        infinite=True,
        shuffle_buffer=0,
        seed=0,
        rank=0,
        world_size=1,
        mapper=lambda s: s["key"],
    )
    it = iter(ds)
    assert len([next(it) for _ in range(13)]) == 13


def bad_and_odd_samples(tag):
    return [
        {"__key__": f"{tag}good", "jpg": encode(), "txt": "a good caption"},
        {"__key__": f"{tag}corrupt", "jpg": b"\xff\xd8\xff not a jpeg", "txt": "broken image"},
        {"__key__": f"{tag}nocaption", "jpg": encode()},
        {"__key__": f"{tag}emptycaption", "jpg": encode(), "txt": "  \n "},
        {"__key__": f"{tag}noimage", "txt": "a caption alone"},
        {"__key__": f"{tag}badjson", "jpg": encode(), "json": "{not json"},
        {"__key__": f"{tag}gray", "jpg": encode("L"), "txt": "grey"},
        {"__key__": f"{tag}cmyk", "jpg": encode("CMYK"), "txt": "cmyk"},
        {"__key__": f"{tag}palette", "png": encode("P", "PNG"), "txt": "palette"},
        {
            "__key__": f"{tag}jsonlist",
            "jpeg": encode(),
            "json": json.dumps({"captions": ["", "from a list"]}),
        },
        {
            "__key__": f"{tag}jsontext",
            "webp": encode(fmt="WEBP"),
            "json": json.dumps({"text": "from text"}),
        },
    ]


def test_bad_samples_are_skipped_and_counted(tmp_path, caplog):
    shard = write_shard(tmp_path / "odd-000000.tar", bad_and_odd_samples(""))
    ds = ImageTextWebDataset(
        shard, resampled=False, shuffle_buffer=0, rank=0, world_size=1, log_period=5
    )
    with caplog.at_level(logging.INFO, logger=itd.__name__):
        samples = list(ds)
    assert {s["key"]: s["caption"] for s in samples} == {
        "good": "a good caption",
        "gray": "grey",
        "cmyk": "cmyk",
        "palette": "palette",
        "jsonlist": "from a list",
        "jsontext": "from text",
    }
    assert all(s["image"].mode == "RGB" and s["image"].size == (8, 6) for s in samples)
    assert ds.skipped == {
        "read_error": 0,
        "missing_image": 1,
        "corrupt_image": 1,
        "missing_caption": 1,
        "bad_caption": 1,
        "empty_caption": 1,
        "mapper": 0,
    }
    converted = {m: n for m, n in ds.converted.items() if n}
    assert converted == {"L": 1, "CMYK": 1, "P": 1}
    assert ds.counter.seen == 11
    assert (
        "corrupt" in caplog.text
        and "11 samples read" not in caplog.text
        and "10 samples read" in caplog.text
    )


def test_counts_are_shared_by_workers_and_bad_shards_skipped(tmp_path):
    write_shard(tmp_path / "odd-000000.tar", bad_and_odd_samples("s0"))
    write_shard(tmp_path / "odd-000001.tar", bad_and_odd_samples("s1"))
    (tmp_path / "odd-000002.tar").write_bytes(b"this is no tar file" * 100)
    ds = ImageTextWebDataset(
        str(tmp_path / "odd-{000000..000002}.tar"),
        resampled=False,
        shuffle_buffer=0,
        rank=0,
        world_size=1,
    )
    keys = keys_of(ds, num_workers=2)
    assert len(keys) == 12
    skipped = ds.skipped
    assert skipped["read_error"] >= 1
    assert {k: v for k, v in skipped.items() if k != "read_error"} == {
        "missing_image": 2,
        "corrupt_image": 2,
        "missing_caption": 2,
        "bad_caption": 2,
        "empty_caption": 2,
        "mapper": 0,
    }
    assert ds.converted["CMYK"] == 2


def test_mapper_none_skips_and_broken_streams_fail_loudly(tmp_path, monkeypatch):
    shard = write_shard(tmp_path / "bad-000000.tar", bad_and_odd_samples("")[1:6])
    ds = ImageTextWebDataset(
        shard, resampled=True, epoch_length=5, shuffle_buffer=0, rank=0, world_size=1
    )
    monkeypatch.setattr(itd, "MAX_CONSECUTIVE_FAILURES", 50)
    with pytest.raises(RuntimeError, match="consecutive samples"):
        list(ds)
    good = write_shard(tmp_path / "good-000000.tar", plain_samples("g", 4))
    ds = ImageTextWebDataset(
        good,
        resampled=False,
        shuffle_buffer=0,
        rank=0,
        world_size=1,
        mapper=lambda s: None if s["key"] == "g001" else s["key"],
    )
    assert list(ds) == ["g000", "g002", "g003"]
    assert ds.skipped["mapper"] == 1


def test_bad_configuration(four_shards):
    with pytest.raises(ValueError, match="WEIGHTS"):
        ImageTextWebDataset(four_shards, weights=[1.0])
    with pytest.raises(ValueError, match="WEIGHTS"):
        ImageTextWebDataset(four_shards, weights=[1.0, 0.0])
    with pytest.raises(ValueError, match="SHARDS is empty"):
        ImageTextWebDataset([])
    with pytest.raises(ValueError, match="EPOCH_LENGTH"):
        ImageTextWebDataset(four_shards, epoch_length=1, rank=0, world_size=2)


def test_from_config(four_shards):
    from detectron2.config import get_cfg

    from groupvit_d2 import add_groupvit_config

    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.DATASETS.IMAGE_TEXT.SHARDS = four_shards
    cfg.DATASETS.IMAGE_TEXT.WEIGHTS = [1.0, 2.0]
    cfg.DATASETS.IMAGE_TEXT.EPOCH_LENGTH = 6
    cfg.DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER = 0
    cfg.SEED = 5
    ds = ImageTextWebDataset(cfg, infinite=False)
    assert ds.weights == [1.0, 2.0] and ds.seed == 5 and ds.resampled and ds.samples_per_rank == 6
    assert len(list(ds)) == 6


def test_endless_stream_without_samples_is_an_error(four_shards):
    # One sample for rank 1: its second worker would get none.
    ds = ImageTextWebDataset(four_shards, epoch_length=2, infinite=True, rank=1, world_size=2)
    with pytest.raises(ValueError, match="EPOCH_LENGTH"):
        list(DataLoader(ds, batch_size=None, num_workers=2))
    ds = ImageTextWebDataset(four_shards, resampled=False, infinite=True, rank=5, world_size=8)
    with pytest.raises(ValueError, match="RESAMPLE"):
        next(iter(ds))
