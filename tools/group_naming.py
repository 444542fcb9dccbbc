#!/usr/bin/env python
"""Which final groups carry the names of the objects: the pooled embedding, each object's group,
the background's group and the groups that hold no patch (groupvit_d2/analysis/group_naming.py).

    python tools/group_naming.py --config-file configs/synthetic/groupvit_tiny.yaml \
        MODEL.WEIGHTS output/demo/model_final.pth [--dataset synthetic_val]
"""
import argparse

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from groupvit_d2 import load_config
from groupvit_d2.analysis.group_naming import group_naming_rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--dataset", default="synthetic_val")
    parser.add_argument("--max-images", type=int, default=200)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, MODEL.WEIGHTS among them")
    args = parser.parse_args(argv)
    cfg = load_config(args.config_file, args.opts)
    model = build_model(cfg).eval()
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    rates = group_naming_rates(model, args.dataset, args.max_images)
    print(f"Named right, {args.dataset} ({cfg.MODEL.WEIGHTS}):")
    for kind, (rate, count) in rates.items():
        print(f"  {kind:<17} {rate:5.1f}%  ({count})")
    return rates


if __name__ == "__main__":
    main()
