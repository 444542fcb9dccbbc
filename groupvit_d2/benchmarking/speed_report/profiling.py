"""profile: where one zero-shot inference spends its time, by operator and by kind."""
import time

import torch

from ..common import markdown_table
from ..encoder import ModuleScopes


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
