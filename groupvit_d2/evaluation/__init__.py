import logging
import os

from .alignment_oracle import AlignmentOracleEvaluator, region_affinity_labels, region_argmax_labels
from .entropy_maps import EntropyMapWriter, colorize_entropy, entropy_map, group_assignment_entropy
from .final_groups import FinalGroups
from .group_feature_bank import GroupFeatureBank, build_group_feature_bank, group_class_counts
from .group_pictures import GroupPicturesWriter, write_pictures
from .grouping_oracle import GroupingOracleEvaluator

__all__ = [
    "GroupPicturesWriter",
    "write_pictures",
    "AlignmentOracleEvaluator",
    "region_argmax_labels",
    "region_affinity_labels",
    "GroupingOracleEvaluator",
    "GroupFeatureBank",
    "FinalGroups",
    "build_group_feature_bank",
    "group_class_counts",
    "EntropyMapWriter",
    "entropy_map",
    "group_assignment_entropy",
    "colorize_entropy",
    "ORACLE_EVALUATORS",
    "build_diagnostic_evaluators",
]


def _grouping_oracle(cfg, dataset_name, output_folder, model):
    from ..data.dataset_mappers import ZeroShotSemSegDatasetMapper

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
