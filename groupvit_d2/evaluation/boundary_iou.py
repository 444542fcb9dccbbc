"""Boundary IoU for semantic segmentation (Cheng et al., CVPR 2021), per class, as GroupViT's
Table 3 reports next to the mask mIoU.

Detectron2's SemSegEvaluator also reports a "BoundaryIoU-<class>", but it erodes the whole label
map at once, so a pixel next to another class gets the difference of the two class ids as its
label and every interior pixel counts as class 0. Here each class's binary mask gets its own
boundary, as the reference `mask_to_boundary` defines it.
"""
import logging
from collections import OrderedDict

import cv2
import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.evaluation.sem_seg_evaluation import load_image_into_numpy_array
from detectron2.utils import comm

__all__ = ["mask_to_boundary", "boundary_counts", "BoundaryIoUEvaluator"]


def _dilation(shape, dilation_ratio):
    height, width = shape
    return max(1, int(round(dilation_ratio * np.sqrt(height**2 + width**2))))


def mask_to_boundary(mask, dilation_ratio=0.02):
    """The boundary region of a binary mask: its pixels within distance d of its contour.

    d = max(1, round(dilation_ratio * image diagonal)), distances in the chessboard metric of
    d erosions by a 3x3 square. The image border counts as contour (the mask is padded with
    background first), so a mask cut by the border keeps a boundary there. A mask thinner than 2d
    is all boundary.

    Args:
        mask: (H, W) binary array (bool, or integers in {0, 1}).
        dilation_ratio: d as a fraction of the image diagonal, > 0.

    Returns:
        (H, W) bool array, True on the boundary region (a subset of the mask).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask_to_boundary: expected an (H, W) mask, got shape {mask.shape}")
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError(f"mask_to_boundary: mask must be binary (0/1 or bool), got values {np.unique(mask)[:8]}")
    if not dilation_ratio > 0:
        raise ValueError(f"mask_to_boundary: dilation_ratio must be > 0, got {dilation_ratio}")
    mask = mask.astype(np.uint8)
    height, width = mask.shape
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=_dilation(mask.shape, dilation_ratio))
    return (mask - eroded[1 : height + 1, 1 : width + 1]).astype(bool)


def boundary_counts(pred, gt, num_classes, ignore_label=255, dilation_ratio=0.02):
    """Per-class boundary intersection and union of one image.

    Boundaries are taken on each class's whole binary mask, then pixels labelled `ignore_label`
    in the ground truth are dropped from both sides (they are neither right nor wrong).

    Args:
        pred: (H, W) integer class ids in [0, num_classes).
        gt: (H, W) integer class ids in [0, num_classes), or ignore_label.
        num_classes: C.
        ignore_label: label of unlabelled ground-truth pixels.
        dilation_ratio: see mask_to_boundary.

    Returns:
        (intersection, union, gt_boundary): (C,) int64 pixel counts; gt_boundary counts the
        ground-truth boundary pixels (> 0 exactly for the classes present in `gt`).
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f"boundary_counts: expected (H, W) prediction and ground truth of one size, "
                         f"got {pred.shape} and {gt.shape}")
    valid = gt != ignore_label
    bad_gt = np.unique(gt[valid & ((gt < 0) | (gt >= num_classes))])
    if bad_gt.size:
        raise ValueError(f"boundary_counts: ground-truth labels {bad_gt.tolist()} are neither in "
                         f"[0, {num_classes}) nor the ignore label {ignore_label}")
    bad_pred = np.unique(pred[(pred < 0) | (pred >= num_classes)])
    if bad_pred.size:
        raise ValueError(f"boundary_counts: predicted classes {bad_pred.tolist()} are not in [0, {num_classes})")
    intersection, union, gt_boundary = (np.zeros(num_classes, np.int64) for _ in range(3))
    for c in np.union1d(np.unique(gt[valid]), np.unique(pred[valid])):
        gt_b = mask_to_boundary(gt == c, dilation_ratio) & valid
        pred_b = mask_to_boundary(pred == c, dilation_ratio) & valid
        intersection[c] = np.count_nonzero(gt_b & pred_b)
        union[c] = np.count_nonzero(gt_b | pred_b)
        gt_boundary[c] = np.count_nonzero(gt_b)
    return intersection, union, gt_boundary


class BoundaryIoUEvaluator(DatasetEvaluator):
    """Per-class Boundary IoU over a sem-seg dataset, next to SemSegEvaluator.

    Like SemSegEvaluator, the prediction is the argmax of output["sem_seg"] ((C, H, W) at the
    original image size) and the ground truth is read from the dataset dicts' "sem_seg_file_name";
    the ignore label comes from the metadata. Intersections and unions are summed over the whole
    dataset before dividing. Results, in percent:
    {"boundary_iou": {"bIoU": mean over the classes present in the ground truth,
    "bIoU-<class>": per class (NaN for classes absent from the ground truth)}}.
    """

    def __init__(self, dataset_name, dilation_ratio=0.02, distributed=True):
        """
        Args:
            dataset_name: a registered sem-seg dataset (metadata: stuff_classes, ignore_label).
            dilation_ratio: boundary width as a fraction of the image diagonal
                (TEST.BOUNDARY_IOU.DILATION_RATIO).
            distributed: gather the counts of every process before evaluating.
        """
        if not dilation_ratio > 0:
            raise ValueError(f"TEST.BOUNDARY_IOU.DILATION_RATIO must be > 0, got {dilation_ratio}")
        meta = MetadataCatalog.get(dataset_name)
        if not hasattr(meta, "stuff_classes"):
            raise KeyError(f"BoundaryIoUEvaluator: dataset {dataset_name!r} has no 'stuff_classes' in its metadata")
        self._dataset_name = dataset_name
        self._class_names = list(meta.stuff_classes)
        self._ignore_label = getattr(meta, "ignore_label", 255)
        self._dilation_ratio = dilation_ratio
        self._distributed = distributed
        self._input_file_to_gt_file = {
            d["file_name"]: d["sem_seg_file_name"] for d in DatasetCatalog.get(dataset_name) if "sem_seg_file_name" in d
        }
        self._logger = logging.getLogger(__name__)
        self.reset()

    def reset(self):
        num_classes = len(self._class_names)
        self._counts = np.zeros((3, num_classes), np.int64)  # intersection, union, gt boundary

    def process(self, inputs, outputs):
        for sample, output in zip(inputs, outputs):
            file_name = sample.get("file_name")
            gt_file = self._input_file_to_gt_file.get(file_name)
            if gt_file is None:
                raise KeyError(f"BoundaryIoUEvaluator: {file_name!r} has no 'sem_seg_file_name' in dataset "
                               f"{self._dataset_name!r}")
            if "sem_seg" not in output:
                raise KeyError(f"BoundaryIoUEvaluator: the model output for {file_name!r} has no 'sem_seg'")
            scores = output["sem_seg"]
            if scores.dim() != 3 or scores.shape[0] != len(self._class_names):
                raise ValueError(f"BoundaryIoUEvaluator: 'sem_seg' of {file_name!r} has shape {tuple(scores.shape)}; "
                                 f"expected ({len(self._class_names)}, H, W) for dataset {self._dataset_name!r}")
            pred = scores.argmax(dim=0).cpu().numpy()
            gt = load_image_into_numpy_array(gt_file, dtype=int)
            if gt.shape != pred.shape:
                raise ValueError(f"BoundaryIoUEvaluator: ground truth {gt_file!r} is {gt.shape} but the "
                                 f"prediction is {pred.shape}")
            try:
                counts = boundary_counts(pred, gt, len(self._class_names), self._ignore_label, self._dilation_ratio)
            except ValueError as e:
                raise ValueError(f"BoundaryIoUEvaluator: {gt_file}: {e}") from e
            self._counts += np.stack(counts)

    def evaluate(self):
        counts = self._counts
        if self._distributed:
            comm.synchronize()
            gathered = comm.all_gather(counts)
            if not comm.is_main_process():
                return {}
            counts = np.sum(gathered, axis=0)
        intersection, union, gt_boundary = counts.astype(np.float64)
        present = gt_boundary > 0
        if not present.any():
            self._logger.warning("BoundaryIoUEvaluator(%s): no ground-truth class seen", self._dataset_name)
            return {}
        iou = np.full(len(self._class_names), np.nan)
        iou[present] = intersection[present] / union[present]
        res = OrderedDict(bIoU=100.0 * float(iou[present].mean()))
        for name, value in zip(self._class_names, iou):
            res[f"bIoU-{name}"] = 100.0 * float(value)
        return {"boundary_iou": res}
