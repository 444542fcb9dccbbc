"""Per-class IoU differences between two evaluations (thesis sec. 5: which classes a fine-tuning
helped or hurt), from SemSegEvaluator's sem_seg_evaluation.pth files."""
import math
import os

import numpy as np
import torch
from matplotlib.figure import Figure
from tabulate import tabulate

__all__ = ["load_sem_seg_results", "per_class_iou", "compare_per_class_iou", "format_comparison", "plot_comparison"]

RESULTS_FILE = "sem_seg_evaluation.pth"
_IOU_PREFIX = "IoU-"


def _numpy_scalar_globals():
    # SemSegEvaluator saves numpy float64 values; these are the globals that rebuild them.
    names = [np.dtype]
    for module in ("core", "_core"):
        scalar = getattr(getattr(getattr(np, module, None), "multiarray", None), "scalar", None)
        if scalar is not None:
            names.append(scalar)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        names.append(dtypes.Float64DType)
    return names


def load_sem_seg_results(path):
    """The metrics dict of a sem_seg_evaluation.pth (or of the folder holding one).

    Read with torch's weights-only unpickler; only numpy's scalar rebuilders are allowed besides.
    """
    if os.path.isdir(path):
        path = os.path.join(path, RESULTS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: expected the {RESULTS_FILE} that SemSegEvaluator writes "
                                "under <OUTPUT_DIR>/inference/<dataset>/")
    with torch.serialization.safe_globals(_numpy_scalar_globals()):
        results = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(results, dict) and "sem_seg" in results and isinstance(results["sem_seg"], dict):
        results = results["sem_seg"]
    if not isinstance(results, dict) or "mIoU" not in results:
        raise ValueError(f"{path} holds no semantic segmentation metrics (no 'mIoU' entry)")
    return {k: float(v) for k, v in results.items()}


def per_class_iou(results):
    """{class name: IoU} in the evaluator's class order, from its "IoU-<name>" entries."""
    return {k[len(_IOU_PREFIX):]: float(v) for k, v in results.items() if k.startswith(_IOU_PREFIX)}


def compare_per_class_iou(results_a, results_b):
    """Rows (class, IoU a, IoU b, b - a) for the classes of `results_a`, then ("mIoU", ...).

    Both must come from the same dataset (same classes); NaN marks a class absent from it.
    """
    a, b = per_class_iou(results_a), per_class_iou(results_b)
    if list(a) != list(b):
        only = sorted(set(a) ^ set(b))
        raise ValueError(f"The two evaluations have different classes (e.g. {only[:5]}); compare one dataset's results")
    rows = [(name, a[name], b[name], b[name] - a[name]) for name in a]
    rows.append(("mIoU", float(results_a["mIoU"]), float(results_b["mIoU"]),
                 float(results_b["mIoU"]) - float(results_a["mIoU"])))
    return rows


def format_comparison(rows, names=("A", "B")):
    """A printable table of `compare_per_class_iou` rows."""
    def show(v, signed=False):
        return "-" if math.isnan(v) else (f"{v:+.2f}" if signed else f"{v:.2f}")

    table = [(c, show(x), show(y), show(d, True)) for c, x, y, d in rows]
    return tabulate(table, headers=("class", f"IoU {names[0]}", f"IoU {names[1]}", "difference"), tablefmt="pipe")


def plot_comparison(rows, path, names=("A", "B")):
    """Save a bar plot of the per-class differences (b - a) of `compare_per_class_iou` rows to
    `path` (any format matplotlib writes); classes absent from the dataset are left out."""
    per_class = [(c, d) for c, _, _, d in rows[:-1] if not math.isnan(d)]
    labels = [c for c, _ in per_class]
    diffs = [d for _, d in per_class]
    # A bare Figure renders with Agg and leaves pyplot's global state (and backend) alone.
    fig = Figure(figsize=(max(6.0, 0.35 * len(labels) + 2), 4))
    ax = fig.subplots()
    ax.bar(range(len(diffs)), diffs, color=["tab:green" if d >= 0 else "tab:red" for d in diffs])
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=90)
    ax.set_ylabel(f"IoU {names[1]} - IoU {names[0]}")
    ax.set_title(f"Per-class IoU difference (mIoU {rows[-1][3]:+.2f})")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    return path
