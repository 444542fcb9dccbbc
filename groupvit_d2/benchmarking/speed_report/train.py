"""train: one training step, ours against transformers' GroupViTModel (the rows of
groupvit_d2.benchmarking.training)."""
from types import SimpleNamespace

from ..common import markdown_table, median_ms, spread


def train_namespace(args):
    return SimpleNamespace(config=args.config, reps=args.train_repeats, warmup=args.warmup, threads=args.threads,
                           released_batch=8, released_size=224, tiny_batch=4, tiny_size=64, num_labels=None,
                           lr=1e-4, device=args.device, memory_steps=2)


def train_memory(args):
    from groupvit_d2.benchmarking import training as tt

    ns, arch = train_namespace(args), "tiny" if args.quick else "released"
    return {row: tt.memory_in_fresh_process(ns, arch, row) for row in tt.ROWS}


def train_section(args, memory, report):
    from groupvit_d2.benchmarking import training as tt

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
               "erasing); the bf16 row does the same work under bf16 autocast, as SOLVER.AMP.ENABLED with "
               "DTYPE bfloat16 trains (fp32 weights and AdamW state). peak +MiB: growth of the peak memory during 2 steps over what the built model and "
               f"batch hold (gradients, AdamW state, activations), one fresh process per row ({method}).")
    return result
