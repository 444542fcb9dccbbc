"""Vision-text alignment oracle (thesis sec. 5.4.2): the ground-truth regions replace the model's
groups and each region takes one class from the model's per-pixel class scores, so mIoU measures
the labelling (alignment) alone.

Two forms:
- "affinity" (the thesis's eq. 52-53): a region takes the argmax of the mean of L_affinity, the
  per-pixel class affinities, which have no background channel; so a region is never labelled
  background, a ground-truth background region included.
- "probabilities": a region takes the argmax of the mean of the model's final per-pixel
  probabilities, the thresholded background channel included.
"""
import os
from collections import OrderedDict

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation import SemSegEvaluator

__all__ = ["AlignmentOracleEvaluator", "region_argmax_labels", "region_affinity_labels", "ALIGNMENT_FORMS"]

# form -> the name its results are reported under
ALIGNMENT_FORMS = {"affinity": "alignment_oracle", "probabilities": "alignment_oracle_probabilities"}


def _check(scores, regions):
    if scores.dim() != 3 or tuple(scores.shape[1:]) != tuple(regions.shape):
        raise ValueError(
            f"scores must be (C, H, W) and regions (H, W) of the same size; got {tuple(scores.shape)} and "
            f"{tuple(regions.shape)}"
        )


def _region_argmax(values, regions, ignore_label, fallback):
    """Each region's argmax over the channels of `values` (C', H, W) of its summed values;
    `fallback` (H, W) where regions are ignored."""
    regions = regions.to(values.device).long()
    prediction = fallback.clone()
    valid = regions != ignore_label
    if not bool(valid.any()):
        return prediction
    ids, inverse = regions[valid].unique(return_inverse=True)
    flat = values[:, valid]  # (C', P)
    sums = flat.new_zeros(values.shape[0], len(ids)).index_add_(1, inverse, flat)
    # Every region is non-empty, so the mean's argmax is the sum's argmax.
    prediction[valid] = sums.argmax(dim=0)[inverse]
    return prediction


def region_argmax_labels(scores, regions, ignore_label):
    """Label every ground-truth region by the argmax of its mean class scores ("probabilities").

    Args:
        scores: (C, H, W) per-pixel class scores (the model's "sem_seg" before the argmax).
        regions: (H, W) integer ground-truth classes; each class present forms one region.
        ignore_label: pixels to leave out; they keep the per-pixel argmax of `scores`.

    Returns:
        (H, W) int64 predicted classes.
    """
    _check(scores, regions)
    scores = scores.float()
    return _region_argmax(scores, regions, ignore_label, scores.argmax(dim=0))


def region_affinity_labels(probabilities, regions, ignore_label, has_background):
    """Label every ground-truth region by the argmax of its mean affinity (thesis eq. 52-53).

    The model's "sem_seg" is softmax(s) over the window-averaged, upsampled class scores s (with
    the background indicator as channel 0 where the dataset has one): s holds L_affinity, and at
    each pixel log p_c = s_c - logsumexp(s), the same shift for every class. A region's mean of
    log p_c is therefore its mean of s_c minus one constant, and has the same argmax over the
    classes; the background channel takes no part.

    Args:
        probabilities: (C, H, W) the model's per-pixel class probabilities.
        regions: (H, W) integer ground-truth classes; each class present forms one region.
        ignore_label: pixels to leave out; they keep the per-pixel argmax of `probabilities`.
        has_background: channel 0 is the thresholded background, not an affinity.

    Returns:
        (H, W) int64 predicted classes (never 0 when `has_background`).
    """
    _check(probabilities, regions)
    probabilities = probabilities.float()
    offset = 1 if has_background else 0
    if probabilities.shape[0] <= offset:
        raise ValueError("region_affinity_labels: the scores hold no class besides the background")
    affinity = probabilities[offset:].clamp_min(torch.finfo(torch.float32).tiny).log()
    labels = _region_argmax(affinity, regions, ignore_label, probabilities.argmax(dim=0) - offset)
    return labels + offset


class AlignmentOracleEvaluator(SemSegEvaluator):
    """SemSegEvaluator over the alignment oracle's predictions, computed from the model's outputs
    (no extra forward pass): reported as {"alignment_oracle": metrics} for the thesis's form
    (`form="affinity"`, eq. 52) or {"alignment_oracle_probabilities": metrics} for the mean of the
    final probabilities (`form="probabilities"`).

    The ground truth is read from the dataset's label files (at the original size, like the
    outputs); sem_seg_evaluation.pth goes to `output_dir` (use a folder of its own). The thesis
    reports 76.18 mIoU on VOC for the released GroupViT (52.29 with its own groups).
    """

    def __init__(self, dataset_name, *args, form="affinity", **kwargs):
        if form not in ALIGNMENT_FORMS:
            raise ValueError(f"alignment oracle form must be one of {sorted(ALIGNMENT_FORMS)}, got {form!r}")
        super().__init__(dataset_name, *args, **kwargs)
        self._form = form
        self._has_background = getattr(MetadataCatalog.get(dataset_name), "background_threshold", None) is not None

    def process(self, inputs, outputs):
        for sample, output in zip(inputs, outputs):
            gt = self.sem_seg_loading_fn(self.input_file_to_gt_file[sample["file_name"]], dtype=int)
            scores = output["sem_seg"]
            regions = torch.from_numpy(np.asarray(gt, dtype=np.int64))
            if self._form == "affinity":
                labels = region_affinity_labels(scores, regions, self._ignore_label, self._has_background)
            else:
                labels = region_argmax_labels(scores, regions, self._ignore_label)
            onehot = torch.zeros_like(scores, dtype=torch.float32).scatter_(0, labels[None].to(scores.device), 1)
            super().process([sample], [{"sem_seg": onehot}])

    def evaluate(self):
        results = super().evaluate()
        if results is None:  # the processes other than the main one
            return OrderedDict()
        return OrderedDict([(ALIGNMENT_FORMS[self._form], results["sem_seg"])])

    @classmethod
    def in_folder(cls, dataset_name, output_folder, distributed=True, form="affinity"):
        """An evaluator writing under <output_folder>/<its result name>."""
        folder = os.path.join(output_folder, ALIGNMENT_FORMS[form]) if output_folder else None
        return cls(dataset_name, distributed=distributed, output_dir=folder, form=form)
