"""SemSegEvaluator that never counts a label id outside the dataset's classes."""
import logging

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from detectron2.evaluation.sem_seg_evaluation import load_image_into_numpy_array

from .split_check import OUT_OF_RANGE_POLICIES, out_of_range_ids

__all__ = ["CheckedSemSegEvaluator"]

logger = logging.getLogger(__name__)


class CheckedSemSegEvaluator(SemSegEvaluator):
    """
    Detectron2's SemSegEvaluator, except for ground-truth ids that are neither a class nor the
    ignore value. SemSegEvaluator would fold those into its confusion matrix as other classes'
    pixels and move the mIoU without a word. Here they either raise ValueError naming the label
    file and the ids (``out_of_range="error"``), or are ignored, warned about once, and counted:
    the results then carry "out_of_range_label_pixels" and "out_of_range_label_files".
    """

    def __init__(self, dataset_name, distributed=True, output_dir=None, *, out_of_range="error"):
        if out_of_range not in OUT_OF_RANGE_POLICIES:
            raise ValueError(
                f"TEST.OUT_OF_RANGE_LABELS must be one of {OUT_OF_RANGE_POLICIES}, got {out_of_range!r}"
            )
        super().__init__(dataset_name, distributed, output_dir, sem_seg_loading_fn=self._load_label)
        meta = MetadataCatalog.get(dataset_name)
        self._out_of_range = out_of_range
        self._num_label_classes = len(meta.stuff_classes)
        self._label_ignore = getattr(meta, "ignore_label", 255)
        self._warned = False

    def reset(self):
        super().reset()
        self._bad_pixels = 0
        self._bad_files = 0

    def _load_label(self, filename, dtype=int):
        label = load_image_into_numpy_array(filename, copy=True, dtype=dtype)
        bad = out_of_range_ids(label, self._num_label_classes, self._label_ignore)
        if not bad:
            return label
        if self._out_of_range == "error":
            raise ValueError(
                f"Label {filename} holds ids {bad[:10]} outside the {self._num_label_classes} classes of "
                f"'{self._dataset_name}' that are not the ignore value {self._label_ignore}; fix the file, or set "
                "TEST.OUT_OF_RANGE_LABELS ignore to leave such pixels out with a count in the results"
            )
        mask = np.isin(label, bad)
        self._bad_pixels += int(mask.sum())
        self._bad_files += 1
        if not self._warned:
            self._warned = True
            logger.warning("Label %s holds ids %s outside the %d classes; their pixels are ignored and counted "
                           "(TEST.OUT_OF_RANGE_LABELS ignore).", filename, bad[:10], self._num_label_classes)
        label[mask] = self._label_ignore
        return label

    def evaluate(self):
        from detectron2.utils.comm import all_gather

        counts = [(self._bad_pixels, self._bad_files)]
        if self._distributed:
            counts = all_gather(counts[0])
        results = super().evaluate()
        if results is not None and self._out_of_range == "ignore":
            pixels, files = (sum(c[i] for c in counts) for i in (0, 1))
            results["sem_seg"]["out_of_range_label_pixels"] = pixels
            results["sem_seg"]["out_of_range_label_files"] = files
            if pixels:
                logger.warning("'%s': %d pixels in %d label maps had out-of-range ids and were ignored.",
                               self._dataset_name, pixels, files)
        return results
