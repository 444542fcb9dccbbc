"""Vision-text alignment oracle (thesis sec. 5.4.2): the ground-truth regions replace the model's
groups; each region takes the argmax of the mean of the model's per-pixel class scores inside it, so
mIoU measures the labelling (alignment) alone."""
import os
from collections import OrderedDict

import numpy as np
import torch
from detectron2.evaluation import SemSegEvaluator

__all__ = ["AlignmentOracleEvaluator", "region_argmax_labels"]


def region_argmax_labels(scores, regions, ignore_label):
    """Label every ground-truth region by the argmax of its mean class scores.

    Args:
        scores: (C, H, W) per-pixel class scores (the model's "sem_seg" before the argmax).
        regions: (H, W) integer ground-truth classes; each class present forms one region.
        ignore_label: pixels to leave out; they keep the per-pixel argmax of `scores`.

    Returns:
        (H, W) int64 predicted classes.
    """
    if scores.dim() != 3 or tuple(scores.shape[1:]) != tuple(regions.shape):
        raise ValueError(
            f"scores must be (C, H, W) and regions (H, W) of the same size; got {tuple(scores.shape)} and "
            f"{tuple(regions.shape)}"
        )
    scores = scores.float()
    regions = regions.to(scores.device).long()
    prediction = scores.argmax(dim=0)
    valid = regions != ignore_label
    if not bool(valid.any()):
        return prediction
    ids, inverse = regions[valid].unique(return_inverse=True)
    flat = scores[:, valid]  # (C, P)
    sums = flat.new_zeros(scores.shape[0], len(ids)).index_add_(1, inverse, flat)
    # Every region is non-empty, so the mean's argmax is the sum's argmax.
    prediction[valid] = sums.argmax(dim=0)[inverse]
    return prediction


class AlignmentOracleEvaluator(SemSegEvaluator):
    """SemSegEvaluator over the alignment oracle's predictions, computed from the model's outputs
    (no extra forward pass): reported as {"alignment_oracle": metrics}.

    The ground truth is read from the dataset's label files (at the original size, like the
    outputs); sem_seg_evaluation.pth goes to `output_dir` (use a folder of its own). The thesis
    reports 76.18 mIoU on VOC for the released GroupViT (52.29 with its own groups).
    """

    def process(self, inputs, outputs):
        for sample, output in zip(inputs, outputs):
            gt = self.sem_seg_loading_fn(self.input_file_to_gt_file[sample["file_name"]], dtype=int)
            scores = output["sem_seg"]
            labels = region_argmax_labels(scores, torch.from_numpy(np.asarray(gt, dtype=np.int64)), self._ignore_label)
            onehot = torch.zeros_like(scores, dtype=torch.float32).scatter_(0, labels[None].to(scores.device), 1)
            super().process([sample], [{"sem_seg": onehot}])

    def evaluate(self):
        results = super().evaluate()
        if results is None:  # the processes other than the main one
            return OrderedDict()
        return OrderedDict(alignment_oracle=results["sem_seg"])

    @classmethod
    def in_folder(cls, dataset_name, output_folder, distributed=True):
        """An evaluator writing under <output_folder>/alignment_oracle."""
        folder = os.path.join(output_folder, "alignment_oracle") if output_folder else None
        return cls(dataset_name, distributed=distributed, output_dir=folder)
