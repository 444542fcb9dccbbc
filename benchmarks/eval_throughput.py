#!/usr/bin/env python
"""Zero-shot segmentation throughput of the released GroupViT architecture (random weights).

    python benchmarks/eval_throughput.py [--num-images 8] [--device cpu|cuda] [--opts KEY VALUE ...]

Runs the evaluation forward (448 short side, 448 window, stride 224, 80 prompt templates) on
synthetic images of the size the evaluation mapper gives a 500x375 VOC image (597x448), all from
one registered in-memory dataset with the 21 VOC classes. Prints images/s, peak memory and how
often the text tower ran: class embeddings are cached per dataset, so after N images it must
have run once, not N times.
"""
import argparse
import os
import resource
import sys
import time

import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from groupvit_d2 import add_groupvit_config  # noqa: E402
from groupvit_d2.data.datasets.register_voc import VOC_CLASSES  # noqa: E402
from groupvit_d2.data.text import get_templates  # noqa: E402
from groupvit_d2.modeling.core import window_grid  # noqa: E402

DATASET = "_benchmark_voc21_in_memory"
CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "groupvit",
                      "gcc_yfcc_30e.yaml")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=CONFIG)
    parser.add_argument("--num-images", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=[448, 597], metavar=("H", "W"),
                        help="resized image size fed to the model (default 448 597)")
    parser.add_argument("--original-size", type=int, nargs=2, default=[375, 500], metavar=("H", "W"),
                        help="size the predictions are upsampled to (default 375 500)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--opts", default=[], nargs=argparse.REMAINDER, help="config overrides")
    return parser.parse_args()


def register_in_memory_dataset(num_images, size, original_size):
    """Register DATASET: `num_images` random uint8 images already at the evaluation size."""
    g = torch.Generator().manual_seed(0)
    samples = [
        {
            "image": torch.randint(0, 256, (3, *size), generator=g, dtype=torch.uint8),
            "height": original_size[0],
            "width": original_size[1],
            "dataset_name": DATASET,
            "file_name": f"synthetic_{i:04d}",
        }
        for i in range(num_images)
    ]
    if DATASET in DatasetCatalog.list():
        DatasetCatalog.remove(DATASET)
        MetadataCatalog.remove(DATASET)
    DatasetCatalog.register(DATASET, lambda: samples)
    MetadataCatalog.get(DATASET).set(stuff_classes=["background"] + list(VOC_CLASSES), ignore_label=255,
                                     evaluator_type="sem_seg", background_threshold=0.95)


def peak_memory_mib(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main():
    args = parse_args()
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts + ["MODEL.DEVICE", args.device])
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    register_in_memory_dataset(args.num_images, args.size, args.original_size)
    samples = DatasetCatalog.get(DATASET)

    crops = window_grid(*args.size, cfg.TEST.SLIDING_WINDOW.CROP_SIZE, cfg.TEST.SLIDING_WINDOW.STRIDE)
    print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}"
          f" ({torch.get_num_threads()} CPU threads), torch {torch.__version__}")
    print(f"model: {args.config_file}, random weights, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters")
    print(f"input: {args.num_images} images of {args.size[0]}x{args.size[1]} (HxW), {len(crops)} windows of "
          f"{cfg.TEST.SLIDING_WINDOW.CROP_SIZE} each, upsampled to {args.original_size[0]}x{args.original_size[1]}; "
          f"{len(VOC_CLASSES) + 1} classes, {cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES!r} templates")

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    memory_before = peak_memory_mib(device)
    times = []
    with torch.no_grad():
        for sample in samples:
            start = time.perf_counter()
            out = model([sample])[0]["sem_seg"]
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    memory_after = peak_memory_mib(device)

    assert tuple(out.shape) == (len(VOC_CLASSES) + 1, *args.original_size)
    classifier = model.text_classifier
    print(f"first image (includes encoding the class names): {times[0]:.2f} s")
    if len(times) > 1:
        steady = times[1:]
        print(f"next {len(steady)} images: {len(steady) / sum(steady):.2f} images/s "
              f"({1000 * sum(steady) / len(steady):.0f} ms/image)")
    print(f"all {len(times)} images: {len(times) / sum(times):.2f} images/s")
    if device.type == "cuda":
        print(f"peak CUDA memory allocated: {memory_after:.0f} MiB")
    else:
        print(f"peak resident memory: {memory_after:.0f} MiB "
              f"(+{memory_after - memory_before:.0f} MiB during inference)")
    print(f"text classifier after {len(times)} images: num_encodings={classifier.num_encodings}, "
          f"num_texts_encoded={classifier.num_texts_encoded} ({len(VOC_CLASSES)} embedded classes x "
          f"{len(get_templates(cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES))} templates; the background is thresholded)")


if __name__ == "__main__":
    main()
