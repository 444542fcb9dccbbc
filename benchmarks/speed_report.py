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

Each section is a module of groupvit_d2/benchmarking/speed_report/, named after it (profile:
profiling.py, compile: compilation.py; the closing targets and machine lines: targets.py).

Timings of contenders alternate repetition by repetition in one process (see
groupvit_d2/benchmarking/common.py);
ratios are medians, "(of mins)" the same for the fastest repetitions. With --output-dir the
report is also written as markdown (speed.md) with a plot of the growth sweeps (cost_growth.png).
"""
import argparse
import json
import os
import shlex
import sys
import time

import torch

from groupvit_d2.benchmarking.common import (
    TINY_CONFIG,
    RELEASED_CONFIG,
    build_hf_and_ours,
    call_in_fresh_process,
    load_cfg,
    use_clock,
)
from groupvit_d2.benchmarking.speed_report.agreement import agreement_section
from groupvit_d2.benchmarking.speed_report.common import (
    ASPECT,
    DEFAULT_SECTIONS,
    DENSE_SWEEP,
    Report,
    SECTIONS,
    SIZE_VOCABULARY,
    build_ours,
    load_weights_into_pair,
    sweep_points,
    vocabulary,
    zero_shot_sample,
)
from groupvit_d2.benchmarking.speed_report.compilation import compile_section
from groupvit_d2.benchmarking.speed_report.encoder import encoder_section
from groupvit_d2.benchmarking.speed_report.flops import flops_section
from groupvit_d2.benchmarking.speed_report.gpu import gpu_section
from groupvit_d2.benchmarking.speed_report.growth import encoder_gmacs_per_image, growth_point, growth_section
from groupvit_d2.benchmarking.speed_report.matmul import matmul_section
from groupvit_d2.benchmarking.speed_report.profiling import profile_section
from groupvit_d2.benchmarking.speed_report.targets import load_line, machine_description, targets_section
from groupvit_d2.benchmarking.speed_report.text import text_cache_section
from groupvit_d2.benchmarking.speed_report.train import train_memory, train_section
from groupvit_d2.utils.results_page import write_section


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
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="what the interleaved timings measure: wall time, or the process's CPU time (with "
                             "--threads 1, on cores that other jobs keep busy)")
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



def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    use_clock(args.clock)
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
