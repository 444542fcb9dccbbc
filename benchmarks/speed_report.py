#!/usr/bin/env python
"""Speed, memory and scaling report of GroupViT on this machine, in one run.

    python benchmarks/speed_report.py [--threads 2] [--repeats 5] [--quick] [--config CFG]
                                      [--weights CKPT] [--output-dir DIR] [--sections NAME ...]
    python benchmarks/speed_report.py --sections agreement --agreement-weights CKPT
                                      [--agreement-config CFG] [--dataset synthetic_val]

Sections (every one but `agreement` by default; `agreement` also runs when --agreement-weights is
given):

  growth     zero-shot inference (sliding window, class embeddings cached) time per image and peak
             memory as the input grows (short side half, once and twice the window: 224, 448, 896
             for the released config; 4:3 images, VOC's 20 classes + background) and as the
             vocabulary grows (VOC 20 + background, ADE 150, ADE 847 class names from the registered
             metadata; 448 input). Every point runs in a fresh process. Encoding the class names
             (once a vocabulary, then cached) is timed apart, with the configured templates.
  train      one training step (forward, backward, AdamW), ours against transformers' GroupViTModel
             on the same weights, interleaved; peak memory per row in a fresh process
             (train_throughput.py's rows).
  matmul     the machine's fp32 and bf16 matrix-product throughput (GFLOP/s).
  encoder    the image encoder at batch 8 x 224: HF fp32, ours fp32 and ours under bf16 autocast,
             interleaved, with ratios and max|diff| against HF; ours at 1 x 448 on its own (HF's API
             refuses that size).
  flops      fvcore multiply-accumulates of the image encoder, and the achieved fraction of the
             measured fp32 matmul throughput: 2 * MACs * images/s / peak.
  profile    torch.profiler summary of one zero-shot inference at 448: top operators by self CPU
             time and the time per kind (attention, matmul, layernorm, assignment, ...).
  compile    torch.compile (inductor, with freezing) of the encoder against eager and HF, and
             whether its compile time pays back.
  text       class embeddings of ADE-847's names across processes: the first embedding (a subset of
             the classes, extrapolated) and a second process's (read back from the on-disk cache),
             at full size, with a cache folder of its own.
  gpu        when CUDA is available: the encoder at 8 x 448 in fp32, under bf16 autocast and
             torch.compile'd, and zero-shot inference at 448 x 448 (fp32, MODEL.PRECISION bf16),
             images/s and peak memory, with the device named; skipped (saying so) elsewhere.
  agreement  zero-shot segmentation of a registered dataset in fp32 and under bf16 autocast: the
             fraction of pixels whose predicted class agrees, and both mIoUs (SemSegEvaluator).

Targets are applied where they hold: the bf16 ones only on a device with bf16 hardware (CUDA with
bf16, a CPU with AVX512-BF16 or AMX-BF16 in /proc/cpuinfo's flags).

Timings of contenders alternate repetition by repetition in one process (see benchmark_utils);
ratios are medians, "(of mins)" the same for the fastest repetitions. With --output-dir the
report is also written as markdown (speed.md) with a plot of the growth sweeps (cost_growth.png).
"""
import argparse
import json
import math
import os
import shlex
import statistics
import sys
import time
from types import SimpleNamespace

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_utils import (  # noqa: E402
    RELEASED_CONFIG,
    TINY_CONFIG,
    build_hf_and_ours,
    call_in_fresh_process,
    cpu_flags,
    cpu_model,
    interleaved_times,
    load_cfg,
    markdown_table,
    median_ms,
    peak_memory_growth,
    spread,
    status_kib,
)
from encoder_speed import ModuleScopes, autocast, hf_image_embeds, hf_public_api_error  # noqa: E402
from groupvit_d2.utils.results_page import write_section  # noqa: E402

SECTIONS = ("growth", "train", "matmul", "encoder", "flops", "profile", "compile", "text", "gpu", "agreement")
DEFAULT_SECTIONS = SECTIONS[:-1]
# The ISA flags the machine description names.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
# Registered datasets whose metadata gives the vocabularies of the sweep: (label, dataset name).
SIZE_VOCABULARY = ("VOC 20 + bg", "voc21_val")
VOCABULARIES = (("VOC 20 + bg", "voc21_val"), ("ADE 150", "ade20k_150_val"), ("ADE 847", "ade20k_847_val"))
ASPECT = 4 / 3  # width / height of the sweep's images (VOC's 500x375)
TARGETS = {"fp32": 1.10, "bf16": 2.0, "diff": 1e-4, "train": 1.1, "train_bf16": 1.8, "agreement": 0.995,
           "miou": 0.2, "vocab_time": 3.0, "vocab_memory": 1.5, "text_second_s": 1.0}
TEXT_VOCABULARY = ("ADE 847", "ade20k_847_val")
DENSE_SWEEP = "vocabulary, dense head"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="architecture (default: the released one; "
                        "--quick: configs/groupvit/tiny.yaml)")
    parser.add_argument("--weights", default=None, help="checkpoint for our model (any format "
                        "GroupViTCheckpointer reads); HF gets the same weights. Default: random weights")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repetitions per contender / images per growth point (default 5; --quick 1)")
    parser.add_argument("--growth-repeats", type=int, default=None,
                        help="images timed per growth point (default: --repeats, at most 3)")
    parser.add_argument("--train-repeats", type=int, default=None,
                        help="timed steps per training row (default: --repeats, at most 3)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="tiny config, small sizes, no torch.compile: a smoke run for tests")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=None,
                        help=f"what to run (default: {' '.join(DEFAULT_SECTIONS)}; --quick leaves out compile)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="short sides of the input sweep (default: half, once and twice the window)")
    parser.add_argument("--batch", type=int, default=8, help="batch of the encoder comparison")
    parser.add_argument("--text-classes", type=int, default=20,
                        help="classes per vocabulary whose prompts are encoded and timed; the time of "
                             "larger vocabularies is extrapolated from them by the number of prompts")
    parser.add_argument("--compare-dense-head", action="store_true",
                        help="growth: also run every vocabulary point with the dense zero-shot head (class maps "
                             "per window, summed on a C x H x W canvas), in fresh processes of their own")
    parser.add_argument("--output-dir", default=None, help="write speed.md and cost_growth.png here")
    parser.add_argument("--page", default=None,
                        help="also write the report as the 'speed' section of this results page "
                             "(e.g. docs/RESULTS.md; the plot then goes next to it, in results/)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--agreement-weights", default=None, help="checkpoint for the agreement section")
    parser.add_argument("--agreement-config", default=None, help="its config (default: --config)")
    parser.add_argument("--dataset", default="synthetic_val", help="registered dataset of the agreement section")
    parser.add_argument("--agreement-max-images", type=int, default=None)
    args = parser.parse_args(argv)
    # The command line, so that a written report says how to regenerate it.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.config is None:
        args.config = TINY_CONFIG if args.quick else RELEASED_CONFIG
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    # The slowest measurements (seconds a call on 2 cores) get fewer repetitions by default.
    args.growth_repeats = args.growth_repeats or min(args.repeats, 3)
    args.train_repeats = args.train_repeats or min(args.repeats, 3)
    if args.sections is None:
        args.sections = [s for s in DEFAULT_SECTIONS if not (args.quick and s == "compile")]
        if args.agreement_weights:
            args.sections.append("agreement")
    if "agreement" in args.sections and not args.agreement_weights:
        parser.error("the agreement section needs --agreement-weights CKPT")
    return args


class Report:
    """Markdown sections, printed as soon as they are complete and written out at the end."""

    def __init__(self):
        self.sections = []

    def add(self, title, *blocks):
        text = f"## {title}\n\n" + "\n\n".join(b for b in blocks if b) + "\n"
        self.sections.append(text)
        print("\n" + text, flush=True)

    def markdown(self, head):
        return head + "\n\n" + "\n".join(self.sections)


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------
def build_ours(config, weights, device, opts=()):
    """Our meta-architecture from a config file (eval mode), with `weights` loaded if given."""
    from detectron2.modeling import build_model

    from groupvit_d2.checkpoint import GroupViTCheckpointer

    cfg = load_cfg(config, device, opts)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    if weights:
        GroupViTCheckpointer(model).load(weights)
    return model, cfg


def load_weights_into_pair(hf, ours, weights):
    """Load `weights` into our model and the same weights, converted, into HF's."""
    from groupvit_d2.checkpoint import GroupViTCheckpointer, ours_to_hf

    GroupViTCheckpointer(ours).load(weights)
    state_dict, _ = ours_to_hf(ours.state_dict())
    incompatible = hf.load_state_dict(state_dict, strict=False)
    missing = [k for k in incompatible.missing_keys if not k.endswith("position_ids")]
    if missing or incompatible.unexpected_keys:
        raise RuntimeError(f"{weights}: converted weights do not fit transformers' GroupViTModel: {incompatible}")


def sweep_points(args, crop):
    """[(sweep, x value, (height, width), vocabulary label, dataset)] of the growth section."""
    sizes = args.sizes or [crop // 2, crop, 2 * crop]
    points = [("input", s, (s, int(round(s * ASPECT))), *SIZE_VOCABULARY) for s in sizes]
    base = crop if crop in sizes else sizes[len(sizes) // 2]
    for label, dataset in VOCABULARIES:
        points.append(("vocabulary", None, (base, int(round(base * ASPECT))), label, dataset))
    if getattr(args, "compare_dense_head", False):
        points += [(DENSE_SWEEP,) + p[1:] for p in points if p[0] == "vocabulary"]
    return points


def vocabulary(dataset):
    """(names to embed, background threshold or None) of a registered dataset's metadata."""
    from detectron2.data import MetadataCatalog

    from groupvit_d2.modeling.core import class_names_from_metadata

    names, _, threshold = class_names_from_metadata(MetadataCatalog.get(dataset))
    return names, threshold


def zero_shot_sample(height, width, names, threshold, seed=0):
    """A random uint8 image already at the model's input size, with its own vocabulary."""
    g = torch.Generator().manual_seed(seed)
    sample = {"image": torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8),
              "height": height, "width": width, "class_names": names}
    if threshold is not None:
        sample["background_threshold"] = threshold
    return sample


# ------------------------------------------------------------------------------------------------
# growth: one fresh process per point
# ------------------------------------------------------------------------------------------------
def growth_point(args, height, width, dataset, dense=False):
    """Time and peak memory of zero-shot inference on one height x width image (runs in a fresh
    process). The class embeddings are made first (one template: encoding the names is timed
    elsewhere) and cached, as in an evaluation after its first image. `dense`: the dense head
    (segment_crops' class maps on the window canvas, DualEncoder.segment_sample) instead of the
    model's lookup head."""
    from groupvit_d2.modeling.core import window_grid

    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg = build_ours(args.config, args.weights, args.device,
                            ["MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "simple"])
    names, threshold = vocabulary(dataset)
    sample = zero_shot_sample(height, width, names, threshold)
    with torch.no_grad():
        class_emb, _ = model.class_embeddings(class_names=names, background_threshold=threshold)

        def infer():
            if dense:
                return model.segment_sample(sample, lambda crops: model.segment_crops(crops, class_emb, threshold))
            return model([sample])[0]["sem_seg"]

        def run():
            times, out = [], None
            for i in range(args.warmup + args.growth_repeats):
                # The previous output is released first: the peak is that of one inference, to be
                # compared with the sem_seg it returns.
                shape = None if out is None else tuple(out.shape)
                out = None
                t0 = time.perf_counter()
                out = infer()
                if i >= args.warmup:
                    times.append(time.perf_counter() - t0)
            return times, shape or tuple(out.shape)

        (times, shape), memory = peak_memory_growth(run, args.device)
    windows = window_grid(height, width, cfg.TEST.SLIDING_WINDOW.CROP_SIZE, cfg.TEST.SLIDING_WINDOW.STRIDE)
    return {"times": times, "out_shape": shape, "windows": windows, "peak_growth_mib": memory["peak_growth_mib"],
            "method": memory["method"],
            "peak_rss_mib": status_kib("VmHWM") / 1024 if memory["method"] == "VmHWM - VmRSS" else None}


def text_encoding_times(model, points, max_classes):
    """{dataset: (seconds, prompts encoded, total prompts, extrapolated?)} for each vocabulary:
    the time to embed its class names with the configured templates, through the model's cached
    text classifier. At most `max_classes` evenly spread classes are encoded; the time of the
    whole vocabulary is extrapolated by its number of prompts."""
    from groupvit_d2.data.text import get_templates

    templates = len(get_templates(model.templates_name))
    out = {}
    # The first embedding is timed: not read back from an on-disk cache an earlier run filled.
    store, model.text_classifier.store = model.text_classifier.store, None
    try:
        for dataset in dict.fromkeys(p[4] for p in points):
            out[dataset] = _text_encoding_time(model, dataset, max_classes, templates)
    finally:
        model.text_classifier.store = store
    return out


def _text_encoding_time(model, dataset, max_classes, templates):
    names, threshold = vocabulary(dataset)
    step = max(1, math.ceil(len(names) / max_classes))
    subset = names[::step]
    before = model.text_classifier.num_texts_encoded
    t0 = time.perf_counter()
    model.class_embeddings(class_names=subset, background_threshold=threshold)
    seconds = time.perf_counter() - t0
    encoded = model.text_classifier.num_texts_encoded - before
    total = sum(len(n) for n in names) * templates
    return seconds * total / max(encoded, 1), encoded, total, len(subset) < len(names)


def encoder_gmacs_per_image(model, windows, patch, cache):
    """fvcore GMACs of the image encoder summed over an image's windows (crops trimmed to the
    patch size, as segment_crops does)."""
    from groupvit_d2.utils.flops import image_encoder_gmacs

    total = 0.0
    for y1, y2, x1, x2 in windows:
        shape = ((y2 - y1) // patch * patch, (x2 - x1) // patch * patch)
        if shape not in cache:
            cache[shape] = image_encoder_gmacs(model, shape)
        total += cache[shape]
    return total


def growth_tables(points, results, text_times, gmacs, peak):
    header = ["sweep", "input HxW", "classes", "windows", "s/image", "(min-max)", "peak +MiB", "peak RSS MiB",
              "text s (once)", "encoder GMACs/image", "of fp32 peak"]
    rows = []
    for (sweep, _, (h, w), label, dataset), r in zip(points, results):
        if "error" in r:
            rows.append([sweep, f"{h}x{w}", label] + ["error"] * (len(header) - 3))
            continue
        secs = statistics.median(r["times"])
        t_sec, encoded, total, extrapolated = text_times.get(dataset, (None, 0, 0, False))
        text = "-" if t_sec is None else f"{t_sec:.1f}" + (f" (est. from {encoded} of {total} prompts)"
                                                            if extrapolated else f" ({total} prompts)")
        g = gmacs[len(rows)] if gmacs else None
        rows.append([sweep, f"{h}x{w}", f"{label} ({r['out_shape'][0]} out)", len(r["windows"]), f"{secs:.2f}",
                     f"{min(r['times']):.2f}-{max(r['times']):.2f}", f"{r['peak_growth_mib']:.0f}",
                     "-" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f}",
                     text, "-" if g is None else f"{g:.1f}",
                     "-" if (g is None or not peak) else f"{100 * 2e9 * g / secs / (peak * 1e9):.0f}%"])
    return header, rows


def growth_section(args, cfg, points, growth, model, gmacs, peak, report):
    """The growth table (and plot), from the fresh-process results; returns the raw numbers."""
    with torch.no_grad():
        text_times = text_encoding_times(model, points, args.text_classes)
    header, rows = growth_tables(points, growth, text_times, gmacs, peak)
    errors = [f"{p[0]} {p[2]}: {r['error']}" for p, r in zip(points, growth) if "error" in r]
    method = next((r["method"] for r in growth if "method" in r), "")
    blocks = [
        f"Zero-shot inference with the sliding window ({cfg.TEST.SLIDING_WINDOW.CROP_SIZE} window, stride "
        f"{cfg.TEST.SLIDING_WINDOW.STRIDE}) on random 4:3 images already at the input size, one fresh process "
        f"a row; s/image: median of {args.growth_repeats} images after {args.warmup} warm-up, class embeddings "
        f"cached. peak +MiB: how far memory rose above the built model and its cached embeddings ({method}); peak "
        "RSS: the whole process. text s: embedding the class names once with the configured templates "
        f"('{model.templates_name}'), on this model in the main process. Of fp32 peak: 2 x encoder MACs per "
        "image / s per image over the measured fp32 matmul throughput (the zero-shot head's work is not "
        "counted in the MACs).",
        markdown_table(header, rows),
    ]
    if errors:
        blocks.append("Errors: " + "; ".join(errors))
    if args.page and not args.output_dir:
        args.output_dir = os.path.join(os.path.dirname(os.path.abspath(args.page)), "results")
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
        plot_growth(points, growth, text_times, os.path.join(args.output_dir, "cost_growth.png"))
        blocks.append("![cost growth](cost_growth.png)")
    report.add("How cost grows: input size and vocabulary", *blocks)
    return [{"sweep": p[0], "input": p[2], "vocabulary": p[3], "dataset": p[4],
             "text_s": text_times.get(p[4], (None,))[0], "encoder_gmacs": gmacs[i] if gmacs else None, **r}
            for i, (p, r) in enumerate(zip(points, growth))]


def plot_growth(points, results, text_times, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for col, sweep in enumerate(("input", "vocabulary")):
        sel = [(p, r) for p, r in zip(points, results) if p[0] == sweep and "error" not in r]
        if not sel:
            continue
        if sweep == "input":
            xs = [p[1] for p, _ in sel]
            xlabel = "short side of the input (px); 4:3 images, VOC 20 + bg"
        else:
            xs = [r["out_shape"][0] for _, r in sel]
            xlabel = f"classes (output channels); {sel[0][0][2][0]}x{sel[0][0][2][1]} input"
        per_image = [statistics.median(r["times"]) for _, r in sel]
        axes[0, col].plot(xs, per_image, "o-", label="per image (class embeddings cached)")
        if sweep == "vocabulary":
            text = [text_times[p[4]][0] for p, _ in sel if p[4] in text_times]
            if len(text) == len(xs):
                axes[0, col].plot(xs, text, "s--",
                                  label="encoding the class names (once;\nextrapolated past the timed classes)")
            axes[0, col].set_yscale("log")
            # Headroom above the curves for the legend.
            axes[0, col].set_ylim(top=30 * max(per_image + text))
        axes[0, col].set_ylabel("seconds")
        axes[0, col].legend(fontsize=8, loc="upper left")
        axes[1, col].plot(xs, [r["peak_growth_mib"] for _, r in sel], "o-", color="C2")
        axes[1, col].set_ylabel("peak memory during inference (MiB)")
        for ax in axes[:, col]:
            ax.set_xlabel(xlabel)
            ax.set_xticks(xs)
            ax.grid(alpha=0.3)
    fig.suptitle("Zero-shot inference cost (sliding window) on this machine")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------
# matmul
# ------------------------------------------------------------------------------------------------
def matmul_throughput(dtype, op, max_n, repeats, budget_s=4.0):
    """(GFLOP/s best of `repeats`, n) of an n x n x n product, n the largest power of two <= max_n
    whose product takes at most about `budget_s` by the rate at 512 (slow dtypes get a smaller n)."""
    fn = torch.mm if op == "torch.mm" else torch.nn.functional.linear

    def best(n, reps):
        g = torch.Generator().manual_seed(0)
        a, b = (torch.randn(n, n, generator=g).to(dtype) for _ in range(2))
        fn(a, b)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn(a, b)
            times.append(time.perf_counter() - t0)
        return 2 * n**3 / min(times) / 1e9

    n = min(512, max_n)
    rate = best(n, 2)
    while 2 * n <= max_n and 2 * (2 * n) ** 3 / (rate * 1e9) <= budget_s:
        n *= 2
    return best(n, repeats), n


def matmul_section(args, report):
    max_n = 256 if args.quick else 2048
    rows, results = [], {}
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        for op in ("torch.mm", "F.linear"):
            gflops, n = matmul_throughput(dtype, op, max_n, max(args.repeats, 3))
            results[name, op] = gflops
            rows.append([name, op, f"{n}^3", f"{gflops:.1f}"])
    peak = max(results["fp32", "torch.mm"], results["fp32", "F.linear"])
    bf16 = max(results["bf16", "torch.mm"], results["bf16", "F.linear"])
    flags = cpu_flags()
    flag_text = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items()) or "unknown"
    note = (f"fp32 peak used below: {peak:.1f} GFLOP/s (the best fp32 row). bf16 reaches {bf16:.1f} GFLOP/s, "
            f"{bf16 / peak:.3f}x fp32. CPU flags: {flag_text}; torch's CPU kernels: "
            f"{torch.backends.cpu.get_cpu_capability()}.")
    if flags and not (flags.get("avx512_bf16") or flags.get("amx_bf16")):
        note += (" Without AVX512-BF16 or AMX there is no bf16 matrix-product hardware: bf16 operands are "
                 "widened and multiplied in fp32 by slower kernels, so bf16 autocast cannot pay on this CPU.")
    report.add("Matrix-product throughput", markdown_table(["dtype", "op", "size", "GFLOP/s"], rows), note)
    return peak, bf16


# ------------------------------------------------------------------------------------------------
# encoder
# ------------------------------------------------------------------------------------------------
def encoder_section(args, hf, ours, size, large, report):
    device = args.device
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(args.batch, 3, size, size, generator=g).to(device)
    big = torch.randn(1, 3, large, large, generator=g).to(device)

    def ours_fn(x, amp):
        with autocast(device, amp):
            return ours.encode_image(x)["image_embeds"]

    def hf_fn():
        return hf_image_embeds(hf, pixels)

    with torch.inference_mode():
        ref = hf_fn()
        diff32 = (ours_fn(pixels, False) - ref).abs().max().item()
        diff16 = (ours_fn(pixels, True).float() - ref).abs().max().item()
        times = interleaved_times({"hf": hf_fn, "fp32": lambda: ours_fn(pixels, False),
                                   "bf16": lambda: ours_fn(pixels, True)}, args.repeats, args.warmup, device)
        big_times = interleaved_times({"fp32": lambda: ours_fn(big, False), "bf16": lambda: ours_fn(big, True)},
                                      args.repeats, args.warmup, device)
        api_error = hf_public_api_error(hf, big)
    h = median_ms(times["hf"])
    rows = [[f"{args.batch} x {size}", "HF get_image_features fp32", f"{h:.0f}", spread(times["hf"]),
             f"{1000 * args.batch / h:.2f}", "1.00", "1.00", "-"]]
    ratios = {}
    for key, name, diff in (("fp32", "ours encode_image fp32", diff32), ("bf16", "ours encode_image bf16 autocast",
                                                                         diff16)):
        o = median_ms(times[key])
        ratios[key] = (h / o, min(times["hf"]) / min(times[key]), diff)
        rows.append([f"{args.batch} x {size}", name, f"{o:.0f}", spread(times[key]), f"{1000 * args.batch / o:.2f}",
                     f"{h / o:.2f}", f"{ratios[key][1]:.2f}", f"{diff:.1e}"])
    for key, name in (("fp32", "ours encode_image fp32"), ("bf16", "ours encode_image bf16 autocast")):
        o = median_ms(big_times[key])
        rows.append([f"1 x {large}", name, f"{o:.0f}", spread(big_times[key]), f"{1000 / o:.2f}", "-", "-", "-"])
    notes = [f"HF/ours > 1: ours is faster; (of mins): the ratio of the fastest repetitions, which other jobs "
             f"disturb least. max abs diff: image embeddings against HF fp32, same weights and inputs. "
             f"{args.repeats} repetitions (+{args.warmup} warm-up), contenders interleaved."]
    if api_error:
        notes.append(f"HF at {large}: its public API refuses the size, so the 1 x {large} rows have no HF "
                     f"counterpart:\n\n```\n{api_error.strip()}\n```")
    report.add("Image encoder: ours against transformers' GroupViTModel",
               markdown_table(["input", "model", "ms/batch", "(min-max)", "img/s", "HF/ours", "(of mins)",
                               "max abs diff"], rows), *notes)
    return {"ratios": ratios, "hf_img_s": 1000 * args.batch / h,
            "img_s": {k: 1000 * args.batch / median_ms(times[k]) for k in ("fp32", "bf16")},
            "large_img_s": {k: 1000 / median_ms(big_times[k]) for k in ("fp32", "bf16")}}


# ------------------------------------------------------------------------------------------------
# train
# ------------------------------------------------------------------------------------------------
def train_namespace(args):
    return SimpleNamespace(config=args.config, reps=args.train_repeats, warmup=args.warmup, threads=args.threads,
                           released_batch=8, released_size=224, tiny_batch=4, tiny_size=64, num_labels=None,
                           lr=1e-4, device=args.device, memory_steps=2)


def train_memory(args):
    import train_throughput as tt

    ns, arch = train_namespace(args), "tiny" if args.quick else "released"
    return {row: tt.memory_in_fresh_process(ns, arch, row) for row in tt.ROWS}


def train_section(args, memory, report):
    import train_throughput as tt

    ns, arch = train_namespace(args), "tiny" if args.quick else "released"
    batch, times, desc = tt.time_arch(ns, arch)
    hf_ms = median_ms(times["hf"])
    rows, result = [], {}
    for row in tt.ROWS:
        ms = median_ms(times[row])
        mem = memory.get(row, {})
        mem_text = mem.get("error", f"{mem['peak_growth_mib']:.0f}") if mem else "-"
        ratio = hf_ms / ms
        rows.append([tt.ROW_NAMES[row] + (" *" if row == "ours_contrastive" else ""), f"{ms:.0f}", spread(times[row]),
                     f"{1000 * batch / ms:.2f}", "" if row == "hf" else f"{ratio:.2f}",
                     "" if row == "hf" else f"{min(times['hf']) / min(times[row]):.2f}", mem_text])
        result[row] = (ratio, mem.get("peak_growth_mib"))
    method = next((m["method"] for m in memory.values() if "method" in m), None)
    report.add("Training step: ours against transformers' GroupViTModel",
               f"{desc}. Forward, backward and AdamW; rows interleaved, {args.train_repeats} steps each "
               f"(+{args.warmup} warm-up).",
               markdown_table(["row", "ms/step", "(min-max)", "img/s", "HF/ours", "(of mins)", "peak +MiB"], rows),
               "* the like-for-like row: HF's work (captions only, contrastive loss, no drop path, no random "
               "erasing). peak +MiB: growth of the peak memory during 2 steps over what the built model and "
               f"batch hold (gradients, AdamW state, activations), one fresh process per row ({method}).")
    return result


# ------------------------------------------------------------------------------------------------
# flops
# ------------------------------------------------------------------------------------------------
def hf_encoder_gmacs(hf, size):
    from fvcore.nn import FlopCountAnalysis

    class _HF(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return hf_image_embeds(self.model, x)

    analysis = FlopCountAnalysis(_HF(hf).eval(), torch.zeros(1, 3, size, size))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total() / 1e9


def flops_section(args, hf, model, train_size, sizes, encoder, peak, report):
    from groupvit_d2.utils.flops import count_parameters, image_encoder_gmacs

    rows = []
    gmacs = {}
    for s in sizes:
        gmacs[s] = image_encoder_gmacs(model, (s, s))
        rows.append([f"ours encode_image, 1 x {s}x{s}", f"{gmacs[s]:.2f}", "", ""])
    ours_224 = gmacs.get(train_size) or image_encoder_gmacs(model, (train_size, train_size))
    notes = []
    if hf is not None:
        try:
            hf_gmacs = hf_encoder_gmacs(hf, train_size)
            rows.append([f"HF get_image_features, 1 x {train_size}x{train_size}", f"{hf_gmacs:.2f}", "", ""])
        except Exception as e:  # fvcore tracing of someone else's model: report, do not stop the run
            hf_gmacs = None
            notes.append(f"fvcore could not trace HF's encoder: {type(e).__name__}: {e}")
        if encoder and peak:
            for key, name in (("fp32", "ours fp32"), ("bf16", "ours bf16 autocast")):
                achieved = 2 * ours_224 * encoder["img_s"][key]
                rows.append([f"{name}, {args.batch} x {train_size}", "", f"{achieved:.1f}",
                             f"{100 * achieved / peak:.0f}%"])
            if hf_gmacs:
                achieved = 2 * hf_gmacs * encoder["hf_img_s"]
                rows.append([f"HF fp32, {args.batch} x {train_size}", "", f"{achieved:.1f}",
                             f"{100 * achieved / peak:.0f}%"])
            large = 2 * train_size
            if large in gmacs:
                achieved = 2 * gmacs[large] * encoder["large_img_s"]["fp32"]
                rows.append([f"ours fp32, 1 x {large}", "", f"{achieved:.1f}", f"{100 * achieved / peak:.0f}%"])
    params = count_parameters(model)
    report.add(
        "Model FLOPs (fvcore) and achieved throughput",
        markdown_table(["what", "GMACs/image", "achieved GFLOP/s", "of fp32 peak"], rows),
        f"Parameters: {params['image_encoder'] / 1e6:.1f}M image encoder, {params['text_encoder'] / 1e6:.1f}M text "
        f"encoder, {params['projectors'] / 1e6:.1f}M projectors. fvcore counts one multiply-add as one MAC and "
        "is told how to count the fused attention; ours also projects the group tokens (HF's "
        "get_image_features does not). Achieved = 2 x MACs x images/s; the fp32 peak is the best measured "
        f"matrix product ({peak:.1f} GFLOP/s)." if peak else "No matmul section: no achieved fraction.",
        *notes,
    )
    return gmacs


# ------------------------------------------------------------------------------------------------
# profile
# ------------------------------------------------------------------------------------------------
KINDS = (
    ("attention (fused SDPA)", ("scaled_dot_product", "_flash_attention")),
    ("matmul / linear / conv", ("addmm", "aten::mm", "bmm", "matmul", "linear", "convolution", "einsum")),
    ("layernorm", ("layer_norm",)),
)


def op_kind(name, scope):
    """The kind an operator's self time counts towards, from its name and innermost scope."""
    if scope == "assign":
        return "grouping / assignment (AssignAttention)"
    if scope is None:
        return "zero-shot head (group maps, pixel scores, window canvas, upsampling)"
    for kind, keys in KINDS:
        if any(k in name for k in keys):
            return kind
    return "other (GELU, add, copy, softmax, ...)"


def profile_section(model, sample, report, calls=1, top=12):
    from torch.profiler import ProfilerActivity, profile

    # Module hooks fire on calls, and the model calls backbone.encode, not the backbone itself.
    backbone = model.backbone
    scopes = [("encoder", backbone.patch_embed), ("encoder", backbone.norm), ("encoder", model.img_projector)]
    scopes += [("encoder", layer) for layer in backbone.layers]
    scopes += [("assign", layer.downsample.assign) for layer in backbone.layers if layer.downsample is not None]
    with torch.no_grad():
        model([sample])  # class embeddings cached, buffers warm
        with profile(activities=[ProfilerActivity.CPU]):
            model([sample])  # the first profiling session pays the profiler's start-up
        with ModuleScopes(scopes), profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for _ in range(calls):
                model([sample])
            wall = (time.perf_counter() - t0) / calls
    kinds, ops = {}, {}
    for e in prof.events():
        if e.name.startswith("part::"):
            continue
        scope, parent = None, e.cpu_parent
        while parent is not None and scope is None:
            if parent.name.startswith("part::"):
                scope = parent.name[len("part::"):]
            parent = parent.cpu_parent
        kind = op_kind(e.name, scope)
        kinds[kind] = kinds.get(kind, 0) + e.self_cpu_time_total / calls
        ops[e.name] = ops.get(e.name, 0) + e.self_cpu_time_total / calls
    total = sum(kinds.values()) or 1
    kind_rows = [[k, f"{v / 1000:.0f}", f"{100 * v / total:.1f}%"]
                 for k, v in sorted(kinds.items(), key=lambda x: -x[1])]
    op_rows = [[f"`{k}`", f"{v / 1000:.0f}", f"{100 * v / total:.1f}%"]
               for k, v in sorted(ops.items(), key=lambda x: -x[1])[:top]]
    h, w = sample["image"].shape[-2:]
    report.add(
        f"Where the time goes: one zero-shot inference at {h}x{w}",
        f"torch.profiler, CPU, class embeddings cached, per call (mean of {calls}); {wall * 1000:.0f} ms wall "
        f"under the profiler, {total / 1000:.0f} ms of operator self time. By kind (ops inside the image encoder "
        "by name; everything inside AssignAttention as assignment; everything outside the encoder's modules as "
        "the zero-shot head):",
        markdown_table(["kind", "self ms", "share"], kind_rows),
        f"Top {top} operators by self CPU time:",
        markdown_table(["operator", "self ms", "share"], op_rows),
    )
    return kinds


# ------------------------------------------------------------------------------------------------
# compile
# ------------------------------------------------------------------------------------------------
def compile_section(args, hf, ours, size, report):
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(args.batch, 3, size, size, generator=g).to(args.device)

    def eager(x=pixels):
        return ours.encode_image(x)["image_embeds"]

    try:
        import torch._inductor.config as inductor_config

        with torch.no_grad(), inductor_config.patch(freezing=True):
            compiled = torch.compile(lambda x: ours.encode_image(x)["image_embeds"])
            t0 = time.perf_counter()
            out = compiled(pixels)
            compile_s = time.perf_counter() - t0
    except Exception as e:  # no compiler, unsupported op, ...: say so and go on
        report.add("torch.compile", f"torch.compile failed on this machine, skipped: {type(e).__name__}: "
                   f"{str(e).splitlines()[0][:300]}")
        return None
    with torch.no_grad():
        diff = (out - eager()).abs().max().item()
        times = interleaved_times({"hf": lambda: hf_image_embeds(hf, pixels), "eager": eager,
                                   "compiled": lambda: compiled(pixels)}, args.repeats, args.warmup, args.device)
    e, c, h = (median_ms(times[k]) for k in ("eager", "compiled", "hf"))
    speedup, speedup_min = e / c, min(times["eager"]) / min(times["compiled"])
    saved = (e - c) / 1000 / args.batch  # seconds per image
    pays = speedup > 1.03 and speedup_min > 1.03
    rows = [["HF fp32", f"{h:.0f}", spread(times["hf"]), "", ""],
            ["ours eager", f"{e:.0f}", spread(times["eager"]), f"{h / e:.2f}", ""],
            ["ours compiled", f"{c:.0f}", spread(times["compiled"]), f"{h / c:.2f}", f"{speedup:.2f}"]]
    if pays:
        verdict = (f"{speedup:.2f}x faster than eager (of mins {speedup_min:.2f}x): the compile time is paid back "
                   f"after about {compile_s / saved:.0f} images of this shape")
    elif speedup < 0.97 and speedup_min < 0.97:
        verdict = f"slower than eager ({speedup:.2f}x, of mins {speedup_min:.2f}x): it does not pay"
    else:
        verdict = (f"within the noise of eager ({speedup:.2f}x, of mins {speedup_min:.2f}x): it does not pay "
                   "for its compile time")
    report.add(
        f"torch.compile (inductor, freezing) of the encoder, {args.batch} x {size}",
        markdown_table(["contender", "ms/batch", "(min-max)", "HF/this", "eager/this"], rows),
        f"Compiling took {compile_s:.0f} s; compiled vs eager max abs diff {diff:.1e}; {verdict}. Each new input "
        "shape (sliding-window batches of another window count, other image sizes) compiles again, so the "
        "eager model stays the default.",
    )
    return {"compile_s": compile_s, "speedup": speedup, "pays": pays}


# ------------------------------------------------------------------------------------------------
# text: class embeddings across processes
# ------------------------------------------------------------------------------------------------
def text_cache_section(args, report):
    """Embedding a vocabulary's names in a first process and again in a second one (a fresh model
    with the same weights: the class embeddings come from the on-disk cache)."""
    import tempfile

    from groupvit_d2.data.text import get_templates

    label, dataset = TEXT_VOCABULARY
    names, threshold = vocabulary(dataset)
    step = max(1, math.ceil(len(names) / args.text_classes))
    subset = names[::step]
    with tempfile.TemporaryDirectory(prefix="speed_report_text_cache_") as folder:
        opts = ["TEST.CLASS_EMBEDDING_CACHE.DIR", folder]
        rows, result = [], {}
        with torch.no_grad():
            for run, vocab in (("first process", subset), ("second process", subset), ("first process", names),
                               ("second process", names)):
                if run == "first process" and vocab is names:
                    # Encoding all 68k prompts takes minutes: the whole vocabulary's first embedding is
                    # extrapolated from the subset; here its entry is written by a model that encodes
                    # only what the second process then reads.
                    model, _ = build_ours(args.config, args.weights, args.device, opts)
                    first_s = result["first_subset_s"] * len(names) / len(subset)
                    _write_entry_without_encoding(model, vocab)
                    rows.append([run, f"{len(vocab)}", f"{first_s:.1f} (est. from {len(subset)} classes)", "-"])
                    result["first_full_s_estimated"] = first_s
                    continue
                model, _ = build_ours(args.config, args.weights, args.device, opts)
                t0 = time.perf_counter()
                model.class_embeddings(class_names=vocab, background_threshold=threshold)
                seconds = time.perf_counter() - t0
                classifier = model.text_classifier
                rows.append([run, f"{len(vocab)}", f"{seconds:.2f}",
                             f"{classifier.num_texts_encoded} encoded, {classifier.num_disk_hits} read from disk"])
                key = "first" if run == "first process" else "second"
                result[key + ("_subset_s" if vocab is subset else "_full_s")] = seconds
    templates = len(get_templates(model.templates_name))
    report.add(
        f"Class embeddings across processes: {label}",
        f"The '{model.templates_name}' templates ({templates}); each row a freshly built model with the same "
        "weights, as a new `--eval-only` process would be, sharing an on-disk cache folder of its own. The second "
        "process computes the text tower's fingerprint and the prompts' key, and reads the entry back.",
        markdown_table(["run", "classes", "s", "text encoder"], rows),
    )
    return result


def _write_entry_without_encoding(model, names):
    """Put the entry of `names` in the model's store as the first process would, without spending
    minutes in the text encoder: the second process's read costs the same whatever the values."""
    from groupvit_d2.data.text import get_templates
    from groupvit_d2.modeling.core import split_class_names
    from groupvit_d2.modeling.core.embedding_cache import prompts_key

    templates = get_templates(model.templates_name)
    parsed = split_class_names(names)
    prompts = [(i, t.format(n) if isinstance(t, str) else t(n)) for i, ns in enumerate(parsed) for n in ns
               for t in templates]
    dim = model.encode_text(model.tokenizer(["a"])).shape[-1]
    model.text_classifier.store.save(prompts_key(model.text_fingerprint(), prompts),
                                     torch.nn.functional.normalize(torch.randn(len(parsed), dim), dim=-1))


# ------------------------------------------------------------------------------------------------
# gpu
# ------------------------------------------------------------------------------------------------
def gpu_section(args, report):
    """CUDA fp32 / bf16 / torch.compile encoder throughput and zero-shot images/s at 448, with peak
    memory; a skip note where CUDA is not available."""
    if not torch.cuda.is_available():
        report.add("GPU", "Skipped: CUDA is not available on this machine (torch "
                   f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}).")
        return None
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    model, cfg = build_ours(args.config, args.weights, "cuda")
    size = cfg.TEST.SLIDING_WINDOW.CROP_SIZE
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(8, 3, size, size, generator=g).to(device)

    def encoder(amp):
        with autocast("cuda", amp):
            return model.encode_image(pixels)["image_embeds"]

    contenders = {"encoder fp32": lambda: encoder(False), "encoder bf16 autocast": lambda: encoder(True)}
    compile_note = ""
    try:
        compiled = torch.compile(model.backbone.encode)
        original = model.backbone.encode
        model.backbone.encode = compiled
        with torch.inference_mode():
            encoder(False)
        model.backbone.encode = original

        def compiled_encoder():
            model.backbone.encode = compiled
            try:
                return encoder(False)
            finally:
                model.backbone.encode = original

        contenders["encoder fp32 torch.compile"] = compiled_encoder
    except Exception as error:  # a compiler failure is a finding of the report, not a crash
        compile_note = f"torch.compile failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    names, threshold = vocabulary(SIZE_VOCABULARY[1])
    sample = zero_shot_sample(size, size, names, threshold)
    with torch.no_grad():
        model.class_embeddings(class_names=names, background_threshold=threshold)

    def zero_shot(precision):
        model.precision = precision
        try:
            return model([sample])[0]["sem_seg"]
        finally:
            model.precision = "fp32"

    contenders["zero-shot fp32 (1 image)"] = lambda: zero_shot("fp32")
    contenders["zero-shot MODEL.PRECISION bf16 (1 image)"] = lambda: zero_shot("bf16")
    rows, result = [], {}
    with torch.inference_mode():
        for label, fn in contenders.items():
            times, memory = peak_memory_growth(
                lambda fn=fn: interleaved_times({"x": fn}, args.repeats, args.warmup, "cuda")["x"], "cuda")
            ms = median_ms(times)
            per_call = 1 if "zero-shot" in label else pixels.shape[0]
            rows.append([label, f"{ms:.1f}", spread(times), f"{1000 * per_call / ms:.1f}",
                         f"{memory['peak_growth_mib']:.0f}"])
            result[label] = {"ms": ms, "img_s": 1000 * per_call / ms, "peak_mib": memory["peak_growth_mib"]}
    report.add(f"GPU: {name}",
               f"CUDA {torch.version.cuda}; encoder rows: 8 x {size}; zero-shot rows: one {size} x {size} image, "
               f"{len(names)} names + background, class embeddings cached. Peak +MiB: torch.cuda.max_memory_allocated "
               "above what was allocated before the row.",
               markdown_table(["row", "ms/call", "(min-max)", "img/s", "peak +MiB"], rows), compile_note)
    return {"device": name, **result}


# ------------------------------------------------------------------------------------------------
# agreement
# ------------------------------------------------------------------------------------------------
def bf16_agreement(config, weights, dataset, device="cpu", max_images=None):
    """Zero-shot segmentation of `dataset` in fp32 and under bf16 autocast.

    Returns {"pixels", "agreement" (fraction of pixels whose argmax class is the same), "miou_fp32",
    "miou_bf16", "images", "s_per_image_fp32", "s_per_image_bf16"}. Autocast covers the whole
    model call; the model itself keeps the class embeddings and the zero-shot head in fp32.
    """
    from detectron2.evaluation import SemSegEvaluator

    from train_net import Trainer

    # Images load in this process, so that loader workers do not compete with the timed passes.
    model, cfg = build_ours(config, weights, device, ["DATALOADER.NUM_WORKERS", "0"])
    loader = Trainer.build_test_loader(cfg, dataset)
    evaluators = {key: SemSegEvaluator(dataset, distributed=False) for key in ("fp32", "bf16")}
    for ev in evaluators.values():
        ev.reset()
    equal = pixels = images = 0
    seconds = {"fp32": 0.0, "bf16": 0.0}
    with torch.no_grad():
        model.class_embeddings(dataset_name=dataset)  # once, outside the timed passes
        for inputs in loader:
            outputs = {}
            for key in ("fp32", "bf16"):
                t0 = time.perf_counter()
                with autocast(device, key == "bf16"):
                    outputs[key] = model(inputs)
                seconds[key] += time.perf_counter() - t0
                evaluators[key].process(inputs, outputs[key])
            for a, b in zip(outputs["fp32"], outputs["bf16"]):
                pa, pb = a["sem_seg"].argmax(0), b["sem_seg"].argmax(0)
                equal += int((pa == pb).sum())
                pixels += pa.numel()
            images += len(inputs)
            if max_images and images >= max_images:
                break
    mious = {k: ev.evaluate()["sem_seg"]["mIoU"] for k, ev in evaluators.items()}
    return {"pixels": pixels, "agreement": equal / max(pixels, 1), "miou_fp32": mious["fp32"],
            "miou_bf16": mious["bf16"], "images": images, "s_per_image_fp32": seconds["fp32"] / max(images, 1),
            "s_per_image_bf16": seconds["bf16"] / max(images, 1)}


def agreement_section(args, report):
    config = args.agreement_config or args.config
    r = bf16_agreement(config, args.agreement_weights, args.dataset, args.device, args.agreement_max_images)
    rows = [["fp32", f"{r['miou_fp32']:.2f}", f"{r['s_per_image_fp32']:.2f}"],
            ["bf16 autocast", f"{r['miou_bf16']:.2f}", f"{r['s_per_image_bf16']:.2f}"]]
    report.add(
        f"bf16 autocast against fp32: zero-shot segmentation of {args.dataset}",
        f"{os.path.relpath(config)} with {args.agreement_weights}; {r['images']} images, {r['pixels']} pixels "
        "at the original size; the whole model call under autocast (the model runs in bf16 only its "
        "encoder's first stage; the later stages, the projector, the class embeddings and the "
        "zero-shot head stay in fp32).",
        markdown_table(["precision", "mIoU", "s/image"], rows),
        f"Pixels whose predicted class agrees: {100 * r['agreement']:.3f}%; mIoU difference "
        f"{r['miou_bf16'] - r['miou_fp32']:+.2f}.",
    )
    return r


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------
def native_bf16_text(device):
    """(device runs bf16 natively, why), for the targets that only hold there."""
    from groupvit_d2.modeling.core import native_bf16

    return native_bf16(device)


def growth_point_of(growth, dataset):
    return next((r for r in growth or [] if r.get("sweep") == "vocabulary" and r.get("dataset") == dataset
                 and "error" not in r), None)


def targets_section(args, encoder, train, agreement, peak, bf16_peak, report, growth=None, text=None):
    rows = []
    t = TARGETS
    native, why_native = native_bf16_text(args.device)
    not_here = f"not applicable here: {why_native}"
    if encoder:
        r32, r16 = encoder["ratios"]["fp32"], encoder["ratios"]["bf16"]
        rows.append([f"fp32 inference >= {t['fp32']}x HF ({args.batch} x 224), max abs diff <= {t['diff']:.0e}",
                     f"{r32[0]:.2f}x (of mins {r32[1]:.2f}x), max abs diff {r32[2]:.1e}",
                     "yes" if r32[0] >= t["fp32"] and r32[2] <= t["diff"] else "no"])
        why = (f" (bf16 matmul {bf16_peak:.1f} vs fp32 {peak:.1f} GFLOP/s on this CPU)" if peak and bf16_peak else "")
        rows.append([f"bf16 autocast inference >= {t['bf16']}x HF fp32 (native bf16 only)",
                     f"{r16[0]:.2f}x (of mins {r16[1]:.2f}x){why}",
                     ("yes" if r16[0] >= t["bf16"] else "no") if native else not_here])
    if agreement:
        miou_diff = agreement["miou_bf16"] - agreement["miou_fp32"]
        ok = agreement["agreement"] >= t["agreement"] and abs(miou_diff) <= t["miou"]
        rows.append([f"bf16 segmentation: >= {100 * t['agreement']}% pixels agree, |mIoU diff| <= {t['miou']}",
                     f"{100 * agreement['agreement']:.2f}%, {miou_diff:+.2f}",
                     "yes" if ok else "no"])
    small, large = growth_point_of(growth, SIZE_VOCABULARY[1]), growth_point_of(growth, VOCABULARIES[-1][1])
    if small and large:
        ratio = statistics.median(large["times"]) / statistics.median(small["times"])
        rows.append([f"{VOCABULARIES[-1][0]} at {large['input'][0]}x{large['input'][1]}: time per image <= "
                     f"{t['vocab_time']}x that of {SIZE_VOCABULARY[0]}", f"{ratio:.2f}x",
                     "yes" if ratio <= t["vocab_time"] else "no"])
        sem_seg_mib = math.prod(large["out_shape"]) * 4 / 2 ** 20
        growth_ratio = large["peak_growth_mib"] / sem_seg_mib
        rows.append([f"{VOCABULARIES[-1][0]}: peak memory growth <= {t['vocab_memory']}x the returned sem_seg",
                     f"{large['peak_growth_mib']:.0f} MiB for a {sem_seg_mib:.0f} MiB sem_seg: {growth_ratio:.2f}x",
                     "yes" if growth_ratio <= t["vocab_memory"] else "no"])
    if text and "second_full_s" in text:
        second = text["second_full_s"]
        rows.append([f"second evaluation on {TEXT_VOCABULARY[0]}: < {t['text_second_s']:.0f} s on text",
                     f"{second:.2f} s (first: {text['first_full_s_estimated']:.0f} s, estimated)",
                     "yes" if second < t["text_second_s"] else "no"])
    if train and "ours_contrastive" in train:
        ratio, mem = train["ours_contrastive"]
        hf_mem = train["hf"][1]
        mem_ok = mem is not None and hf_mem is not None and mem <= hf_mem
        mem_text = "-" if mem is None or hf_mem is None else f"{mem:.0f} vs HF {hf_mem:.0f} MiB"
        rows.append([f"training step (contrastive) >= {t['train']}x HF, peak memory <= HF", f"{ratio:.2f}x, {mem_text}",
                     "yes" if ratio >= t["train"] and mem_ok else "no"])
    if rows:
        report.add("Targets", markdown_table(["target", "measured", "met"], rows),
                   f"bf16 hardware on {args.device}: {'yes' if native else 'no'} ({why_native}). "
                   "The ratios move by a few percent from run to run, more when other jobs share the cores "
                   "(see the load averages above).")


def machine_description(args):
    import transformers

    flags = cpu_flags(ISA_FLAGS)
    lines = [f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores; flags: "
             + (", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items()) or "unknown"),
             f"- torch {torch.__version__} (CPU kernels: {torch.backends.cpu.get_cpu_capability()}), "
             f"transformers {transformers.__version__}; intra-op threads {torch.get_num_threads()}; "
             f"device {args.device}",
             f"- config {os.path.relpath(args.config)}, weights: {args.weights or 'random'}; "
             f"repetitions: {args.repeats} per interleaved contender, {args.train_repeats} per training row, "
             f"{args.growth_repeats} images per growth point (each after {args.warmup} warm-up)"]
    lines.append(load_line("start"))
    return "\n".join(line for line in lines if line)


def load_line(when):
    if not hasattr(os, "getloadavg"):
        return ""
    load = os.getloadavg()
    line = f"- load average (1/5/15 min) at {when}: " + " ".join(f"{x:.2f}" for x in load)
    if load[0] >= (os.cpu_count() or 1):
        line += (" (other jobs keep the cores busy: absolute times are inflated and noisy, the interleaved "
                 "ratios less so)")
    return line


def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    report = Report()
    command = " ".join(["python", "benchmarks/speed_report.py"] + [shlex.quote(a) for a in args.argv])
    head = (f"# GroupViT speed, memory and scaling\n\nRegenerate with `{command}`.\n\n"
            + machine_description(args))
    print(head, flush=True)
    sections = set(args.sections)
    cfg = load_cfg(args.config, args.device)
    crop, train_size = cfg.TEST.SLIDING_WINDOW.CROP_SIZE, cfg.MODEL.GROUPVIT.IMAGE_SIZE
    points = sweep_points(args, crop)

    # Processes are forked before this one runs any parallel kernel (see call_in_fresh_process).
    growth = [call_in_fresh_process(growth_point, (args, h, w, ds, sweep == DENSE_SWEEP), args.device)
              for sweep, _, (h, w), _, ds in points] if "growth" in sections else None
    memory = train_memory(args) if "train" in sections else {}

    raw = {"memory_train": memory}
    peak = bf16_peak = None
    if "matmul" in sections:
        peak, bf16_peak = matmul_section(args, report)
        raw["matmul_gflops"] = {"fp32": peak, "bf16": bf16_peak}
    hf = ours = encoder = train = agreement = None
    if sections & {"encoder", "flops", "compile"}:
        hf, ours, _ = build_hf_and_ours(cfg)
        if args.weights:
            load_weights_into_pair(hf, ours, args.weights)
    if "encoder" in sections:
        encoder = raw["encoder"] = encoder_section(args, hf, ours, train_size, 2 * train_size, report)
    if "train" in sections:
        train = raw["train"] = train_section(args, memory, report)
    model = None
    if sections & {"growth", "flops", "profile"}:
        model, _ = build_ours(args.config, args.weights, args.device)
    gmacs_growth = None
    if "flops" in sections:
        sizes = sorted({train_size, 2 * train_size} | {p[1] for p in points if p[1]})
        flops_section(args, hf, model, train_size, sizes, encoder, peak, report)
        cache = {}
        if growth:
            gmacs_growth = [encoder_gmacs_per_image(model, r.get("windows", []), model.backbone.patch_size, cache)
                            for r in growth]
    if growth is not None:
        raw["growth"] = growth_section(args, cfg, points, growth, model, gmacs_growth, peak, report)
    if "profile" in sections:
        names, threshold = vocabulary(SIZE_VOCABULARY[1])
        h = crop
        profile_section(model, zero_shot_sample(h, int(round(h * ASPECT)), names, threshold), report,
                        calls=args.growth_repeats)
    if "compile" in sections:
        raw["compile"] = compile_section(args, hf, ours, train_size, report)
    text = None
    if "text" in sections:
        text = raw["text"] = text_cache_section(args, report)
    if "gpu" in sections:
        raw["gpu"] = gpu_section(args, report)
    if "agreement" in sections:
        agreement = raw["agreement"] = agreement_section(args, report)
    targets_section(args, encoder, train, agreement, peak, bf16_peak, report, raw.get("growth"), text)
    elapsed = time.perf_counter() - start
    print(f"\nwhole run: {elapsed:.0f} s\n" + load_line("end"), flush=True)
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "speed.md"), "w") as f:
            f.write(report.markdown(head + f"\n- whole run: {elapsed:.0f} s\n" + load_line("end")))
        with open(os.path.join(args.output_dir, "speed.json"), "w") as f:
            json.dump({"args": vars(args), "seconds": elapsed, **raw}, f, indent=1, default=str)
    if args.page:
        plot = os.path.relpath(os.path.join(args.output_dir, "cost_growth.png"),
                               os.path.dirname(os.path.abspath(args.page)))
        text = report.markdown(head + f"\n- whole run: {elapsed:.0f} s\n" + load_line("end"))
        # One heading level down: the page has its own title.
        text = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
        write_section(args.page, "speed", text.replace("](cost_growth.png)", f"]({plot})"))
    return report


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
