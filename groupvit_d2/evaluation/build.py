"""Every evaluator of one evaluation dataset, built from the config: SemSegEvaluator (with its
checks), then the pictures, oracles, entropy maps, Jaccard index, grouping health and Boundary IoU
that TEST.* asks for."""
import logging
import os

from detectron2.evaluation import DatasetEvaluators

from ..data.dataset_mappers import ZeroShotSemSegDatasetMapper
from ..modeling.groupvit import GroupViT
from .alignment_oracle import AlignmentOracleEvaluator
from .boundary_iou import BoundaryIoUEvaluator
from .entropy_maps import EntropyMapWriter
from .group_pictures import GroupPicturesWriter
from .grouping_health import GroupingHealthEvaluator
from .grouping_oracle import GroupingOracleEvaluator
from .jaccard import JaccardEvaluator
from .sem_seg_evaluator import CheckedSemSegEvaluator

__all__ = ["ORACLE_EVALUATORS", "build_diagnostic_evaluators", "build_evaluator"]


def build_evaluator(cfg, dataset_name, output_folder=None, model=None):
    """The DatasetEvaluators of `dataset_name` (results under `output_folder`, by default
    <OUTPUT_DIR>/inference/<dataset_name>). Evaluators that need the model are left out when
    `model` is None."""
    output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
    evaluators = [CheckedSemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder,
                                         out_of_range=cfg.TEST.OUT_OF_RANGE_LABELS)]
    if cfg.TEST.GROUP_PICTURES > 0 and model is not None:
        evaluators.append(GroupPicturesWriter(dataset_name, model, os.path.join(output_folder, "pictures"),
                                              max_images=cfg.TEST.GROUP_PICTURES))
    evaluators += build_diagnostic_evaluators(cfg, dataset_name, output_folder, model)
    if cfg.TEST.JACCARD.ENABLED:
        evaluators.append(JaccardEvaluator(dataset_name, model, cfg.TEST.JACCARD.MATCHING,
                                           cfg.TEST.JACCARD.IGNORE_BACKGROUND))
    if cfg.TEST.GROUPING_HEALTH.ENABLED and isinstance(getattr(model, "module", model), GroupViT):
        evaluators.append(GroupingHealthEvaluator(dataset_name, model))
    if cfg.TEST.BOUNDARY_IOU.ENABLED:
        evaluators.append(BoundaryIoUEvaluator(dataset_name, cfg.TEST.BOUNDARY_IOU.DILATION_RATIO))
    return DatasetEvaluators(evaluators)


def _grouping_oracle(cfg, dataset_name, output_folder, model):
    t = cfg.TEST
    return GroupingOracleEvaluator(
        dataset_name, model, t.KNN_BANK_DATASET, k=t.KNN_K, max_per_class=t.KNN_MAX_PER_CLASS,
        without_background=t.KNN_WITHOUT_BACKGROUND, feature=t.KNN_FEATURE, output_dir=output_folder,
        bank_mapper=ZeroShotSemSegDatasetMapper(cfg, is_train=False, load_sem_seg=True),
        num_workers=cfg.DATALOADER.NUM_WORKERS, seed=cfg.SEED if cfg.SEED >= 0 else 0,
        bank_max_images=t.KNN_BANK_MAX_IMAGES, bank_form=t.KNN_BANK_FORM,
    )


def _alignment_oracle(cfg, dataset_name, output_folder, model):
    return AlignmentOracleEvaluator.in_folder(dataset_name, output_folder, form="affinity")


def _alignment_oracle_probabilities(cfg, dataset_name, output_folder, model):
    return AlignmentOracleEvaluator.in_folder(dataset_name, output_folder, form="probabilities")


# TEST.ORACLES entry -> factory(cfg, dataset_name, output_folder, model) -> DatasetEvaluator.
# (needs the model?, factory)
ORACLE_EVALUATORS = {
    "grouping": (True, _grouping_oracle),
    "alignment": (False, _alignment_oracle),
    "alignment_probabilities": (False, _alignment_oracle_probabilities),
}


def build_diagnostic_evaluators(cfg, dataset_name, output_folder, model=None):
    """The evaluators that cfg.TEST.ORACLES and cfg.TEST.ENTROPY_MAPS ask for, for one dataset.

    Those that need the model are skipped, with a warning, when `model` is None.
    """
    unknown = [name for name in cfg.TEST.ORACLES if name not in ORACLE_EVALUATORS]
    if unknown:
        raise ValueError(f"TEST.ORACLES: unknown {unknown}; expected some of {sorted(ORACLE_EVALUATORS)}")
    evaluators = []
    for name in cfg.TEST.ORACLES:
        needs_model, factory = ORACLE_EVALUATORS[name]
        if needs_model and model is None:
            logging.getLogger(__name__).warning("TEST.ORACLES %r needs the model; skipped", name)
            continue
        evaluators.append(factory(cfg, dataset_name, output_folder, model))
    if cfg.TEST.ENTROPY_MAPS > 0 and model is not None:
        evaluators.append(EntropyMapWriter(model, os.path.join(output_folder, "entropy"), cfg.TEST.ENTROPY_MAPS))
    return evaluators
