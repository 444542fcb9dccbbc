"""Bottom-up grouping quality: the Jaccard index between predicted groups and ground-truth segments,
as CLIPpy (and DINO, GroupViT) report it."""
import itertools
import logging

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from PIL import Image
from scipy.optimize import linear_sum_assignment

__all__ = ["JACCARD_MATCHINGS", "segment_jaccard", "JaccardEvaluator"]

JACCARD_MATCHINGS = ("best", "hungarian")


def segment_jaccard(groups, gt, ignore_label=255, exclude=(), matching="best"):
    """IoU of every ground-truth segment with the group that matches it, independent of labels.

    A ground-truth segment is the set of pixels of one label. Pixels labelled `ignore_label` count
    for neither side. With `matching="best"` each segment takes the group with the highest IoU
    (several segments may take the same group); with "hungarian" groups and segments are matched
    one to one to maximise the summed IoU, and a segment left without a group scores 0.

    Args:
        groups: (H, W) integer group ids (any values).
        gt: (H, W) integer labels.
        ignore_label: label of unlabelled pixels.
        exclude: labels whose segments are not scored (e.g. (0,) for the background); their pixels
            still count against the groups that cover them.
        matching: "best" or "hungarian".

    Returns:
        (labels, ious): the scored labels (ascending) and their IoUs, float64 numpy arrays.
    """
    groups, gt = np.asarray(groups), np.asarray(gt)
    if groups.shape != gt.shape:
        raise ValueError(f"segment_jaccard: groups {groups.shape} and ground truth {gt.shape} differ in size")
    if matching not in JACCARD_MATCHINGS:
        raise ValueError(f"segment_jaccard: matching must be one of {JACCARD_MATCHINGS}, got {matching!r}")
    valid = gt != ignore_label
    gt_ids, gt_index = np.unique(gt[valid], return_inverse=True)
    group_ids, group_index = np.unique(groups[valid], return_inverse=True)
    if gt_ids.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    inter = np.zeros((gt_ids.size, group_ids.size), np.float64)
    np.add.at(inter, (gt_index.ravel(), group_index.ravel()), 1.0)
    union = inter.sum(1, keepdims=True) + inter.sum(0, keepdims=True) - inter
    iou = inter / union
    keep = ~np.isin(gt_ids, np.asarray(list(exclude), dtype=gt_ids.dtype))
    iou, labels = iou[keep], gt_ids[keep]
    if matching == "best":
        return labels, iou.max(axis=1) if iou.size else np.zeros(0)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    best = np.zeros(labels.size)
    best[rows] = iou[rows, cols]
    return labels, best


def _read_label(path):
    with Image.open(path) as im:
        return np.asarray(im, dtype=np.int64)


class JaccardEvaluator(DatasetEvaluator):
    """The Jaccard index of a model's bottom-up groups on a sem-seg dataset.

    Each image scores the mean IoU of its ground-truth segments with their matched groups (see
    segment_jaccard); "Jaccard" is the mean over images (CLIPpy's "instance average"),
    "Jaccard_segments" the mean over all segments of the dataset. Both in percent.

    The groups of an image come from the model output "groups" ((height, width) ids at the original
    size, e.g. CLIPpy) or, where the output has none, from `model.group_maps(input)[-1]` (the last
    grouping stage of GroupViT, at the resized input size), resized to the original size with
    nearest-neighbour sampling. Ground truth is read from the input's "sem_seg_file_name".
    """

    def __init__(self, dataset_name, model=None, matching="best", ignore_background=False, distributed=True):
        """
        Args:
            dataset_name: a registered sem-seg dataset (metadata: ignore_label, and
                background_threshold when class 0 is a background).
            model: needed only for outputs without "groups" (it must have `group_maps`).
            matching: "best" or "hungarian" (see segment_jaccard).
            ignore_background: leave class 0 out of the scored segments on datasets with a
                background class.
        """
        if matching not in JACCARD_MATCHINGS:
            raise ValueError(f"TEST.JACCARD.MATCHING must be one of {JACCARD_MATCHINGS}, got {matching!r}")
        meta = MetadataCatalog.get(dataset_name)
        self._dataset_name = dataset_name
        self._ignore_label = getattr(meta, "ignore_label", 255)
        has_background = getattr(meta, "background_threshold", None) is not None
        self._exclude = (0,) if (ignore_background and has_background) else ()
        self._model = getattr(model, "module", model)
        self._matching = matching
        self._distributed = distributed
        self._logger = logging.getLogger(__name__)
        self.reset()

    def reset(self):
        self._per_image = []

    def _groups(self, sample, output):
        groups = output.get("groups")
        if groups is None:
            if self._model is None or not hasattr(self._model, "group_maps"):
                raise KeyError(
                    f"JaccardEvaluator({self._dataset_name!r}): the model output has no 'groups' and no "
                    "model with group_maps was given"
                )
            groups = self._model.group_maps(sample)[-1]
        height = sample.get("height", groups.shape[-2])
        width = sample.get("width", groups.shape[-1])
        if tuple(groups.shape[-2:]) != (height, width):
            groups = F.interpolate(groups[None, None].float(), size=(height, width), mode="nearest")[0, 0]
        return groups.to("cpu", torch.int64).numpy()

    def process(self, inputs, outputs):
        for sample, output in zip(inputs, outputs):
            if "sem_seg_file_name" not in sample:
                raise KeyError(f"JaccardEvaluator: sample {sample.get('file_name')!r} has no 'sem_seg_file_name'")
            gt = _read_label(sample["sem_seg_file_name"])
            _, ious = segment_jaccard(self._groups(sample, output), gt, self._ignore_label, self._exclude,
                                      self._matching)
            if ious.size:
                self._per_image.append(ious)

    def evaluate(self):
        per_image = self._per_image
        if self._distributed:
            comm.synchronize()
            per_image = list(itertools.chain(*comm.gather(per_image, dst=0)))
            if not comm.is_main_process():
                return {}
        if not per_image:
            self._logger.warning("JaccardEvaluator(%s): no image had a scored segment", self._dataset_name)
            return {}
        return {
            "bottom_up_grouping": {
                "Jaccard": 100.0 * float(np.mean([ious.mean() for ious in per_image])),
                "Jaccard_segments": 100.0 * float(np.concatenate(per_image).mean()),
                "num_images": float(len(per_image)),
            }
        }
