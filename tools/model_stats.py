#!/usr/bin/env python
"""Print a config's parameter counts and image-encoder FLOPs (fvcore).

python tools/model_stats.py --config-file configs/groupvit/gcc_yfcc_30e.yaml [--size 224]
"""
import argparse

from detectron2.modeling import build_model

from groupvit_d2 import load_config
from groupvit_d2.utils.flops import count_parameters, image_encoder_gmacs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--size", type=int, nargs="+", default=[224, 448])
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cfg = load_config(args.config_file, args.opts + ["MODEL.DEVICE", "cpu"])
    model = build_model(cfg)
    for name, n in count_parameters(model).items():
        print(f"parameters/{name}: {n / 1e6:.2f}M")
    for s in args.size:
        print(f"image encoder at {s}x{s}: {image_encoder_gmacs(model, (s, s)):.2f} GMACs")


if __name__ == "__main__":
    main()
