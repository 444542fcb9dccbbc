"""One summary table over every evaluated dataset."""
import math

from tabulate import tabulate

COLUMNS = ("mIoU", "fwIoU", "mACC", "pACC", "mBoundaryIoU")


def _mean_boundary_iou(metrics):
    # SemSegEvaluator reports Boundary IoU per class only; NaN marks classes absent from the set.
    values = [v for k, v in metrics.items() if k.startswith("BoundaryIoU-") and not math.isnan(v)]
    return sum(values) / len(values) if values else None


def results_table(results):
    """results: {dataset_name: {"sem_seg": {metric: value}}} as Detectron2's evaluators return.
    Returns a printable table with one row per dataset, and the mean over datasets when several."""
    rows, columns = [], {c: [] for c in COLUMNS}
    for name, res in results.items():
        metrics = dict(res.get("sem_seg", {}))
        metrics["mBoundaryIoU"] = _mean_boundary_iou(metrics)
        row = [name]
        for c in COLUMNS:
            v = metrics.get(c)
            row.append("-" if v is None else f"{v:.2f}")
            if v is not None:
                columns[c].append(v)
        rows.append(row)
    if len(rows) > 1:
        rows.append(["mean"] + [f"{sum(v) / len(v):.2f}" if v else "-" for v in columns.values()])
    return tabulate(rows, headers=("dataset",) + COLUMNS, tablefmt="pipe")
