"""Visual-grouping oracle (thesis sec. 5.4.1): the model's own final groups, each labelled by a kNN
vote over training-set group features instead of by text; mIoU then measures the grouping alone."""
import contextlib
import functools
import os
from collections import OrderedDict

import torch
import torch.nn.functional as F
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator, SemSegEvaluator
from detectron2.evaluation.evaluator import inference_context
from detectron2.evaluation.sem_seg_evaluation import load_image_into_numpy_array

from ..modeling.core import finalize_logits, sliding_window_inference
from .final_groups import FinalGroups
from .group_feature_bank import (
    GroupFeatureBank,
    background_class,
    check_bank_form,
    collect_group_features,
    default_bank_mapper,
)

__all__ = ["GroupingOracleEvaluator", "oracle_group_scores"]


def _load_ignoring(filename, dtype=int, *, ignored_class, ignore_label):
    label = load_image_into_numpy_array(filename, dtype=dtype)
    label[label == ignored_class] = ignore_label
    return label


def oracle_group_scores(features, onehot, bank, k):
    """Per-pixel class scores of one batch of windows whose groups take their kNN labels.

    Args:
        features: (n, G, D) group features; onehot: (n, G, h, w) argmax group masks.
        bank: GroupFeatureBank with C classes.

    Returns:
        (n, C, h, w): 1 on the kNN class of each pixel's group, 0 elsewhere.
    """
    n, g, _ = features.shape
    labels = bank.predict(features.reshape(n * g, -1), k).view(n, g)
    group_classes = F.one_hot(labels, bank.num_classes).to(onehot.dtype)
    return torch.einsum("nghw,ngc->nchw", onehot, group_classes)


class GroupingOracleEvaluator(DatasetEvaluator):
    """mIoU of the final groups labelled by kNN over a training set's group features.

    reset() collects the features of `bank_dataset` with the current weights (so evaluations during
    training see the current model) and builds one bank per reported variant. process() labels the
    groups of every window of each evaluated image, averages the windows like the zero-shot
    pipeline, and feeds the result to a SemSegEvaluator (same confusion matrix and metrics).

    Results: {"grouping_oracle": metrics} and, for datasets with a background class when
    `without_background`, {"grouping_oracle_no_bg": metrics}: background pixels ignored (in the
    bank's soft labels and in the scores), the thesis' "WB" row.
    The SemSegEvaluators write sem_seg_evaluation.pth under <output_dir>/<result name>/.
    For the released GroupViT on VOC (k=10, VOC train as the bank) the thesis reports 54.16 mIoU,
    56.12 without background, against 52.29 for the zero-shot labelling.
    """

    def __init__(self, dataset_name, model, bank_dataset, *, k=10, max_per_class=1000, without_background=True,
                 feature="tokens", bank_mapper=None, output_dir=None, distributed=True, num_workers=0, seed=0,
                 groups=None, bank_max_images=0, bank_form="windows"):
        """
        Args:
            dataset_name: the evaluated dataset; bank_dataset: a registered labelled training set
                with the same classes (e.g. "synthetic_train_seg" for "synthetic_val").
            model: a GroupViT, or None when `groups` is given.
            k, max_per_class, feature, seed: see build_group_feature_bank.
            bank_mapper: reads the bank's images and labels (default: the zero-shot resize).
            groups: a FinalGroups replacing the one made from `model`.
            bank_max_images: build the bank from the first this many images of `bank_dataset`
                (0: all of them).
            bank_form: "windows" (one feature per final group with labelled pixels per sliding
                window) or "thesis" (every final group of every whole image, 8 per image for the
                released model; the evaluated images are then taken whole too, as the thesis does).
        """
        if not bank_dataset:
            raise ValueError(
                "The grouping oracle needs a labelled training set for its kNN bank: set "
                "TEST.KNN_BANK_DATASET (e.g. 'synthetic_train_seg')"
            )
        if int(k) < 1:
            raise ValueError(f"TEST.KNN_K must be >= 1, got {k}")
        meta, bank_meta = MetadataCatalog.get(dataset_name), MetadataCatalog.get(bank_dataset)
        if list(meta.stuff_classes) != list(getattr(bank_meta, "stuff_classes", [])):
            raise ValueError(
                f"TEST.KNN_BANK_DATASET {bank_dataset!r} must have the classes of {dataset_name!r} in "
                f"the same order; got {getattr(bank_meta, 'stuff_classes', None)} and {meta.stuff_classes}"
            )
        self._model = getattr(model, "module", model)
        self._keep_empty = check_bank_form(bank_form) == "thesis"
        self._groups = groups if groups is not None else FinalGroups.from_model(
            self._model, feature, whole_image=self._keep_empty
        )
        self._bank_dataset = bank_dataset
        self._bank_mapper = bank_mapper if bank_mapper is not None else default_bank_mapper()
        self._k = int(k)
        self._max_per_class = max_per_class
        self._seed = seed
        self._num_workers = num_workers
        self._bank_max_images = bank_max_images
        self._num_classes = len(meta.stuff_classes)

        background = background_class(meta)
        # name -> (classes left out of the bank's soft labels, SemSegEvaluator)
        self._variants = OrderedDict()
        self._variants["grouping_oracle"] = ((), self._sem_seg_evaluator(dataset_name, output_dir, distributed,
                                                                         "grouping_oracle"))
        if without_background and background is not None:
            loader = functools.partial(_load_ignoring, ignored_class=background, ignore_label=meta.ignore_label)
            self._variants["grouping_oracle_no_bg"] = (
                (background,),
                self._sem_seg_evaluator(dataset_name, output_dir, distributed, "grouping_oracle_no_bg", loader),
            )
        self.banks = {}

    @staticmethod
    def _sem_seg_evaluator(dataset_name, output_dir, distributed, name, loader=load_image_into_numpy_array):
        folder = os.path.join(output_dir, name) if output_dir else None
        return SemSegEvaluator(dataset_name, distributed=distributed, output_dir=folder, sem_seg_loading_fn=loader)

    def reset(self):
        # Built before inference_on_dataset puts the model in eval mode.
        context = inference_context(self._model) if self._model is not None else contextlib.nullcontext()
        with context, torch.no_grad():
            features, counts = collect_group_features(self._groups, self._bank_dataset, self._bank_mapper,
                                                      self._num_workers, self._bank_max_images, self._keep_empty)
        self.banks = {
            name: GroupFeatureBank.from_counts(features, counts, max_per_class=self._max_per_class,
                                               ignore_classes=ignored, seed=self._seed, keep_empty=self._keep_empty)
            for name, (ignored, _) in self._variants.items()
        }
        for _, evaluator in self._variants.values():
            evaluator.reset()

    def _predict(self, crops):
        """(n, 3, h, w) crops -> (n, V * C, h, w): the scores of every variant, stacked."""
        features, onehot = self._groups(crops)
        return torch.cat([oracle_group_scores(features, onehot, self.banks[n], self._k) for n in self._variants], 1)

    @torch.no_grad()
    def process(self, inputs, outputs):
        for sample in inputs:
            image = self._groups.normalize(sample["image"])
            if self._groups.crop_size is None:
                scores = self._predict(image)
            else:
                scores = sliding_window_inference(image, self._groups.crop_size, self._groups.stride, self._predict)
            height = sample.get("height", image.shape[-2])
            width = sample.get("width", image.shape[-1])
            for name, per_variant in zip(self._variants, scores.split(self._num_classes, dim=1)):
                prediction = finalize_logits(per_variant, (height, width))[0]
                self._variants[name][1].process([sample], [{"sem_seg": prediction}])

    def evaluate(self):
        results = OrderedDict()
        for name, (_, evaluator) in self._variants.items():
            res = evaluator.evaluate()
            if res is not None:  # None on the processes other than the main one
                results[name] = res["sem_seg"]
        return results
