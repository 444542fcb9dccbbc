#!/usr/bin/env python
"""Eval-mode image-encoder speed: ours against transformers' GroupViTModel on the same weights.

    python benchmarks/encoder_speed.py [--reps 5] [--threads N] [--dtype fp32|bf16]
                                       [--config configs/groupvit/gcc_yfcc_30e.yaml] [--profile]

A randomly initialised transformers GroupViTModel with the config's architecture (for the default
config: GroupViTConfig's defaults, the released architecture) is converted with `hf_to_ours`, and
both models embed the same normalised images:

    (a) batch 8 at 224: HF `get_image_features` (vision tower + visual projection) against our
        `encode_image` (which also projects the 8 group tokens of each image);
    (b) batch 1 at 448: HF's public API refuses this size (the script shows the error it raises), so
        HF runs through its own submodules, `embeddings(..., interpolate_pos_encoding=True)`, the
        encoder, the final LayerNorm, the mean and the visual projection.

Contenders alternate repetition by repetition in one process, and the table reports medians,
the min-max spread and the ratio HF/ours (> 1: ours is faster), plus the largest absolute
difference between the two image embeddings. `--dtype bf16` adds rows under bf16 autocast.
`--profile` prints torch.profiler's top operators and the time per model part for both models.
"""
import argparse
import os

import torch

from groupvit_d2.benchmarking.common import (
    RELEASED_CONFIG,
    build_hf_and_ours,
    default_device,
    format_table,
    interleaved_times,
    is_default_hf_config,
    load_cfg,
    machine_lines,
    median_ms,
    spread,
)
from groupvit_d2.benchmarking.encoder import (
    ModuleScopes,
    autocast,
    hf_image_embeds,
    hf_image_embeds_interpolated,
    hf_public_api_error,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=RELEASED_CONFIG, help="architecture (default: the released one)")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per contender and setting")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                        help="bf16 adds rows timed under bf16 autocast")
    parser.add_argument("--batch", type=int, default=8, help="batch of setting (a)")
    parser.add_argument("--large-size", type=int, default=None,
                        help="input size of setting (b) (default: twice the training size, 448)")
    parser.add_argument("--device", default=default_device())
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    return parser.parse_args(argv)


def our_parts(ours):
    """[(label, module)] of our image tower; the projector runs twice (pooled and group tokens)."""
    b = ours.backbone
    parts = [("patch_embed+pos", b.patch_embed), ("final_norm", b.norm), ("projector", ours.img_projector)]
    for i, layer in enumerate(b.layers):
        parts += [(f"stage{i}.blocks", blk) for blk in layer.blocks]
        if layer.group_projector is not None:
            parts.append((f"stage{i}.group_projector", layer.group_projector))
        if layer.downsample is not None:
            parts.append((f"stage{i}.grouping_block", layer.downsample))
    return parts


def hf_parts(hf):
    """[(label, module)] of HF's image tower, with the same labels as `our_parts`."""
    v = hf.vision_model
    parts = [("patch_embed+pos", v.embeddings), ("final_norm", v.layernorm), ("projector", hf.visual_projection)]
    for i, stage in enumerate(v.encoder.stages):
        parts += [(f"stage{i}.blocks", blk) for blk in stage.layers]
        if stage.group_projector is not None:
            parts.append((f"stage{i}.group_projector", stage.group_projector))
        if stage.downsample is not None:
            parts.append((f"stage{i}.grouping_block", stage.downsample))
    return parts


def profile(name, fn, parts, device, reps=2):
    """Print the top operators and the time per model part of `reps` calls of fn (CPU time; device
    time on CUDA)."""
    from torch.profiler import ProfilerActivity

    activities = [ProfilerActivity.CPU]
    self_attr, total_attr, unit = "self_cpu_time_total", "cpu_time_total", "CPU"
    if str(device).startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
        self_attr, total_attr, unit = "self_device_time_total", "device_time_total", "device"
    with torch.profiler.profile(activities=activities):
        fn()  # the first profiling session pays the profiler's start-up; keep it out of the numbers
    with ModuleScopes(parts), torch.profiler.profile(activities=activities) as prof:
        for _ in range(reps):
            fn()
    events = prof.key_averages()
    ops = [e for e in events if not e.key.startswith("part::")]
    total = sum(getattr(e, self_attr) for e in ops) or 1
    print(f"\n--- profile: {name}: {total / 1000 / reps:.1f} ms of operator {unit} time per call; "
          "top operators by self time ---")
    rows = [[e.key[:45], f"{getattr(e, self_attr) / 1000 / reps:.1f}", f"{100 * getattr(e, self_attr) / total:.1f}%",
             f"{e.count // reps}"] for e in sorted(ops, key=lambda e: -getattr(e, self_attr))[:12]]
    print(format_table(["operator", "self ms/call", "share", "calls/call"], rows))
    print(f"--- profile: {name}: time per model part, children included ---")
    rows = [[e.key[len("part::"):], f"{getattr(e, total_attr) / 1000 / reps:.1f}",
             f"{100 * getattr(e, total_attr) / total:.1f}%"]
            for e in sorted((e for e in events if e.key.startswith("part::")), key=lambda e: -getattr(e, total_attr))]
    print(format_table(["part", "ms/call", "share"], rows))


def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print("# GroupViT image encoder, eval forward: ours vs transformers.GroupViTModel (same weights)")
    for line in machine_lines(device):
        print(line)

    cfg = load_cfg(args.config, device)
    hf, ours, hf_config = build_hf_and_ours(cfg)
    size = hf_config.vision_config.image_size
    large = args.large_size or 2 * size
    print(f"config: {os.path.relpath(args.config)}; HF config = GroupViTConfig() defaults: "
          f"{is_default_hf_config(hf_config)}; reps {args.reps} (+{args.warmup} warm-up), interleaved")

    g = torch.Generator().manual_seed(0)
    settings = [
        (f"a) {args.batch} x {size}", torch.randn(args.batch, 3, size, size, generator=g).to(device),
         lambda x: hf_image_embeds(hf, x)),
        (f"b) 1 x {large}", torch.randn(1, 3, large, large, generator=g).to(device),
         lambda x: hf_image_embeds_interpolated(hf, x)),
    ]
    variants = [("fp32", False)] + ([("bf16 autocast", True)] if args.dtype == "bf16" else [])

    rows, notes = [], []
    with torch.inference_mode():
        error = hf_public_api_error(hf, settings[1][1])
        if error:
            notes.append(f"HF's public API cannot embed {large}x{large} inputs:\n{error}\n"
                         f"  so row b) runs HF's submodules (embeddings with interpolate_pos_encoding=True, "
                         f"encoder, layernorm, mean, visual_projection).")
        for setting, pixels, hf_fn in settings:
            for vname, amp in variants:
                def ours_fn(pixels=pixels, amp=amp):
                    with autocast(device, amp):
                        return ours.encode_image(pixels)["image_embeds"]

                def theirs_fn(pixels=pixels, amp=amp, hf_fn=hf_fn):
                    with autocast(device, amp):
                        return hf_fn(pixels)

                diff = (ours_fn().float() - theirs_fn().float()).abs().max().item()
                times = interleaved_times({"ours": ours_fn, "hf": theirs_fn}, args.reps, args.warmup, device)
                o, h = median_ms(times["ours"]), median_ms(times["hf"])
                n = pixels.shape[0]
                rows.append([f"{setting} {vname}", f"{o:.1f}", spread(times["ours"]), f"{h:.1f}", spread(times["hf"]),
                             f"{h / o:.2f}", f"{min(times['hf']) / min(times['ours']):.2f}", f"{1000 * n / o:.2f}",
                             f"{1000 * n / h:.2f}", f"{diff:.1e}"])
        if args.dtype == "bf16":
            ref = ours.encode_image(settings[0][1])["image_embeds"]
            with autocast(device, True):
                low = ours.encode_image(settings[0][1])["image_embeds"].float()
            notes.append(f"ours bf16 autocast vs ours fp32, setting a): max abs diff "
                         f"{(low - ref).abs().max().item():.1e} (embedding max abs {ref.abs().max().item():.2f})")

    print()
    print(format_table(
        ["setting", "ours ms/batch", "(min-max)", "HF ms/batch", "(min-max)", "HF/ours", "(of mins)", "ours img/s",
         "HF img/s", "max|diff|"], rows))
    print("HF/ours: ratio of the medians, > 1 means ours is faster; (of mins): the same for the fastest "
          "repetitions,\nwhich other jobs on the machine disturb least. max|diff|: image embeddings, ours vs HF, "
          "same inputs.")
    for note in notes:
        print(note)

    if args.profile:
        pixels = settings[0][1]
        with torch.inference_mode():
            profile(f"ours encode_image, {settings[0][0]}", lambda: ours.encode_image(pixels), our_parts(ours), device)
            profile(f"HF get_image_features, {settings[0][0]}", lambda: hf_image_embeds(hf, pixels), hf_parts(hf),
                    device)
    return rows


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
