#!/usr/bin/env python
"""Export a GroupViT's zero-shot segmentation to ONNX, for onnxruntime without PyTorch.

    python tools/export_onnx.py --config-file configs/groupvit/gcc_yfcc_30e.yaml --output exported/ \
        MODEL.WEIGHTS groupvit://gcc_yfcc_30e

The output folder receives:
  segmentation.onnx     "window" (n, 3, h, w) normalised, "class_embeddings" (C, D) L2-normalised
                        -> "scores" (n, 1 + C, h, w): background channel, then the class scores
                        of the official rule (soft stage maps, argmax group, top-k, background);
  image_embedding.onnx  "window" -> "image_embeds" (n, D), "group_embeds" (n, G, D), "stage<l>_maps";
  text_encoder.onnx     "tokens" (N, L) CLIP BPE ids -> "text_embeds" (N, D);
  groupvit_onnx.json    window, stride, resize, normalisation, top-k, background threshold, and
                        which axes are dynamic (checked against PyTorch) or fixed;
  onnx_runtime.py       the sliding-window runner (numpy + onnxruntime, no PyTorch);
  slide_grid.py         its window grid (plain Python, shared with the PyTorch path).

The window size (TEST.SLIDING_WINDOW.CROP_SIZE) and the text length (the context length) are
fixed in the graphs; the number of windows, texts and classes are dynamic. The background
threshold is fixed too (--background-threshold, default MODEL.GROUPVIT.ZERO_SHOT.BG_THRESH);
without a background, drop channel 0, which leaves the class scores unchanged.
"""
import argparse
import json
import logging
import os

from detectron2.modeling import build_model

from groupvit_d2 import load_config
from groupvit_d2.checkpoint import GroupViTCheckpointer
from groupvit_d2.export import export_onnx

logger = logging.getLogger("export_onnx")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the ONNX models")
    parser.add_argument("--background-threshold", type=float, default=None,
                        help="threshold of the background channel (default MODEL.GROUPVIT.ZERO_SHOT.BG_THRESH)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs")
    return parser


def setup_cfg(args):
    cfg = load_config(args.config_file, list(args.opts) + ["MODEL.DEVICE", "cpu"])
    return cfg


def main(argv=None):
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = setup_cfg(args)
    model = build_model(cfg).eval()
    if cfg.MODEL.WEIGHTS:
        GroupViTCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    else:
        logger.warning("MODEL.WEIGHTS is empty: exporting a randomly initialised model")
    meta = export_onnx(model, cfg, args.output, background_threshold=args.background_threshold)
    print(f"Wrote {', '.join(meta['files'].values())}, onnx_runtime.py, slide_grid.py and groupvit_onnx.json to "
          f"{os.path.abspath(args.output)}")
    print("Axes (\"dynamic\" was checked against PyTorch at another size; numbers are fixed sizes):")
    for model_name, tensors in meta["axes"].items():
        for tensor, axes in tensors.items():
            print(f"  {meta['files'][model_name]:22s} {tensor:17s} {json.dumps(axes)}")
    return meta


if __name__ == "__main__":
    main()
