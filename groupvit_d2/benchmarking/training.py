"""Training throughput and peak memory: our meta-architecture against transformers' GroupViTModel.

    python benchmarks/train_throughput.py [--archs released tiny] [--reps 3] [--threads N]
                                          [--released-batch 8] [--tiny-batch 32] [--num-labels 3]
                                          [--no-memory]

One step is forward, backward and an AdamW step, on one fixed batch of random images and token
ids. Per architecture (released: configs/groupvit/gcc_yfcc_30e.yaml at 224; tiny:
configs/groupvit/tiny.yaml at 64), four rows are timed in one process, alternating repetition by
repetition, on the same weights (HF's random initialisation converted with `hf_to_ours`):

    ours full       `losses()` as configured: caption + K prompted labels per image (B(1+K) texts),
                    contrastive + multi-label loss, drop path and random erasing from the config;
    ours contrast.  `losses()` with K=0 texts (caption only, so no multi-label loss), drop path and
                    random erasing off: the same work as HF's step, the row to compare with it;
    ours c. bf16    the same under bf16 autocast, as SOLVER.AMP.ENABLED with DTYPE bfloat16 runs it
                    (fp32 weights and AdamW state; on CPUs, worth it only with native bf16);
    HF              model(input_ids, pixel_values, attention_mask, return_loss=True).loss.

HF/ours is HF's step time over the row's (> 1: ours is faster). Peak memory is measured for each
row in a fresh process (forked on CPU before this one runs any kernel): the peak resident set
during `--memory-steps` steps minus the resident set just before them, with the model built and
the batch made (Linux: the kernel's peak mark is reset through /proc/self/clear_refs); that is
gradients, AdamW state and activations. On CUDA: torch.cuda.max_memory_allocated over the steps
minus the memory allocated before them.
"""
import argparse
import contextlib

import torch

from .common import (
    RELEASED_CONFIG,
    TINY_CONFIG,
    build_hf_and_ours,
    call_in_fresh_process,
    default_device,
    format_table,
    hf_architecture,
    interleaved_times,
    load_cfg,
    machine_lines,
    median_ms,
    peak_memory_growth,
    spread,
)

ARCHS = {"released": RELEASED_CONFIG, "tiny": TINY_CONFIG}
ROWS = ("ours_full", "ours_contrastive", "ours_contrastive_bf16", "hf")
ROW_NAMES = {"ours_full": "ours full", "ours_contrastive": "ours contrastive",
             "ours_contrastive_bf16": "ours contrastive, bf16 autocast", "hf": "HF contrastive"}
SOT, EOT = 49406, 49407  # CLIP BPE start/end of text


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", choices=sorted(ARCHS), default=["released", "tiny"])
    parser.add_argument("--reps", type=int, default=3, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per row first (AdamW state, caches)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--released-batch", type=int, default=8)
    parser.add_argument("--released-size", type=int, default=224)
    parser.add_argument("--tiny-batch", type=int, default=32)
    parser.add_argument("--tiny-size", type=int, default=64)
    parser.add_argument("--num-labels", type=int, default=None,
                        help="K prompted labels per image of the full row (default: INPUT.IMAGE_TEXT.NUM_LABELS)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--device", default=default_device())
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--memory-steps", type=int, default=2)
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------
# Batches and steps
# ------------------------------------------------------------------------------------------------
def make_batch(batch, size, num_texts, context_length, seed=0):
    """`batch` uint8 images (3, size, size) and (batch, num_texts, context_length) token ids:
    start token, random ids, end token at a random position, zero padding after it."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch, 3, size, size), generator=g, dtype=torch.uint8)
    ids = torch.randint(1, SOT, (batch, num_texts, context_length), generator=g)
    ids[..., 0] = SOT
    ends = torch.randint(context_length // 4, context_length, (batch, num_texts), generator=g)
    positions = torch.arange(context_length)
    ids[positions > ends[..., None]] = 0
    ids.scatter_(-1, ends[..., None], EOT)
    return images, ids


def our_inputs(images, ids, num_labels):
    """The meta-architecture's training input with the caption and `num_labels` labels per image."""
    return [{"image": img, "text": t[: 1 + num_labels], "label_mask": torch.ones(num_labels, dtype=torch.bool)}
            for img, t in zip(images, ids)]


@contextlib.contextmanager
def contrastive_only(model):
    """Switch off what HF's training step does not do: drop path and random erasing."""
    from timm.layers import DropPath

    drop_paths = [m for m in model.modules() if isinstance(m, DropPath)]
    saved = ([m.drop_prob for m in drop_paths], model.random_erasing)
    for m in drop_paths:
        m.drop_prob = 0.0
    model.random_erasing = None
    try:
        yield
    finally:
        for m, p in zip(drop_paths, saved[0]):
            m.drop_prob = p
        model.random_erasing = saved[1]


def make_step(model, loss_fn, lr):
    """One training step of `model`: zero grads, loss_fn(), backward, AdamW."""
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.05)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def step_fn(row, model, images, ids, num_labels, lr, pixel_stats):
    """The step callable of a row (`model` is ours for ours_* rows, HF's for "hf"; HF gets the
    images normalised with `pixel_stats` = (mean, std), those our converted model uses)."""
    if row == "hf":
        device = next(model.parameters()).device
        mean, std = (torch.tensor(v, device=device).view(-1, 1, 1) for v in pixel_stats)
        pixels = (images.to(device, torch.float32) - mean) / std
        captions = ids[:, 0].to(device)
        mask = (captions != 0).long()
        return make_step(model, lambda: model(input_ids=captions, pixel_values=pixels, attention_mask=mask,
                                              return_loss=True).loss, lr)
    k = num_labels if row == "ours_full" else 0
    inputs = our_inputs(images, ids, k)
    if row == "ours_full":
        return make_step(model, lambda: sum(model.losses(inputs).values()), lr)

    if row == "ours_contrastive_bf16":
        # The forward of SOLVER.AMP.ENABLED with DTYPE bfloat16 (MixedPrecisionTrainer); fp32 weights
        # and optimizer state, the backward outside autocast.
        from groupvit_d2.engine.mixed_precision import autocast_losses

        device_type = next(model.parameters()).device.type

        def loss_fn():
            with contrastive_only(model):
                return autocast_losses(model.losses, inputs, device_type, torch.bfloat16)[1]

        return make_step(model, loss_fn, lr)

    def loss_fn():
        with contrastive_only(model):
            return sum(model.losses(inputs).values())

    return make_step(model, loss_fn, lr)


def arch_settings(args, arch):
    # `config` (set by speed_report.py) replaces the arch's config file; the arch still picks the
    # batch and image size.
    cfg = load_cfg(getattr(args, "config", None) or ARCHS[arch], args.device)
    batch = args.released_batch if arch == "released" else args.tiny_batch
    size = args.released_size if arch == "released" else args.tiny_size
    k = cfg.INPUT.IMAGE_TEXT.NUM_LABELS if args.num_labels is None else args.num_labels
    return cfg, batch, size, k


# ------------------------------------------------------------------------------------------------
# Peak memory, one fresh process per row
# ------------------------------------------------------------------------------------------------
def measure_memory(args, arch, row):
    """Peak memory growth (MiB) of `args.memory_steps` steps of one row, in this process."""
    from detectron2.modeling import build_model
    from transformers import GroupViTModel

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, batch, size, k = arch_settings(args, arch)
    device = torch.device(args.device)
    hf_config, ours_cfg = hf_architecture(cfg)
    torch.manual_seed(0)
    if row == "hf":
        model = GroupViTModel(hf_config).to(device)
    else:
        model = build_model(ours_cfg)
    images, ids = make_batch(batch, size, 1 + k, ours_cfg.MODEL.GROUPVIT.TEXT.CONTEXT_LENGTH)
    step = step_fn(row, model, images, ids, k, args.lr, (ours_cfg.MODEL.PIXEL_MEAN, ours_cfg.MODEL.PIXEL_STD))

    def steps():
        for _ in range(args.memory_steps):
            step()

    return peak_memory_growth(steps, device)[1]


def memory_in_fresh_process(args, arch, row, timeout=900):
    """`measure_memory` in a new process (see common.call_in_fresh_process), so that no
    other row's memory or allocator cache counts."""
    return call_in_fresh_process(measure_memory, (args, arch, row), args.device, timeout)


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------
def time_arch(args, arch):
    cfg, batch, size, k = arch_settings(args, arch)
    device = torch.device(args.device)
    hf, ours, _ = build_hf_and_ours(cfg)
    _, ours_cfg = hf_architecture(cfg)
    images, ids = make_batch(batch, size, 1 + k, ours_cfg.MODEL.GROUPVIT.TEXT.CONTEXT_LENGTH)
    stats = (ours_cfg.MODEL.PIXEL_MEAN, ours_cfg.MODEL.PIXEL_STD)
    steps = {row: step_fn(row, hf if row == "hf" else ours, images, ids, k, args.lr, stats) for row in ROWS}
    # Ours runs two rows on one model; both see the same weights at the start, and the steps in
    # between only move them a little, which does not change the work of a step.
    times = interleaved_times(steps, args.reps, args.warmup, device)
    g = ours_cfg.MODEL.GROUPVIT
    desc = (f"{arch}: batch {batch} x {size}px, context {g.TEXT.CONTEXT_LENGTH}, K={k} labels in the full row "
            f"({batch * (1 + k)} texts; contrastive rows {batch}), drop path {g.DROP_PATH_RATE}, random erasing "
            f"{ours_cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING} (full row only); "
            f"params ours {sum(p.numel() for p in ours.parameters()) / 1e6:.1f}M, "
            f"HF {sum(p.numel() for p in hf.parameters()) / 1e6:.1f}M")
    return batch, times, desc


def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    print("# GroupViT training step (forward + backward + AdamW): ours vs transformers.GroupViTModel")
    for line in machine_lines(args.device):
        print(line)
    print(f"reps {args.reps} (+{args.warmup} warm-up) per row, rows interleaved; "
          f"memory: {'skipped' if args.no_memory else f'fresh process per row, {args.memory_steps} steps'}")

    # Memory first: forked processes must start before this one has built models or run kernels.
    memory, memory_errors, method = {}, [], None
    if not args.no_memory:
        for arch in args.archs:
            for row in ROWS:
                m = memory_in_fresh_process(args, arch, row)
                if "error" in m:
                    memory_errors.append(f"{arch}/{row}: {m['error']}")
                    memory[arch, row] = "error"
                else:
                    memory[arch, row] = f"{m['peak_growth_mib']:.0f}"
                    method = m["method"]
    rows, descs = [], []
    for arch in args.archs:
        batch, times, desc = time_arch(args, arch)
        descs.append(desc)
        hf_ms = median_ms(times["hf"])
        for row in ROWS:
            ms = median_ms(times[row])
            ratios = ["", ""] if row == "hf" else [f"{hf_ms / ms:.2f}", f"{min(times['hf']) / min(times[row]):.2f}"]
            mark = " *" if row == "ours_contrastive" else ""
            rows.append([arch, ROW_NAMES[row] + mark, f"{ms:.0f}", spread(times[row]), f"{1000 * batch / ms:.2f}",
                         *ratios, memory.get((arch, row), "-")])
    print()
    for d in descs:
        print(d)
    print(format_table(["arch", "row", "ms/step", "(min-max)", "img/s", "HF/ours", "(of mins)", "peak mem MiB"],
                       rows))
    print("* the like-for-like row: the same work as HF's step (captions only, contrastive loss, no drop "
          "path, no random erasing).\nHF/ours: HF's median step time over the row's, > 1 means ours is faster; "
          "(of mins): the same for the fastest steps,\nwhich other jobs on the machine disturb least. "
          "peak mem: growth during the steps "
          "(gradients, AdamW state, activations) over the memory held before them"
          + (f" ({method}, one fresh process per row)." if method else "."))
    for e in memory_errors:
        print(e)
    return rows


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
