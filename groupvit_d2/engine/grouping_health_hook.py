"""The training side of the grouping-health figures (groupvit_d2/modeling/groupvit/grouping_health.py)."""
import logging

from detectron2.engine import HookBase

from ..modeling.groupvit.grouping_health import collapse_reason, undecided_note

__all__ = ["GroupingHealthHook"]

logger = logging.getLogger(__name__)


class GroupingHealthHook(HookBase):
    """Writes the grouping figures of the latest training batch to the event storage.

    The model records them in `last_grouping_health` during its training forward (GroupViT does);
    every `period` iterations this hook puts them under "grouping/<stage>/<figure>" and logs a
    warning, once per `warn_every` checks at most, while the final stage is collapsed.
    """

    def __init__(self, period: int = 20, warn_after: int = 0, warn_every: int = 10):
        self.period = max(int(period), 1)
        self.warn_after = int(warn_after)
        self.warn_every = max(int(warn_every), 1)
        self._collapsed_checks = 0
        self._noted_undecided = False

    def _model(self):
        model = self.trainer.model
        return getattr(model, "module", model)

    def after_step(self):
        it = self.trainer.iter
        if (it + 1) % self.period and it + 1 != self.trainer.max_iter:
            return
        health = getattr(self._model(), "last_grouping_health", None)
        if not health:
            return
        storage = self.trainer.storage
        for key, value in health.items():
            storage.put_scalar("grouping/" + key, value, smoothing_hint=False)
        reason = collapse_reason(health)
        if it + 1 < self.warn_after:
            return
        if reason is None:
            note = undecided_note(health)
            if note is not None and not self._noted_undecided:
                logger.info("Iteration %d: %s.", it + 1, note)
                self._noted_undecided = True
            return
        if self._collapsed_checks % self.warn_every == 0:
            logger.warning(
                "Iteration %d: the grouping has collapsed (%s). The groups cannot segment; see "
                "docs/RESULTS.md, 'Why grouping failed at demo scale', for the usual causes.",
                it + 1, reason,
            )
        self._collapsed_checks += 1
