#!/usr/bin/env python
"""Convert GroupViT checkpoints between the official, Hugging Face and groupvit_d2 formats.

Official release or Hugging Face file/folder -> a groupvit_d2 (Detectron2) checkpoint:
    python tools/convert_checkpoint.py group_vit_gcc_yfcc_30e-879422e0.pth out/gcc_yfcc_30e.pth
    python tools/convert_checkpoint.py path/to/groupvit-gcc-yfcc/ out/hf_yfcc.pth
  The architecture comes from --config-file and KEY VALUE options (default: the built-in defaults,
  i.e. the released model); for an HF folder with config.json, from that file, and the cfg options
  that rebuild it are printed. The checkpoint is loaded strictly into that model before writing.

Any of them -> a Hugging Face model folder (config.json, model.safetensors, preprocessor_config.json)
that transformers.GroupViTModel.from_pretrained loads:
    python tools/convert_checkpoint.py output/model_final.pth out/hf_folder --to huggingface \\
        --config-file configs/groupvit/gcc_yfcc_30e.yaml [KEY VALUE ...]

INPUT may also be a URL or a groupvit:// model-zoo name. Files are read without running any code
stored in them.
"""
import argparse
import logging
import os
import sys

import torch

from detectron2.modeling import build_model
from detectron2.utils.file_io import PathManager

from groupvit_d2 import load_config
from groupvit_d2.checkpoint import (
    HUGGINGFACE,
    GroupViTCheckpointer,
    cfg_overrides_from_hf_config,
    read_checkpoint,
    save_hf_folder,
)


def _as_opt(key, value):
    return f'{key} "{value}"' if isinstance(value, (list, tuple)) else f"{key} {value}"


def build_cfg(config_file, opts, hf_config=None):
    cfg = load_config(config_file or None, freeze=False)
    if hf_config is not None:
        overrides = cfg_overrides_from_hf_config(hf_config)
        cfg.merge_from_list([x for kv in overrides.items() for x in kv])
    cfg.merge_from_list(list(opts) + ["MODEL.DEVICE", "cpu"])
    cfg.freeze()
    return cfg


def load_into_model(cfg, path):
    """Build the model of `cfg` and load `path` strictly; returns (model, LoadReport)."""
    model = build_model(cfg)
    checkpointer = GroupViTCheckpointer(model, strict=True)
    checkpointer.load(path)
    return model, checkpointer.last_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="official .pth, Hugging Face file or folder, groupvit_d2 .pth, URL, groupvit://")
    parser.add_argument("output", help="a .pth file (--to detectron2) or a folder (--to huggingface)")
    parser.add_argument("--to", choices=("detectron2", "huggingface"), default="detectron2")
    parser.add_argument("--config-file", default="", help="the model's config (default: the built-in defaults)")
    parser.add_argument("--no-safetensors", action="store_true",
                        help="write pytorch_model.bin instead of model.safetensors")
    # cfg overrides are the trailing KEY VALUE pairs (REMAINDER would swallow the options too).
    args, opts = parser.parse_known_args(argv)
    unknown = [o for o in opts if o.startswith("--")]
    if unknown or len(opts) % 2:
        parser.error(f"unrecognized arguments {unknown}" if unknown
                     else f"cfg overrides come in KEY VALUE pairs, got {opts}")
    args.opts = opts
    # Warnings (e.g. settings the model does not share with an HF config.json) reach stderr.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    path = args.input if os.path.exists(args.input) else PathManager.get_local_path(args.input)
    converted = read_checkpoint(path)
    print(f"{args.input}: {converted.format} format, {len(converted.checkpoint['model'])} tensors")
    hf_config = converted.hf_config if converted.format == HUGGINGFACE else None
    if hf_config is not None:
        overrides = cfg_overrides_from_hf_config(hf_config)
        print("Its architecture, as cfg options:\n  " + " ".join(_as_opt(k, v) for k, v in overrides.items()))

    # Both directions go through a model built from the cfg and loaded strictly: the output is then
    # complete (keys the source format lacks, such as HF's multi-label logit scale, at their
    # initial value) and known to fit that architecture.
    cfg = build_cfg(args.config_file, args.opts, hf_config)
    model, report = load_into_model(cfg, path)
    print(report)
    if args.to == "detectron2":
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        author = converted.checkpoint.get("__author__", "groupvit_d2")
        torch.save({"model": model.state_dict(), "__author__": author, "matching_heuristics": False}, args.output)
        print(f"Wrote {args.output}")
        return 0

    dropped = save_hf_folder(model.state_dict(), cfg, args.output, safe_serialization=not args.no_safetensors)
    print(f"Left out (no place in Hugging Face GroupViT): {', '.join(sorted(dropped))}")
    print(f"Wrote Hugging Face model folder {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
