#!/usr/bin/env python
"""Zero-shot segmentation with onnxruntime against PyTorch, on the same randomly initialised weights.

    python benchmarks/onnx_speed.py [--config configs/groupvit/gcc_yfcc_30e.yaml] [--reps 3]
                                    [--threads N] [--sizes 448x448,449x673]

The model of --config (default: the released architecture) is exported with tools/export_onnx.py's
code to a temporary folder. For each image size, both paths segment the same random image with a
VOC-like vocabulary (20 classes and the background):

    PyTorch      GroupViTPredictor's resize, then the model's zero-shot path (sliding window);
    onnxruntime  the exported runner (onnx_runtime.py: numpy resize, windows through
                 segmentation.onnx, softmax).

Both start from the uint8 image and end with the class probabilities at the input size; the class
embeddings are computed once beforehand. Contenders alternate repetition by repetition; the table
gives medians, the min-max spread and the ratio PyTorch/onnxruntime (> 1: onnxruntime is faster),
and the parity figures: the largest probability difference and whether the labels agree wherever
the PyTorch decision margin exceeds 1e-4.
"""
import argparse
import importlib.util
import os
import tempfile
import time

import numpy as np
import torch

from groupvit_d2.benchmarking.common import (
    RELEASED_CONFIG,
    cpu_flags,
    format_table,
    interleaved_times,
    load_cfg,
    machine_lines,
    median_ms,
    spread,
)

VOCABULARY = ("aeroplane; bicycle; bird; boat; bottle; bus; car; cat; chair; cow; dining table; dog; horse; "
              "motorbike; person, people; potted plant; sheep; sofa; train; tv monitor")
BACKGROUND = 0.95


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=RELEASED_CONFIG, help="architecture (default: the released one)")
    parser.add_argument("--sizes", default="448x448,449x673", help="image sizes HxW, comma-separated")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per contender and size")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads of both (default: torch's)")
    parser.add_argument("--templates", default="subset", help="prompt templates of the class embeddings")
    return parser.parse_args(argv)


def parity(probs, want):
    """(largest |difference|, share of pixels off by > 1e-4, labels equal where the margin > 1e-4,
    share of such pixels)."""
    top2 = np.sort(want, axis=0)[-2:]
    decided = top2[1] - top2[0] > 1e-4
    same = bool(np.array_equal(probs.argmax(0)[decided], want.argmax(0)[decided]))
    diff = np.abs(probs - want).max(axis=0)
    return float(diff.max()), float((diff > 1e-4).mean()), same, float(decided.mean())


def window_ties(model, runtime, windows, class_emb):
    """Where the windows' scores differ (> 1e-4) between the two paths: (share of pixels, largest
    margin between the best two groups of PyTorch's soft group map at those pixels)."""
    from groupvit_d2.modeling.groupvit.zero_shot import cumulative_group_maps, upsample_group_maps

    with torch.no_grad():
        want = model.segment_crops(windows, class_emb, BACKGROUND).numpy()
        vision = model.encode_image(windows)["vision"]
        maps = upsample_group_maps(cumulative_group_maps(vision.soft_assignments)[-1], vision.grid,
                                   windows.shape[-2:]).numpy()
    off = np.abs(runtime.window_scores(windows.numpy(), class_emb.numpy()) - want).max(axis=1) > 1e-4
    top2 = np.sort(maps, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    return float(off.mean()), float(margin[off].max()) if off.any() else 0.0


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    import onnxruntime

    from groupvit_d2.export import export_onnx
    from groupvit_d2.predictor import GroupViTPredictor

    cfg = load_cfg(args.config, "cpu", ["MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", args.templates])
    for line in machine_lines("cpu"):
        print(line)
    flags = cpu_flags()
    print("cpu flags: " + (", ".join(f"{k}={'yes' if v else 'no'}" for k, v in flags.items()) or "unknown"))
    print(f"onnxruntime {onnxruntime.__version__}, intra-op threads {threads} (both); config {args.config}")

    torch.manual_seed(0)
    predictor = GroupViTPredictor(cfg, input_format="RGB")
    model = predictor.model
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        meta = export_onnx(model, cfg, folder, background_threshold=BACKGROUND)
        print(f"export: {time.perf_counter() - t0:.1f} s; window {meta['window']}, axes {meta['axes']}")
        spec = importlib.util.spec_from_file_location("_onnx_runtime", os.path.join(folder, "onnx_runtime.py"))
        runtime_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(runtime_module)
        runtime = runtime_module.GroupViTOnnx(folder, threads=threads)

        from groupvit_d2.data.text import parse_vocabulary

        names = parse_vocabulary(VOCABULARY)
        class_emb, _ = model.class_embeddings(class_names=names)
        class_np = class_emb.numpy()
        rows = []
        for size in args.sizes.split(","):
            height, width = (int(v) for v in size.lower().split("x"))
            image = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)

            def run_torch():
                sample = {"image": predictor.preprocess(image), "height": height, "width": width,
                          "class_names": names, "background_threshold": BACKGROUND}
                with torch.no_grad():
                    return model([sample])[0]["sem_seg"]

            def run_onnx():
                return runtime.segment(image, class_np, background=True)["probs"]

            diff, share, same, decided = parity(run_onnx(), run_torch().numpy())
            times = interleaved_times({"pytorch": run_torch, "onnxruntime": run_onnx}, args.reps, args.warmup)
            resized = predictor.preprocess(image).shape[1:]
            windows = len(runtime_module.window_grid(*resized, runtime.crop, runtime.stride))
            x = runtime.preprocess(image)
            crops = np.stack([x[:, y1:y2, x1:x2] for y1, y2, x1, x2 in
                              runtime_module.window_grid(*x.shape[1:], runtime.crop, runtime.stride)])
            _, tie_margin = window_ties(model, runtime, torch.from_numpy(crops), class_emb)
            rows.append([f"{height}x{width} ({windows} win)", f"{median_ms(times['pytorch']):.0f}",
                         spread(times["pytorch"]), f"{median_ms(times['onnxruntime']):.0f}",
                         spread(times["onnxruntime"]),
                         f"{median_ms(times['pytorch']) / median_ms(times['onnxruntime']):.2f}", f"{diff:.1e}",
                         f"{100 * share:.4f}", f"{'yes' if same else 'NO'} ({100 * decided:.1f}%)",
                         f"{tie_margin:.1e}"])
    print(format_table(["image", "torch ms", "spread", "ort ms", "spread", "torch/ort", "max |dp|",
                        "% px |dp|>1e-4", "labels equal (decided px)", "tie margin"], rows))
    print("tie margin: among the window pixels whose scores differ by > 1e-4 between the two paths, the largest "
          "gap between the best two groups of PyTorch's soft group map (0: none differ); a gap at float precision "
          "means the two libraries' roundings picked different groups")
    return rows


if __name__ == "__main__":
    main()
