from .lr_scheduler import CosineRestartsParamScheduler, build_lr_scheduler
from .mixed_precision import MixedPrecisionTrainer
from .optimizer import build_groupvit_optimizer, no_weight_decay_overrides
from .results_table import results_table

__all__ = [
    "CosineRestartsParamScheduler",
    "MixedPrecisionTrainer",
    "build_groupvit_optimizer",
    "build_lr_scheduler",
    "no_weight_decay_overrides",
    "results_table",
]
