"""Shared pieces of the benchmark scripts (benchmarks/): machine description, interleaved timing, and a random
transformers GroupViTModel with our converted copy of the same weights.

Timings on shared machines drift from second to second, so each benchmark times its contenders in
one run, alternating them repetition by repetition, and reports medians and ratios.
"""
import os
import platform
import resource
import statistics
import sys
import time

import torch

# The checkout the package is installed from (benchmarks read its configs).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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


def cpu_flags(names=("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")):
    """{flag: present} for the given /proc/cpuinfo flags ({} where the file is unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return {n: n in have for n in names}
    except OSError:
        pass
    return {}


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


# What interleaved_times measures: "wall" (time.perf_counter) or "cpu" (time.process_time, the CPU
# time of this process's threads). On cores that other jobs share, a timed call also waits for the
# cores and wall times swing several-fold; its CPU time does not count the waiting. With more than
# one intra-op thread, CPU time also counts the threads' spinning, so "cpu" is for one thread.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = ["wall"]


def use_clock(name):
    """Set the clock of interleaved_times (a key of CLOCKS) for this process."""
    if name not in CLOCKS:
        raise ValueError(f"unknown clock {name!r}; expected one of {sorted(CLOCKS)}")
    _clock[0] = name


def clock_name():
    return _clock[0]


def interleaved_times(fns, reps, warmup=1, device="cpu"):
    """Time each callable of `fns` ({name: fn}) `reps` times, alternating them.

    Every repetition runs all contenders; the order flips from one repetition to the next so that
    neither side always runs right after the other. Returns {name: [seconds, ...]} on the clock
    set by use_clock (wall time by default; on CUDA always wall time).
    """
    clock = time.perf_counter if str(device).startswith("cuda") else CLOCKS[_clock[0]]
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    synchronize(device)
    times = {name: [] for name in names}
    for r in range(reps):
        for name in (names if r % 2 == 0 else names[::-1]):
            synchronize(device)
            t0 = clock()
            fns[name]()
            synchronize(device)
            times[name].append(clock() - t0)
    return times


def median_ms(seconds):
    return 1000.0 * statistics.median(seconds)


def spread(seconds):
    """'min-max' in ms, to show how noisy a median is."""
    return f"{1000 * min(seconds):.0f}-{1000 * max(seconds):.0f}"


def markdown_table(header, rows):
    """A GitHub-markdown table; the first column left-aligned, the others right-aligned."""
    align = [":--"] + ["--:"] * (len(header) - 1)
    lines = ["| " + " | ".join(map(str, header)) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def format_table(header, rows):
    """Plain fixed-width table: header and rows are lists of strings."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = "  ".join("{:<%d}" % w if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*header), sep] + [fmt.format(*map(str, r)) for r in rows])


def load_cfg(config_file, device, opts=()):
    from groupvit_d2 import load_config

    return load_config(config_file, list(opts) + ["MODEL.DEVICE", str(device)], freeze=False)


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


# ------------------------------------------------------------------------------------------------
# Peak memory, in a fresh process
# ------------------------------------------------------------------------------------------------
def status_kib(field):
    """A field of /proc/self/status in KiB (e.g. "VmRSS", "VmHWM")."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss():
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory_growth(fn, device="cpu"):
    """Run fn() and measure how far memory rose above what was held just before it.

    Returns (fn's result, {"peak_growth_mib", "method"}). CPU (Linux): the kernel's peak resident
    set (VmHWM, reset just before) minus the resident set before; elsewhere ru_maxrss growth, a
    lower bound when an earlier peak was higher. CUDA: torch.cuda.max_memory_allocated minus the
    memory allocated before.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        result = fn()
        torch.cuda.synchronize(device)
        return result, {"peak_growth_mib": (torch.cuda.max_memory_allocated(device) - before) / 2**20,
                        "method": "cuda max_memory_allocated"}
    if os.path.exists("/proc/self/status") and reset_peak_rss():
        before = status_kib("VmRSS")
        result = fn()
        return result, {"peak_growth_mib": (status_kib("VmHWM") - before) / 1024, "method": "VmHWM - VmRSS"}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = fn()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return result, {"peak_growth_mib": (after - before) * unit / 2**20, "method": "ru_maxrss growth (lower bound)"}


def _fresh_process_worker(target, args, conn):
    try:
        conn.send(target(*args))
    except Exception as e:  # report, do not hang the parent
        conn.send({"error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def call_in_fresh_process(target, args=(), device="cpu", timeout=900):
    """target(*args) in a new process, so that no earlier work's memory or allocator cache counts.
    target returns a picklable value (a dict); an exception comes back as {"error": message}.

    On CPU the process is forked, which saves a second start-up of torch, Detectron2 and
    transformers. Fork only while this process has run no parallel (OpenMP) region, or with one
    intra-op thread: a child forked after one hangs in its first parallel kernel. CUDA cannot be
    forked, so there it is spawned (target must then be importable).
    """
    import multiprocessing as mp

    fork = torch.device(device).type == "cpu" and "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork" if fork else "spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_fresh_process_worker, args=(target, args, sender))
    proc.start()
    sender.close()
    try:
        if receiver.poll(timeout):
            return receiver.recv()
        return {"error": f"no result after {timeout} s"}
    except EOFError:
        proc.join()
        return {"error": f"the process died (exit code {proc.exitcode})"}
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join()
