"""Evaluation during training and `--eval-only`: build_evaluator assembles, from the config, the
semantic-segmentation evaluator of one dataset and every diagnostic it asks for."""
from .alignment_oracle import AlignmentOracleEvaluator, region_affinity_labels, region_argmax_labels
from .build import ORACLE_EVALUATORS, build_diagnostic_evaluators, build_evaluator
from .entropy_maps import EntropyMapWriter, colorize_entropy, entropy_map, group_assignment_entropy
from .final_groups import FinalGroups
from .group_feature_bank import GroupFeatureBank, build_group_feature_bank, group_class_counts
from .group_pictures import GroupPicturesWriter, write_pictures
from .grouping_oracle import GroupingOracleEvaluator

__all__ = [
    "build_evaluator",
    "build_diagnostic_evaluators",
    "ORACLE_EVALUATORS",
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
]
