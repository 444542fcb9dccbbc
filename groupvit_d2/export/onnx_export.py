"""Write a GroupViT's zero-shot segmentation, image/group embedding and text encoder to ONNX.

The graphs are traced with torch.onnx's TorchScript exporter from the model's own methods (see
onnx_graphs). Tracing fixes every size the model turns into a Python int: the window (the patch
grid sizes the position embedding, the group maps and their upsampling) and the text length (the
context length). The number of windows, of texts and of classes stay dynamic. Each axis the
export declares dynamic is then checked: onnxruntime runs the graph at another size and must agree
with PyTorch; the result is written to groupvit_onnx.json beside the models.
"""
import json
import logging
import os
import shutil
import tempfile
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from .onnx_graphs import ImageEmbeddingGraph, SegmentationGraph, TextEmbeddingGraph
from .onnx_runtime import META_FILE

__all__ = ["export_onnx", "OPSET"]

logger = logging.getLogger(__name__)

OPSET = 17
FILES = {"segmentation": "segmentation.onnx", "image": "image_embedding.onnx", "text": "text_encoder.onnx"}
# How close onnxruntime must stay to PyTorch for an axis to count as dynamic. The segmentation
# scores jump wherever two groups tie in a pixel's soft map to float precision (random weights of the
# released size: about 1e-5 of the pixels, with margins below 1e-7), and the two libraries round
# differently there; a graph that ignores a size goes wrong everywhere or fails to run.
CHECK_TOLERANCE = 1e-4
CHECK_MAX_SHARE_OFF = 1e-3


def _pair(value, name):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _publish(tmp, path):
    # mkstemp makes owner-only files; the published ones get the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def _atomic_write_text(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_", suffix=os.path.basename(path))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    _publish(tmp, path)


def _trace(module, args, output_dir, input_names, output_names, dynamic_axes):
    """Trace `module` to a temporary .onnx file in output_dir; returns (onnx.ModelProto, path)."""
    import onnx

    fd, tmp = tempfile.mkstemp(dir=output_dir, prefix=".tmp_", suffix=".onnx")
    os.close(fd)
    try:
        _export(module, args, tmp, input_names, output_names, dynamic_axes)
        return onnx.load(tmp), tmp
    except BaseException:
        os.remove(tmp)
        raise


def _export(module, args, path, input_names, output_names, dynamic_axes):
    with warnings.catch_warnings():
        # The tracer warns about every size turned into a Python int; the checks after export say
        # which of them matter.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        # The text encoder's end-of-text gather: its indices are argmax positions, never negative.
        warnings.filterwarnings("ignore", message="Exporting aten::index operator of advanced indexing")
        torch.onnx.export(
            module, args, path, dynamo=False, opset_version=OPSET, input_names=input_names,
            output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True,
        )


def _clamp_topk_to_classes(graph, class_input):
    """The top-k of group_class_affinity is min(TOPK, C) classes; tracing stores that k as a
    constant. Rewrite each TopK's k as Min(k, C) with C read from the class input's shape, so
    vocabularies smaller than the traced one run too."""
    import onnx
    from onnx import helper

    nodes = list(graph.graph.node)
    topks = [n for n in nodes if n.op_type == "TopK"]
    if not topks:
        return 0
    shape_name = "num_classes__"
    extra = [helper.make_node("Shape", [class_input], [shape_name], start=0, end=1)]
    for index, node in enumerate(topks):
        clamped = f"topk_k_clamped__{index}"
        extra.append(helper.make_node("Min", [node.input[1], shape_name], [clamped]))
        node.input[1] = clamped
    # The new nodes must come before the first TopK that reads them (ONNX graphs are topologically sorted).
    first = min(nodes.index(n) for n in topks)
    reordered = nodes[:first] + extra + nodes[first:]
    del graph.graph.node[:]
    graph.graph.node.extend(reordered)
    onnx.checker.check_model(graph)
    return len(topks)


def _session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _share_off(a, b):
    """Share of the values of a and b further apart than CHECK_TOLERANCE."""
    if not np.size(a):
        return 0.0
    return float((np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) > CHECK_TOLERANCE).mean())


def _check_axis(label, traced_size, run_onnx, run_torch):
    """"dynamic" when onnxruntime runs at another size than the traced one and agrees with
    PyTorch there; else the traced size, which the graph then requires."""
    try:
        got = run_onnx()
    except Exception as error:  # onnxruntime raises its own exception types
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
    else:
        with torch.no_grad():
            want = run_torch()
        if any(g.shape != tuple(w.shape) for g, w in zip(got, want)):
            reason = "onnxruntime's output shape differs from PyTorch's at another size"
        else:
            off = max(_share_off(g, w.cpu().numpy()) for g, w in zip(got, want))
            if off <= CHECK_MAX_SHARE_OFF:
                return "dynamic"
            reason = (f"{100 * off:.2f}% of onnxruntime's values differ from PyTorch's by > {CHECK_TOLERANCE} "
                      "at another size")
    logger.warning("%s: fixed at %d (%s)", label, traced_size, reason)
    return traced_size


@torch.no_grad()
def export_onnx(model, cfg, output_dir, background_threshold=None, copy_runtime=True):
    """Export `model` (a GroupViT in eval mode, on CPU) to `output_dir`.

    Writes segmentation.onnx ("window" (n, 3, h, w), "class_embeddings" (C, D) -> "scores"
    (n, 1 + C, h, w)), image_embedding.onnx ("window" -> "image_embeds" (n, D), "group_embeds"
    (n, G, D), "stage<l>_maps" (n, N, G_l)), text_encoder.onnx ("tokens" (N, L) int64 ->
    "text_embeds" (N, D)), groupvit_onnx.json (sizes, normalisation, threshold, axes) and, with
    `copy_runtime`, onnx_runtime.py (the numpy/onnxruntime runner) and slide_grid.py (its windows).

    Args:
        model: GroupViT.
        cfg: its config (window, stride, test resize, input format).
        output_dir: created if missing; the files in it are replaced atomically.
        background_threshold: the threshold of the background channel (default
            MODEL.GROUPVIT.ZERO_SHOT.BG_THRESH).

    Returns:
        the metadata dict written to groupvit_onnx.json.
    """
    import onnx

    model = model.eval().float().to("cpu")
    os.makedirs(output_dir, exist_ok=True)
    g = cfg.MODEL.GROUPVIT
    crop = _pair(cfg.TEST.SLIDING_WINDOW.CROP_SIZE, "TEST.SLIDING_WINDOW.CROP_SIZE")
    stride = _pair(cfg.TEST.SLIDING_WINDOW.STRIDE, "TEST.SLIDING_WINDOW.STRIDE")
    if background_threshold is None:
        background_threshold = g.ZERO_SHOT.BG_THRESH
    if not 0.0 <= float(background_threshold) <= 1.0:
        raise ValueError(f"background_threshold must be in [0, 1], got {background_threshold}")
    dim = g.PROJECTION_DIM
    topk = int(model.topk)
    gen = torch.Generator().manual_seed(0)

    def windows(n):
        return torch.randn(n, 3, *crop, generator=gen)

    def classes(c):
        return F.normalize(torch.randn(c, dim, generator=gen), dim=-1)

    axes, paths = {}, {}
    w3 = windows(3)
    try:
        # ---- segmentation ----
        # Wrappers in eval mode: the exporter restores each wrapper's mode after tracing, and that
        # mode would reach the model's BatchNorm through it.
        seg = SegmentationGraph(model, background_threshold).eval()
        graph, tmp = _trace(seg, (windows(2), classes(topk + 2)), output_dir, ["window", "class_embeddings"],
                            ["scores"],
                            {"window": {0: "windows"}, "class_embeddings": {0: "classes"},
                             "scores": {0: "windows", 1: "channels"}})
        paths["segmentation"] = tmp
        _clamp_topk_to_classes(graph, "class_embeddings")
        onnx.save(graph, tmp)
        session = _session(tmp)
        few, many = classes(max(1, topk - 2)), classes(topk + 5)
        axes["segmentation"] = {
            "window": [_check_axis("segmentation windows", 2,
                                   lambda: session.run(None, {"window": w3.numpy(), "class_embeddings": many.numpy()}),
                                   lambda: [seg(w3, many)]), 3, crop[0], crop[1]],
            "class_embeddings": [_check_axis("segmentation classes", topk + 2,
                                             lambda: session.run(None, {"window": w3[:1].numpy(),
                                                                        "class_embeddings": few.numpy()}),
                                             lambda: [seg(w3[:1], few)]), dim],
        }

        # ---- image and group embeddings ----
        image = ImageEmbeddingGraph(model).eval()
        outputs = ["image_embeds", "group_embeds"] + [f"stage{i + 1}_maps" for i in range(len(g.NUM_OUTPUT_GROUPS))]
        graph, tmp = _trace(image, (windows(2),), output_dir, ["window"], outputs,
                            {"window": {0: "windows"}, **{o: {0: "windows"} for o in outputs}})
        paths["image"] = tmp
        session = _session(tmp)
        axes["image"] = {"window": [_check_axis("image windows", 2, lambda: session.run(None, {"window": w3.numpy()}),
                                                lambda: image(w3)), 3, crop[0], crop[1]]}

        # ---- text ----
        text = TextEmbeddingGraph(model).eval()
        length = g.TEXT.CONTEXT_LENGTH
        graph, tmp = _trace(text, (TextEmbeddingGraph.example_tokens(length, 2),), output_dir, ["tokens"],
                            ["text_embeds"],
                            {"tokens": {0: "texts"}, "text_embeds": {0: "texts"}})
        paths["text"] = tmp
        session = _session(tmp)
        # Short texts only: the check also covers the padding the PyTorch encoder drops.
        short = TextEmbeddingGraph.example_tokens(length, 4)[1:]
        axes["text"] = {"tokens": [_check_axis("text count", 2, lambda: session.run(None, {"tokens": short.numpy()}),
                                               lambda: [text(short)]), length]}
    except BaseException:
        for tmp in paths.values():
            if os.path.exists(tmp):
                os.remove(tmp)
        raise

    meta = {
        "format": "groupvit_d2 ONNX export",
        "opset": OPSET,
        "files": dict(FILES),
        "window": list(crop),
        "stride": list(stride),
        "min_size_test": int(cfg.INPUT.MIN_SIZE_TEST if isinstance(cfg.INPUT.MIN_SIZE_TEST, int)
                             else cfg.INPUT.MIN_SIZE_TEST[0]),
        "max_size_test": int(cfg.INPUT.MAX_SIZE_TEST),
        "input_format": cfg.INPUT.FORMAT,
        "pixel_mean": [float(v) for v in model.pixel_mean.flatten()],
        "pixel_std": [float(v) for v in model.pixel_std.flatten()],
        "embed_dim": dim,
        "context_length": length,
        "topk": topk,
        "background_threshold": float(background_threshold),
        "logit_scale": float(model.scale()),
        "num_groups": [int(v) for v in g.NUM_OUTPUT_GROUPS],
        "templates": g.ZERO_SHOT.TEMPLATES,
        "weights": cfg.MODEL.WEIGHTS,
        "axes": axes,
    }
    for name, tmp in paths.items():
        _publish(tmp, os.path.join(output_dir, FILES[name]))
    _atomic_write_text(os.path.join(output_dir, META_FILE), json.dumps(meta, indent=2) + "\n")
    if copy_runtime:
        here = os.path.dirname(os.path.abspath(__file__))
        for source in (os.path.join(here, "onnx_runtime.py"),
                       os.path.join(here, "..", "modeling", "core", "slide_grid.py")):
            fd, tmp = tempfile.mkstemp(dir=output_dir, prefix=".tmp_", suffix=".py")
            os.close(fd)
            shutil.copyfile(source, tmp)
            _publish(tmp, os.path.join(output_dir, os.path.basename(source)))
    return meta
