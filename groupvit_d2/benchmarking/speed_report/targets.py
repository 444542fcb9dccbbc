"""The closing sections: the targets met or missed, and the machine the report ran on."""
import math
import os
import statistics

import torch

from ..common import cpu_flags, cpu_model, markdown_table
from .common import ISA_FLAGS, SIZE_VOCABULARY, TARGETS, TEXT_VOCABULARY, VOCABULARIES


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
    if train and "ours_contrastive_bf16" in train:
        ratio = train["ours_contrastive_bf16"][0]
        rows.append([f"training step (contrastive) under bf16 autocast >= {t['train_bf16']}x HF fp32 (native bf16 only)",
                     f"{ratio:.2f}x", ("yes" if ratio >= t["train_bf16"] else "no") if native else not_here])
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
    if getattr(args, "clock", "wall") == "cpu":
        lines.append("- interleaved timings (encoder, training step, compile): CPU time of the process, not wall "
                     "time (--clock cpu)")
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
