import math

import pytest
import torch
from detectron2.config import get_cfg

from groupvit_d2 import add_groupvit_config
from groupvit_d2.engine import CosineRestartsParamScheduler, build_lr_scheduler

BASE_LR, MIN_LR = 1e-4, 1e-6


def _cfg(max_iter=60, period=24, cycles=2, warmup=5):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupCosineRestartsLR"
    cfg.SOLVER.BASE_LR, cfg.SOLVER.BASE_LR_END = BASE_LR, MIN_LR
    cfg.SOLVER.MAX_ITER = max_iter
    cfg.SOLVER.WARMUP_ITERS = warmup
    cfg.SOLVER.WARMUP_FACTOR = 0.01
    cfg.SOLVER.COSINE_RESTARTS.PERIOD = period
    cfg.SOLVER.COSINE_RESTARTS.NUM_CYCLES = cycles
    return cfg


def _closed_form(it, period, cycles):
    cycle, t = divmod(it, period)
    if cycle >= cycles:
        return MIN_LR
    return MIN_LR + 0.5 * (BASE_LR - MIN_LR) * (1 + math.cos(math.pi * t / period))


def _lrs(cfg):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.SOLVER.BASE_LR)
    scheduler = build_lr_scheduler(cfg, optimizer)
    lrs = []
    for _ in range(cfg.SOLVER.MAX_ITER):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_restarts_follow_the_closed_form_after_warm_up():
    # The thesis shape scaled down: 12 decay "epochs" of 2 iterations, 2 cycles, 30 "epochs".
    lrs = _lrs(_cfg(max_iter=60, period=24, cycles=2, warmup=5))
    for it in range(5, 60):
        assert lrs[it] == pytest.approx(_closed_form(it, 24, 2), rel=1e-9, abs=1e-15), it
    # Restart at the start of the second cycle, minimum once both cycles are spent.
    assert lrs[24] == pytest.approx(BASE_LR)
    assert lrs[23] < 0.02 * BASE_LR
    assert lrs[48:] == pytest.approx([MIN_LR] * 12)


def test_warm_up_rises_linearly_to_the_schedule():
    lrs = _lrs(_cfg(warmup=5))
    assert lrs[0] == pytest.approx(0.01 * BASE_LR)
    steps = [b - a for a, b in zip(lrs[:5], lrs[1:6])]
    assert steps == pytest.approx([steps[0]] * 5)
    assert lrs[5] == pytest.approx(_closed_form(5, 24, 2))


def test_matches_timms_cosine_scheduler_with_a_cycle_limit():
    timm_scheduler = pytest.importorskip("timm.scheduler.cosine_lr")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE_LR)
    reference = timm_scheduler.CosineLRScheduler(
        optimizer, t_initial=24, lr_min=MIN_LR, cycle_limit=2, warmup_t=0, t_in_epochs=False
    )
    lrs = _lrs(_cfg(warmup=0))
    expected = [reference._get_lr(it)[0] for it in range(60)]
    assert lrs == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_other_names_are_detectron2s():
    cfg = _cfg(warmup=0)
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupCosineLR"
    lrs = _lrs(cfg)
    assert lrs[30] == pytest.approx(MIN_LR + 0.5 * (BASE_LR - MIN_LR))  # one cosine, half way
    cfg.SOLVER.LR_SCHEDULER_NAME = "NoSuchLR"
    with pytest.raises(ValueError, match="NoSuchLR"):
        _lrs(cfg)


@pytest.mark.parametrize("period", [0, 61])
def test_a_period_outside_the_run_is_refused(period):
    with pytest.raises(ValueError, match="COSINE_RESTARTS.PERIOD"):
        _lrs(_cfg(period=period))


def test_bad_cycle_counts_are_refused():
    with pytest.raises(ValueError, match="integer >= 1"):
        CosineRestartsParamScheduler(1.0, 0.0, 0.5, 0)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        CosineRestartsParamScheduler(1.0, 0.0, 1.5, 2)


def test_the_trainer_builds_it_from_the_config():
    import train_net

    cfg = _cfg(warmup=0)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE_LR)
    scheduler = train_net.Trainer.build_lr_scheduler(cfg, optimizer)
    for _ in range(30):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(_closed_form(30, 24, 2))
