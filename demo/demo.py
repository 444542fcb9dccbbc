#!/usr/bin/env python
"""Zero-shot segmentation of your own images with a vocabulary you choose.

    python demo/demo.py --config-file configs/groupvit/gcc_yfcc_30e.yaml \
        --input photos/*.jpg --vocabulary "person; dog, puppy; grass; sky" --background \
        --output output/demo --opts MODEL.WEIGHTS groupvit://gcc_yfcc_30e

Offline, on the project's own synthetic images and a tiny random model:

    python tools/generate_synthetic.py --root datasets/synthetic --num-train 8 --num-val 4
    python demo/demo.py --config-file configs/groupvit/tiny.yaml \
        --input datasets/synthetic/val/images --vocabulary "ball; box; tree; house; fish; star" \
        --output output/demo --opts MODEL.DEVICE cpu

--input takes image files, folders (every image inside) and glob patterns. --vocabulary separates
classes with ";" and synonyms with "," ("car, cars; road"); a comma-only list ("car,road") is still
read as one class a name, with a deprecation warning. --vocabulary-file holds one class a line; a
line may list synonyms separated by commas ("car, cars"); blank lines and lines starting with "#"
are skipped. For each image <stem>, the output folder receives
<stem>_seg.png (the class overlay drawn by Detectron2's Visualizer) and <stem>_groups_stage<l>.png
(the groups of each grouping stage, coloured over the image). Each class keeps its colour from
run to run. An image that cannot be read or segmented is reported and skipped; the others are
still processed, and the command then exits with status 1, listing every failed file.
"""
import argparse
import glob
import logging
import os

from detectron2.data.catalog import Metadata
from detectron2.utils.logger import setup_logger
from PIL import Image

from groupvit_d2 import load_config
from groupvit_d2.data.text import parse_vocabulary, read_vocabulary_file
from groupvit_d2.data.dataset_mappers.image_reader import ImageReader
from groupvit_d2.predictor import GroupViTPredictor
from groupvit_d2.utils.visualization import draw_semantic_segmentation, overlay_groups

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    parser.add_argument("--input", nargs="+", required=True,
                        help="image files, folders or glob patterns (quote patterns for the shell)")
    vocab = parser.add_mutually_exclusive_group(required=True)
    vocab.add_argument("--vocabulary", help="classes separated by ';', synonyms by ',', e.g. "
                                             "\"person; dog, puppy; grass\"")
    vocab.add_argument("--vocabulary-file", metavar="FILE",
                       help="one class a line; synonyms of a class separated by commas")
    parser.add_argument("--background", action="store_true",
                        help="predict a 'background' class where no class is confident enough")
    parser.add_argument("--bg-thresh", type=float, default=None,
                        help="background threshold (implies --background; default "
                             "MODEL.GROUPVIT.ZERO_SHOT.BG_THRESH, 0.95)")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the pictures")
    parser.add_argument("--opts", default=[], nargs=argparse.REMAINDER,
                        help="config overrides as KEY VALUE pairs, e.g. MODEL.WEIGHTS model.pth")
    return parser


def setup_cfg(args):
    return load_config(args.config_file, args.opts)


def read_vocabulary(args):
    """The classes as lists of synonyms, from --vocabulary or --vocabulary-file (`;` between
    classes, `,` between synonyms; see groupvit_d2.data.text.vocabulary)."""
    if args.vocabulary is not None:
        return parse_vocabulary(args.vocabulary, source="--vocabulary")
    return read_vocabulary_file(args.vocabulary_file)


def find_images(inputs):
    """Sorted, de-duplicated image paths from files, folders and glob patterns."""
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            matches = [os.path.join(item, f) for f in sorted(os.listdir(item))]
            matches = [p for p in matches if p.lower().endswith(IMAGE_EXTENSIONS)]
        elif os.path.isfile(item):
            matches = [item]
        else:
            matches = sorted(glob.glob(os.path.expanduser(item)))
        if not matches:
            raise FileNotFoundError(f"--input {item!r}: no such file, no image in that folder, no match")
        paths += [p for p in matches if p not in paths]
    return paths


def _output_stem(path, used):
    stem = os.path.splitext(os.path.basename(path))[0]
    # Inputs from different folders may share a name; their pictures must not overwrite each other.
    unique, k = stem, 1
    while unique in used:
        unique, k = f"{stem}_{k}", k + 1
    used.add(unique)
    return unique


def write_demo_pictures(image, prediction, output_dir, stem, num_groups=()):
    """Save the class overlay and the per-stage group pictures of one (H, W, 3) uint8 RGB image.

    Returns:
        list[str]: the written paths: <stem>_seg.png, then <stem>_groups_stage<l>.png per stage.
    """
    metadata = Metadata(name="demo", stuff_classes=prediction["class_names"])
    labels = prediction["labels"].cpu().numpy()
    paths = [os.path.join(output_dir, f"{stem}_seg.png")]
    Image.fromarray(draw_semantic_segmentation(image, labels, metadata)).save(paths[0])
    for stage, groups in enumerate(prediction["group_maps"], start=1):
        groups = groups.cpu().numpy()
        count = num_groups[stage - 1] if stage <= len(num_groups) else int(groups.max()) + 1
        path = os.path.join(output_dir, f"{stem}_groups_stage{stage}.png")
        Image.fromarray(overlay_groups(image, groups, count)).save(path)
        paths.append(path)
    return paths


def main(argv=None):
    """Segment every image; returns the written paths. Raises SystemExit(1-style message) after
    processing all images when some of them failed."""
    args = get_parser().parse_args(argv)
    setup_logger(name="groupvit_d2")
    logger = setup_logger(name="demo")
    # Python warnings (duplicate class names, ...) become log records; without a handler on
    # "py.warnings" they would be dropped.
    logging.captureWarnings(True)
    setup_logger(name="py.warnings")
    cfg = setup_cfg(args)
    vocabulary = read_vocabulary(args)
    images = find_images(args.input)
    background_threshold = None
    if args.background or args.bg_thresh is not None:
        background_threshold = args.bg_thresh if args.bg_thresh is not None else cfg.MODEL.GROUPVIT.ZERO_SHOT.BG_THRESH

    predictor = GroupViTPredictor(cfg, input_format="RGB")
    read_image = ImageReader("RGB")
    os.makedirs(args.output, exist_ok=True)
    written, used, failed = [], set(), []
    for path in images:
        try:
            image = read_image(path)
            prediction = predictor(image, vocabulary, background_threshold=background_threshold, return_scores=False)
            paths = write_demo_pictures(image, prediction, args.output, _output_stem(path, used),
                                        cfg.MODEL.GROUPVIT.NUM_OUTPUT_GROUPS)
        except Exception as err:  # noqa: BLE001  (one bad file must not stop the others)
            logger.error("%s failed: %s: %s", path, type(err).__name__, err)
            failed.append((path, f"{type(err).__name__}: {err}"))
            continue
        logger.info("%s -> %s", path, ", ".join(paths))
        written += paths
    done = len(images) - len(failed)
    print(f"Wrote {len(written)} pictures for {done} image(s) to {os.path.abspath(args.output)}")
    if failed:
        lines = "\n".join(f"  {path}: {error}" for path, error in failed)
        raise SystemExit(f"{len(failed)} of {len(images)} image(s) failed:\n{lines}")
    return written


if __name__ == "__main__":
    main()
