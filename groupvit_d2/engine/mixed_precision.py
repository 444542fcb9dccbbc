"""Mixed-precision training on any device.

Detectron2's AMPTrainer asserts CUDA and always scales the loss. This one runs `torch.autocast`
on the model's device type, and uses a gradient scaler only for float16, which needs it (bfloat16
has float32's exponent range).
"""
import time

import torch
from detectron2.engine import SimpleTrainer

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_amp_dtype(name):
    if name not in _DTYPES:
        raise ValueError(f"SOLVER.AMP.DTYPE must be one of {sorted(_DTYPES)}, got {name!r}")
    return _DTYPES[name]


def autocast_losses(model, data, device_type, dtype):
    """(loss dict of model(data) under autocast, their sum in fp32): the forward of one mixed-
    precision step; the backward runs outside autocast."""
    with torch.autocast(device_type=device_type, dtype=dtype):
        loss_dict = model(data)
    return loss_dict, sum(v.float() for v in loss_dict.values())


class MixedPrecisionTrainer(SimpleTrainer):
    def __init__(self, model, data_loader, optimizer, dtype=torch.bfloat16, **kwargs):
        super().__init__(model, data_loader, optimizer, **kwargs)
        self.dtype = dtype
        self.device_type = next(model.parameters()).device.type
        if dtype == torch.float16 and self.device_type == "cpu":
            raise ValueError("float16 autocast is for GPUs; use SOLVER.AMP.DTYPE 'bfloat16' on CPU")
        self.grad_scaler = torch.amp.GradScaler(self.device_type) if dtype == torch.float16 else None

    def run_step(self):
        assert self.model.training, "[MixedPrecisionTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start

        loss_dict, losses = autocast_losses(self.model, data, self.device_type, self.dtype)
        self.optimizer.zero_grad()
        if self.grad_scaler is not None:
            self.grad_scaler.scale(losses).backward()
        else:
            losses.backward()
        self.after_backward()
        self._write_metrics(loss_dict, data_time)
        if self.grad_scaler is not None:
            # Unscaled before step: the full-model clipping inside optimizer.step must see true
            # gradients, and a fused optimizer would otherwise unscale only after clipping.
            self.grad_scaler.unscale_(self.optimizer)
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

    def state_dict(self):
        ret = super().state_dict()
        if self.grad_scaler is not None:
            ret["grad_scaler"] = self.grad_scaler.state_dict()
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
