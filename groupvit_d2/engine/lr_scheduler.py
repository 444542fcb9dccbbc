"""Learning-rate schedules beyond Detectron2's own: cosine annealing with warm restarts (SGDR).

The thesis fine-tunes with timm's `CosineLRScheduler` as the official GroupViT code builds it:
cosine cycles of a fixed length that restart at the base rate, a limited number of them, and the
minimum rate once they are spent ("12 decay epochs, 2 cycles"). Here it is an fvcore
`ParamScheduler` (a multiplier of SOLVER.BASE_LR), so Detectron2's warm-up, `LRMultiplier` and
checkpointing apply unchanged.
"""
import math

from detectron2.solver import build_lr_scheduler as build_detectron2_lr_scheduler
from detectron2.solver.lr_scheduler import LRMultiplier, WarmupParamScheduler
from fvcore.common.param_scheduler import ParamScheduler

__all__ = ["CosineRestartsParamScheduler", "build_lr_scheduler", "LR_SCHEDULERS"]


class CosineRestartsParamScheduler(ParamScheduler):
    """Cosine from `start_value` to `end_value` over each cycle of `period`, restarting
    `num_cycles` times in all; `end_value` after the last cycle.

    value(w) = end + (start - end) * (1 + cos(pi * (w mod period) / period)) / 2 while
    floor(w / period) < num_cycles, else end; `w` is the fraction of training in [0, 1).

    Args:
        start_value, end_value: the multiplier at the start and the end of every cycle.
        period: length of one cycle as a fraction of the whole training, in (0, 1].
        num_cycles: number of cycles (>= 1).
    """

    def __init__(self, start_value, end_value, period, num_cycles):
        if not 0.0 < period <= 1.0:
            raise ValueError(f"the cosine cycle must last a fraction of training in (0, 1], got {period}")
        if int(num_cycles) != num_cycles or num_cycles < 1:
            raise ValueError(f"the number of cosine cycles must be an integer >= 1, got {num_cycles}")
        self._start_value = float(start_value)
        self._end_value = float(end_value)
        self._period = float(period)
        self._num_cycles = int(num_cycles)

    def __call__(self, where):
        position = where / self._period
        # Iteration / max_iter over period / max_iter can land just below a whole number.
        cycle = round(position) if abs(position - round(position)) < 1e-9 else math.floor(position)
        if cycle >= self._num_cycles:
            return self._end_value
        progress = max(position - cycle, 0.0)
        return self._end_value + 0.5 * (self._start_value - self._end_value) * (1.0 + math.cos(math.pi * progress))


def _cosine_restarts(cfg):
    solver = cfg.SOLVER
    end_value = solver.BASE_LR_END / solver.BASE_LR
    if not 0.0 <= end_value <= 1.0:
        raise ValueError(
            f"SOLVER.BASE_LR_END ({solver.BASE_LR_END}) must lie between 0 and SOLVER.BASE_LR ({solver.BASE_LR})"
        )
    period = solver.COSINE_RESTARTS.PERIOD
    if not 0 < period <= solver.MAX_ITER:
        raise ValueError(
            f"SOLVER.COSINE_RESTARTS.PERIOD must be between 1 and SOLVER.MAX_ITER ({solver.MAX_ITER}) "
            f"iterations, got {period}"
        )
    return CosineRestartsParamScheduler(1.0, end_value, period / solver.MAX_ITER, solver.COSINE_RESTARTS.NUM_CYCLES)


# SOLVER.LR_SCHEDULER_NAME -> cfg -> ParamScheduler (the multiplier before warm-up).
LR_SCHEDULERS = {"WarmupCosineRestartsLR": _cosine_restarts}


def build_lr_scheduler(cfg, optimizer):
    """Detectron2's build_lr_scheduler, plus the names of LR_SCHEDULERS (same warm-up keys)."""
    name = cfg.SOLVER.LR_SCHEDULER_NAME
    if name not in LR_SCHEDULERS:
        return build_detectron2_lr_scheduler(cfg, optimizer)
    sched = WarmupParamScheduler(
        LR_SCHEDULERS[name](cfg),
        cfg.SOLVER.WARMUP_FACTOR,
        min(cfg.SOLVER.WARMUP_ITERS / cfg.SOLVER.MAX_ITER, 1.0),
        cfg.SOLVER.WARMUP_METHOD,
        cfg.SOLVER.RESCALE_INTERVAL,
    )
    return LRMultiplier(optimizer, multiplier=sched, max_iter=cfg.SOLVER.MAX_ITER)
