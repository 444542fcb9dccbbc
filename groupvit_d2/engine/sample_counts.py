"""The image-text samples training skipped, in the event storage and in a closing summary."""
import logging

from detectron2.engine import HookBase
from detectron2.utils import comm

__all__ = ["SkippedSamplesHook"]

logger = logging.getLogger("groupvit_d2")


class SkippedSamplesHook(HookBase):
    """Puts the skipped-sample counts of an ImageTextWebDataset (all processes and DataLoader
    workers) into the event storage every `period` iterations, so that metrics.json and TensorBoard
    carry them (data/samples_read, data/skipped, data/skipped/<reason>), and logs a summary when
    training ends.

    Every process must run it: the counts are summed over processes with a collective call.
    Place it before PeriodicWriter, which writes what the storage holds in the same after_step.
    """

    def __init__(self, dataset, period=20):
        self.dataset = dataset
        self.period = int(period)

    def _totals(self):
        local = self.dataset.counter.totals()
        if comm.get_world_size() == 1:
            return local
        gathered = comm.all_gather(local)
        return {key: sum(g[key] for g in gathered) for key in local}

    def _put(self, totals):
        reasons = self.dataset.counter.SKIP_REASONS
        scalars = {f"data/skipped/{r}": totals[r] for r in reasons}
        scalars["data/skipped"] = sum(totals[r] for r in reasons)
        scalars["data/samples_read"] = totals["seen"]
        self.trainer.storage.put_scalars(**scalars, smoothing_hint=False)

    def after_step(self):
        it = self.trainer.iter
        if (it + 1) % self.period == 0 or it == self.trainer.max_iter - 1:
            self._put(self._totals())

    def after_train(self):
        totals = self._totals()
        reasons = self.dataset.counter.SKIP_REASONS
        skipped = {r: totals[r] for r in reasons if totals[r]}
        converted = {k.split(":", 1)[1]: v for k, v in totals.items() if k.startswith("converted:") and v}
        if comm.is_main_process():
            logger.info(
                "Image-text data over the whole run (this session): %d samples read, %d skipped%s, %d converted "
                "to RGB%s.",
                totals["seen"], sum(skipped.values()), f" {skipped}" if skipped else "",
                sum(converted.values()), f" {converted}" if converted else "",
            )
