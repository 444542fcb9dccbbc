"""Detectron2's TrainingSampler, able to continue an interrupted run where its data stream stopped."""
import itertools

from detectron2.data.samplers import TrainingSampler

__all__ = ["ResumableTrainingSampler"]


class ResumableTrainingSampler(TrainingSampler):
    """TrainingSampler (one infinite, seeded stream of indices shared by all processes; process r
    takes every world_size-th from position r) that can start further on in that stream.

    `start_after(iterations, batch_size)` skips what `iterations` batches of `batch_size` per
    process took. The indices are only generated, not loaded, so skipping is cheap.
    """

    def __init__(self, size, shuffle=True, seed=None):
        super().__init__(size, shuffle=shuffle, seed=seed)
        self._start = 0

    def start_after(self, iterations, batch_size):
        self._start = int(iterations) * int(batch_size) * self._world_size

    def __iter__(self):
        yield from itertools.islice(self._infinite_indices(), self._start + self._rank, None, self._world_size)
