from .mixed_precision import MixedPrecisionTrainer
from .optimizer import build_groupvit_optimizer, no_weight_decay_overrides
from .results_table import results_table

__all__ = ["MixedPrecisionTrainer", "build_groupvit_optimizer", "no_weight_decay_overrides", "results_table"]
