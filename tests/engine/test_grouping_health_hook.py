"""GroupingHealthHook writes the model's latest grouping figures to the event storage and warns
while the grouping is collapsed."""
import logging
from types import SimpleNamespace

from detectron2.utils.events import EventStorage

from groupvit_d2.engine.grouping_health_hook import GroupingHealthHook

COLLAPSED = {"stage1/groups_used": 1.0, "stage1/map_entropy": 0.2, "stage1/logit_std": 3.0}
HEALTHY = {"stage1/groups_used": 4.0, "stage1/map_entropy": 0.3, "stage1/logit_std": 3.0}


def _run(health_per_iter, period, caplog, warn_after=0):
    model = SimpleNamespace(last_grouping_health=None)
    hook = GroupingHealthHook(period=period, warn_after=warn_after, warn_every=1)
    hook.trainer = SimpleNamespace(model=SimpleNamespace(module=model), max_iter=len(health_per_iter), iter=0)
    written = {}
    # Straight on the hook's logger: Detectron2's setup_logger may have stopped its propagation.
    hook_logger = logging.getLogger("groupvit_d2.engine.grouping_health_hook")
    hook_logger.addHandler(caplog.handler)
    with EventStorage(0) as storage, caplog.at_level(logging.WARNING, logger=hook_logger.name):
        hook.trainer.storage = storage
        for it, health in enumerate(health_per_iter):
            hook.trainer.iter = it
            storage.iter = it
            model.last_grouping_health = health
            hook.after_step()
        for key, history in storage.histories().items():
            written[key] = history.values()
    hook_logger.removeHandler(caplog.handler)
    return written


def test_figures_reach_the_storage_every_period(caplog):
    written = _run([HEALTHY] * 3 + [dict(HEALTHY, **{"stage1/groups_used": 5.0})] + [HEALTHY] * 2, 2, caplog)
    # Iterations 1, 3 and 5 (every second one, the last included), each with its own batch's figure.
    assert written["grouping/stage1/groups_used"] == [(4.0, 1), (5.0, 3), (4.0, 5)]
    assert [it for _, it in written["grouping/stage1/map_entropy"]] == [1, 3, 5]
    assert "collapsed" not in caplog.text


def test_a_collapsed_grouping_is_warned_about(caplog):
    _run([COLLAPSED] * 4, 2, caplog)
    assert "the grouping has collapsed (stage1: every token falls in 1.00 group(s)" in caplog.text


def test_no_warning_before_warn_after(caplog):
    _run([COLLAPSED] * 4, 2, caplog, warn_after=10)
    assert "collapsed" not in caplog.text
