"""Write the synthetic benchmark to disk, reproducibly from a seed.

Layout under `root`:
    meta.json                        seed, sizes, categories, the train shard pattern
    train/train-000000.tar ...       webdataset shards: <key>.jpg + <key>.txt (caption)
    train_seg/images/<key>.jpg       the same training images ...
    train_seg/labels/<key>.png       ... and their label maps (for oracle / kNN diagnostics)
    val/images/<key>.jpg, val/labels/<key>.png
    annotations/{train,val}.json     per image: key, size, background, caption, objects
Label PNGs hold 0 for background and i + 1 for CATEGORIES[i]; there is no ignore region, since the
masks are exactly the painted pixels. Each image draws from its own generator seeded by
(seed, split, index), so the output does not depend on the number of worker processes.
"""

import io
import json
import logging
import math
import multiprocessing
import os

import numpy as np
import webdataset as wds
from PIL import Image

from .categories import BACKGROUND_NAMES, CATEGORIES
from .captions import PARTIAL_CAPTION_PROB
from .render import SIZE_RANGE, render_sample

__all__ = ["generate_synthetic_dataset", "render_indexed", "FORMAT_VERSION"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SPLIT_CODES = {"train": 0, "val": 1}
JPEG_QUALITY = 90


def render_indexed(seed, split, index, min_size, max_size, **options):
    """Render image `index` of `split` as a SyntheticSample; `options` go to `render_sample`."""
    rng = np.random.default_rng([int(seed), _SPLIT_CODES[split], int(index)])
    height, width = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
    return render_sample(rng, height, width, **options)


def _encode(args):
    seed, split, index, min_size, max_size, options = args
    sample = render_indexed(seed, split, index, min_size, max_size, **options)
    jpg, png = io.BytesIO(), io.BytesIO()
    Image.fromarray(sample.image).save(jpg, format="JPEG", quality=JPEG_QUALITY)
    Image.fromarray(sample.label).save(png, format="PNG")
    record = {
        "key": f"{index:07d}",
        "height": int(sample.image.shape[0]),
        "width": int(sample.image.shape[1]),
        "background": sample.background,
        "caption": sample.caption,
        "objects": sample.objects,
    }
    return record, jpg.getvalue(), png.getvalue()


def _samples(split, count, seed, min_size, max_size, workers, options):
    jobs = [(seed, split, i, min_size, max_size, options) for i in range(count)]
    if workers <= 1:
        yield from map(_encode, jobs)
        return
    # fork starts workers at once; spawn would re-import torch and Detectron2 in each of them.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        yield from pool.imap(_encode, jobs, chunksize=16)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def generate_synthetic_dataset(
    root,
    seed=0,
    num_train=2000,
    num_val=200,
    image_size=128,
    max_image_size=None,
    shard_size=500,
    workers=1,
    write_train_seg=True,
    object_size=SIZE_RANGE,
    partial_caption_prob=PARTIAL_CAPTION_PROB,
):
    """
    Write the synthetic benchmark under `root` (see the module doc for the layout).

    Args:
        seed (int): everything written follows from it (same seed, same bytes).
        num_train, num_val (int): image counts.
        image_size, max_image_size (int): each image's height and width are drawn from
            [image_size, max_image_size] (default: square images of image_size).
        shard_size (int): samples per training shard.
        workers (int): rendering processes.
        write_train_seg (bool): also write train_seg/ (training images with their label maps).
        object_size (tuple[float, float]): range of an object's half-extent, as a fraction of the
            image's short side.
        partial_caption_prob (float): how often a caption of several objects names only some.

    Returns:
        dict: the content of meta.json.
    """
    max_image_size = image_size if max_image_size is None else max_image_size
    if not 16 <= image_size <= max_image_size:
        raise ValueError(
            f"image sizes must satisfy 16 <= image_size ({image_size}) <= max_image_size ({max_image_size})"
        )
    low, high = (float(v) for v in object_size)
    if not 0.0 < low <= high <= 0.5:
        raise ValueError(f"object_size must satisfy 0 < low <= high <= 0.5, got {tuple(object_size)}")
    if not 0.0 <= partial_caption_prob <= 1.0:
        raise ValueError(f"partial_caption_prob must lie in [0, 1], got {partial_caption_prob}")
    options = {"size_range": (low, high), "partial_caption_prob": float(partial_caption_prob)}
    if num_train < 0 or num_val < 0 or shard_size < 1:
        raise ValueError(
            f"need num_train, num_val >= 0 and shard_size >= 1, got {num_train}, {num_val}, {shard_size}"
        )
    for sub in (
        "train",
        "train_seg/images",
        "train_seg/labels",
        "val/images",
        "val/labels",
        "annotations",
    ):
        if sub.startswith("train_seg") and not write_train_seg:
            continue
        os.makedirs(os.path.join(root, sub), exist_ok=True)

    num_shards = max(1, math.ceil(num_train / shard_size)) if num_train else 0
    records = {"train": [], "val": []}
    writer = None
    for i, (record, jpg, png) in enumerate(
        _samples("train", num_train, seed, image_size, max_image_size, workers, options)
    ):
        if i % shard_size == 0:
            if writer is not None:
                writer.close()
            shard = os.path.join(root, "train", f"train-{i // shard_size:06d}.tar")
            writer = wds.TarWriter(
                shard, mtime=0, encoder=False, user="synthetic", group="synthetic"
            )
        writer.write(
            {"__key__": record["key"], "jpg": jpg, "txt": record["caption"].encode("utf-8")}
        )
        if write_train_seg:
            _write(os.path.join(root, "train_seg", "images", record["key"] + ".jpg"), jpg)
            _write(os.path.join(root, "train_seg", "labels", record["key"] + ".png"), png)
        records["train"].append(record)
    if writer is not None:
        writer.close()
    for record, jpg, png in _samples("val", num_val, seed, image_size, max_image_size, workers, options):
        _write(os.path.join(root, "val", "images", record["key"] + ".jpg"), jpg)
        _write(os.path.join(root, "val", "labels", record["key"] + ".png"), png)
        records["val"].append(record)
    for split, recs in records.items():
        with open(os.path.join(root, "annotations", f"{split}.json"), "w") as f:
            json.dump(recs, f, indent=0, sort_keys=True)

    meta = {
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "num_train": int(num_train),
        "num_val": int(num_val),
        "image_size": [int(image_size), int(max_image_size)],
        "shard_size": int(shard_size),
        "object_size": [low, high],
        "partial_caption_prob": float(partial_caption_prob),
        "train_shards": f"train/train-{{000000..{num_shards - 1:06d}}}.tar" if num_shards else "",
        "train_seg": bool(write_train_seg),
        "categories": [
            {
                "id": i + 1,
                "name": c.name,
                "colour": list(c.colour),
                "colour_word": c.colour_word,
                "shape": c.shape,
                "texture": c.texture,
            }
            for i, c in enumerate(CATEGORIES)
        ],
        "backgrounds": list(BACKGROUND_NAMES),
        "label_values": "0 background, i for categories[i - 1]; no ignore pixels",
    }
    with open(os.path.join(root, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    logger.info(
        "Synthetic benchmark: %d train (%d shards), %d val images of %d..%d px under %s",
        num_train,
        num_shards,
        num_val,
        image_size,
        max_image_size,
        root,
    )
    return meta
