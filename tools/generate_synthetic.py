#!/usr/bin/env python
"""Write the synthetic image-text benchmark (webdataset training shards, labelled val images).

    python tools/generate_synthetic.py --root datasets/synthetic --seed 0 --num-train 2000 --num-val 200

The same arguments always give the same files. Train on it with
DATASETS.IMAGE_TEXT.SHARDS ["datasets/synthetic/train/train-{000000..000003}.tar"] (the pattern is in
meta.json as "train_shards") and evaluate on the registered "synthetic_val".
"""

import argparse
import logging
import os
import time

from groupvit_d2.data.synthetic import generate_synthetic_dataset
from groupvit_d2.data.synthetic.captions import PARTIAL_CAPTION_PROB
from groupvit_d2.data.synthetic.render import SIZE_RANGE


def parse_args(argv=None):
    default_root = os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "synthetic")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--root", default=default_root, help=f"output folder (default: {default_root})"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-val", type=int, default=200)
    parser.add_argument(
        "--image-size", type=int, default=128, help="smallest image side (default 128)"
    )
    parser.add_argument(
        "--max-image-size",
        type=int,
        default=None,
        help="largest image side; sides are drawn in [image-size, max-image-size] (default: square)",
    )
    parser.add_argument("--shard-size", type=int, default=500, help="samples per training shard")
    parser.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1), help="rendering processes"
    )
    parser.add_argument(
        "--object-size",
        type=float,
        nargs=2,
        default=list(SIZE_RANGE),
        metavar=("LOW", "HIGH"),
        help="range of an object's half-extent as a fraction of the short side (default %(default)s)",
    )
    parser.add_argument(
        "--partial-caption-prob",
        type=float,
        default=PARTIAL_CAPTION_PROB,
        help="how often a caption of several objects names only some of them (default %(default)s)",
    )
    parser.add_argument(
        "--no-train-seg", action="store_true", help="do not write train_seg/ (train label maps)"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    meta = generate_synthetic_dataset(
        args.root,
        seed=args.seed,
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=args.image_size,
        max_image_size=args.max_image_size,
        shard_size=args.shard_size,
        workers=args.workers,
        write_train_seg=not args.no_train_seg,
        object_size=tuple(args.object_size),
        partial_caption_prob=args.partial_caption_prob,
    )
    print(
        f"Wrote {args.root} in {time.perf_counter() - start:.1f} s; training shards: "
        f"{os.path.join(args.root, meta['train_shards'])}"
    )
    return meta


if __name__ == "__main__":
    main()
