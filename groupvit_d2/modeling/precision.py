"""Leaving reduced-precision autocast: the parts whose rounding would flip argmax decisions."""
import dataclasses

import torch


def at_least_float32(x):
    """x with every floating-point tensor in it (also inside dicts, lists and dataclasses such as
    GroupViTVisionOutput) in at least float32; float32 tensors and anything else (None included)
    are returned as they are."""
    if torch.is_tensor(x):
        return x.to(torch.promote_types(x.dtype, torch.float32)) if x.is_floating_point() else x
    if isinstance(x, dict):
        return {k: at_least_float32(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(at_least_float32(v) for v in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.replace(x, **{f.name: at_least_float32(getattr(x, f.name))
                                         for f in dataclasses.fields(x) if f.init})
    return x
