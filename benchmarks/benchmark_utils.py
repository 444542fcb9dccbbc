"""Shared pieces of the benchmark scripts: machine description, interleaved timing, and a random
transformers GroupViTModel with our converted copy of the same weights.

Timings on shared machines drift from second to second, so each benchmark times its contenders in
one run, alternating them repetition by repetition, and reports medians and ratios.
"""
import os
import platform
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

RELEASED_CONFIG = os.path.join(ROOT, "configs", "groupvit", "gcc_yfcc_30e.yaml")
TINY_CONFIG = os.path.join(ROOT, "configs", "groupvit", "tiny.yaml")


def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_model():
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(device):
    """Lines describing where the numbers come from."""
    import transformers

    lines = [
        f"cpu: {cpu_model()} ({os.cpu_count()} logical cores), python {platform.python_version()}",
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"intra-op threads {torch.get_num_threads()}, device {device}",
    ]
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()
        lines.append("load average (1/5/15 min) at start: " + " ".join(f"{x:.2f}" for x in load))
        if load[0] >= os.cpu_count():
            lines.append(f"WARNING: other jobs keep the {os.cpu_count()} cores busy: absolute times are inflated "
                         "and noisy; compare the ratios, and prefer --threads 1, which suffers least from "
                         "threads waiting on each other")
    if str(device).startswith("cuda"):
        lines.append(f"gpu: {torch.cuda.get_device_name(torch.device(device))}")
    return lines


def synchronize(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def interleaved_times(fns, reps, warmup=1, device="cpu"):
    """Time each callable of `fns` ({name: fn}) `reps` times, alternating them.

    Every repetition runs all contenders; the order flips from one repetition to the next so that
    neither side always runs right after the other. Returns {name: [seconds, ...]}.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    synchronize(device)
    times = {name: [] for name in names}
    for r in range(reps):
        for name in (names if r % 2 == 0 else names[::-1]):
            synchronize(device)
            t0 = time.perf_counter()
            fns[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - t0)
    return times


def median_ms(seconds):
    return 1000.0 * statistics.median(seconds)


def spread(seconds):
    """'min-max' in ms, to show how noisy a median is."""
    return f"{1000 * min(seconds):.0f}-{1000 * max(seconds):.0f}"


def format_table(header, rows):
    """Plain fixed-width table: header and rows are lists of strings."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = "  ".join("{:<%d}" % w if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*header), sep] + [fmt.format(*map(str, r)) for r in rows])


def load_cfg(config_file, device, opts=()):
    from detectron2.config import get_cfg

    from groupvit_d2 import add_groupvit_config

    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.MODEL.DEVICE = str(device)
    return cfg


def hf_architecture(cfg):
    """(transformers GroupViTConfig with cfg's architecture, our cfg rebuilt from it).

    For the released config the HF config equals GroupViTConfig()'s defaults; our cfg then has
    exactly HF's architecture (eps and CLIP pixel statistics included), see `merge_hf_config`.
    """
    from transformers import GroupViTConfig

    from groupvit_d2.checkpoint import hf_config_from_cfg, merge_hf_config

    hf_config = GroupViTConfig(**hf_config_from_cfg(cfg))
    return hf_config, merge_hf_config(cfg.clone(), hf_config)


def build_hf_and_ours(cfg, seed=0):
    """A randomly initialised transformers GroupViTModel with `cfg`'s architecture and our
    meta-architecture holding the same weights, converted with `hf_to_ours`. Both in eval mode on
    cfg.MODEL.DEVICE.

    Returns (hf_model, our_model, hf_config).
    """
    from detectron2.modeling import build_model
    from transformers import GroupViTModel

    from groupvit_d2.checkpoint import hf_to_ours

    hf_config, ours_cfg = hf_architecture(cfg)
    torch.manual_seed(seed)
    hf = GroupViTModel(hf_config).eval()
    ours = build_model(ours_cfg).eval()
    state_dict, unmapped = hf_to_ours(hf.state_dict())
    if unmapped:
        raise RuntimeError(f"HF keys without a counterpart in our model: {unmapped}")
    incompatible = ours.load_state_dict(state_dict, strict=False)
    if incompatible.unexpected_keys or set(incompatible.missing_keys) - {"multi_label_logit_scale"}:
        raise RuntimeError(f"Converted weights do not fit our model: {incompatible}")
    return hf.to(cfg.MODEL.DEVICE), ours, hf_config


def is_default_hf_config(hf_config):
    """Whether the architecture equals transformers' GroupViTConfig() defaults."""
    from transformers import GroupViTConfig

    default = GroupViTConfig()
    vision = ("hidden_size", "intermediate_size", "depths", "num_group_tokens", "num_attention_heads",
              "image_size", "patch_size")
    text = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "max_position_embeddings", "vocab_size")
    pairs = [(getattr(hf_config.vision_config, k), getattr(default.vision_config, k)) for k in vision]
    pairs += [(getattr(hf_config.text_config, k), getattr(default.text_config, k)) for k in text]
    pairs += [(getattr(hf_config, k), getattr(default, k)) for k in ("projection_dim", "projection_intermediate_dim")]
    as_list = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return all(as_list(a) == as_list(b) for a, b in pairs)
