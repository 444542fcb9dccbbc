"""What a resumed run needs besides weights and optimizer to continue exactly: every process's
random number generators and its place in the training data stream."""
import logging
import random

import numpy as np
import torch
from detectron2.engine import HookBase
from detectron2.utils import comm

__all__ = ["RNGStates", "CaptureRNGStates", "set_data_start"]

logger = logging.getLogger(__name__)


def _local_state():
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        # Tensors and plain numbers only, so that the checkpoint stays readable without unpickling code.
        "python": torch.tensor(mt, dtype=torch.int64),
        "python_version": version,
        "python_gauss": gauss,
        "numpy": torch.from_numpy(keys.astype(np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_cached": float(cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _restore(state):
    random.setstate((state["python_version"], tuple(state["python"].tolist()), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


class RNGStates:
    """A checkpointable holding the Python, NumPy and torch generator states of every process.

    `capture()` must be called by all processes at once (it gathers); the checkpoint then holds
    one state per rank, and `load_state_dict` gives each rank its own back. Without them a resumed
    run would draw other augmentations and other Gumbel noise than the uninterrupted one.
    """

    def __init__(self):
        self._states = None

    def capture(self):
        self._states = comm.all_gather(_local_state())

    def state_dict(self):
        return {"per_rank": self._states if self._states is not None else [_local_state()]}

    def load_state_dict(self, state):
        states = state.get("per_rank") or []
        if len(states) != comm.get_world_size():
            logger.warning("The checkpoint holds random generator states of %d processes, this run has %d: "
                           "they are not restored, so the run will not repeat the uninterrupted one exactly.",
                           len(states), comm.get_world_size())
            return
        _restore(states[comm.get_rank()])


class CaptureRNGStates(HookBase):
    """Captures RNGStates on every process right before the iterations the checkpointer saves.

    Place it before PeriodicCheckpointer: both run in after_step, in the order of the hook list.
    """

    def __init__(self, rng_states, period, max_iter):
        self.rng_states = rng_states
        self.period = int(period)
        self.max_iter = int(max_iter)

    def after_step(self):
        it = self.trainer.iter
        if (self.period > 0 and (it + 1) % self.period == 0) or it >= self.max_iter - 1:
            self.rng_states.capture()


def set_data_start(data_loader, start_iter):
    """Make a training loader that is not iterated yet continue after `start_iter` batches.

    Returns True when the loader knows how (image-text shards, or a Detectron2 loader over a
    resumable sampler); a loader that does not starts over from its beginning.
    """
    from ..data.image_text_dataset import ImageTextWebDataset
    from ..data.resumable_sampler import ResumableTrainingSampler

    dataset = getattr(data_loader, "dataset", None)
    if isinstance(dataset, ImageTextWebDataset):
        dataset.start_after(start_iter, data_loader.batch_size)
        return True
    sampler = getattr(dataset, "sampler", None)
    if isinstance(sampler, ResumableTrainingSampler):
        sampler.start_after(start_iter, data_loader.batch_size)
        return True
    return False
