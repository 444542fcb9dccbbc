"""One summary table over every evaluated dataset."""
from tabulate import tabulate

COLUMNS = ("mIoU", "fwIoU", "mACC", "pACC", "bIoU")


def results_table(results):
    """results: {dataset_name: {"sem_seg": {metric: value}, "boundary_iou": {"bIoU": value}}} as
    Detectron2's evaluators return. Returns a printable table with one row per dataset, and the mean
    over datasets when several.

    The boundary column comes from BoundaryIoUEvaluator (TEST.BOUNDARY_IOU.ENABLED) only:
    SemSegEvaluator's own "BoundaryIoU-<class>" erodes the whole label map at once, so on maps with
    several classes its boundaries carry differences of class ids rather than classes.
    """
    rows, columns = [], {c: [] for c in COLUMNS}
    for name, res in results.items():
        metrics = dict(res.get("sem_seg", {}))
        metrics.update(res.get("boundary_iou", {}))
        row = [name]
        for c in COLUMNS:
            v = metrics.get(c)
            row.append("-" if v is None else f"{v:.2f}")
            if v is not None:
                columns[c].append(v)
        rows.append(row)
    if len(rows) > 1:
        rows.append(["mean"] + [f"{sum(v) / len(v):.2f}" if v else "-" for v in columns.values()])
    return tabulate(rows, headers=("dataset",) + COLUMNS, tablefmt="pipe", disable_numparse=True)
