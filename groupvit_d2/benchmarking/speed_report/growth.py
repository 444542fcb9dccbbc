"""growth: zero-shot inference time and peak memory as the input and the vocabulary grow, one fresh
process a point."""
import math
import os
import statistics
import time

import torch

from ..common import markdown_table, peak_memory_growth, status_kib
from .common import build_ours, vocabulary, zero_shot_sample


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
