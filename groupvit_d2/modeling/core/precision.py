"""Reduced precision at inference: choosing it (MODEL.PRECISION) where the device runs it natively, and
leaving autocast for the parts whose rounding would flip argmax decisions."""
import contextlib
import dataclasses
import logging

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


# MODEL.PRECISION values: what zero-shot inference runs its image encoder in.
PRECISIONS = ("fp32", "bf16", "auto")
# CPU flags (as /proc/cpuinfo names them) of bf16 matrix-product hardware. Without one of them a
# CPU widens bf16 operands and multiplies in fp32 through slower kernels (an AVX2-only EPYC ran
# bf16 products at a seventh of fp32's speed), so bf16 can only lose there.
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

_logger = logging.getLogger(__name__)
_logged_choices = set()


def read_cpu_flags(path="/proc/cpuinfo"):
    """The set of CPU feature flags of the first processor in `path` (empty where unreadable,
    e.g. on a system without /proc)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device):
    """(runs bf16 natively, reason): a CUDA device whose compute capability has bf16, or a CPU
    whose flags include AVX512-BF16 or AMX-BF16."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False, "CUDA is not available"
        index = device.index if device.index is not None else torch.cuda.current_device()
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, f"CUDA device {torch.cuda.get_device_name(index)} supports bf16"
        return False, f"CUDA device {torch.cuda.get_device_name(index)} has no native bf16"
    if device.type == "cpu":
        have = sorted(set(NATIVE_BF16_CPU_FLAGS) & read_cpu_flags())
        if have:
            return True, f"CPU flags {', '.join(have)}"
        return False, f"no CPU flag among {', '.join(NATIVE_BF16_CPU_FLAGS)}"
    return False, f"device type {device.type!r} is not known to run bf16 natively"


def resolve_precision(precision, device):
    """The dtype MODEL.PRECISION stands for on `device`: torch.float32 or torch.bfloat16.

    "fp32" and "bf16" are taken as they are (bf16 without hardware support is allowed, with a
    warning: it is slower there); "auto" is bf16 only where `native_bf16(device)` holds. Each
    (precision, device) choice is logged once.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"MODEL.PRECISION must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp32":
        return torch.float32
    native, reason = native_bf16(device)
    dtype = torch.bfloat16 if (precision == "bf16" or native) else torch.float32
    key = (precision, str(device), dtype)
    if key not in _logged_choices:
        _logged_choices.add(key)
        if precision == "bf16" and not native:
            _logger.warning(f"MODEL.PRECISION bf16 on {device}: {reason}, so bf16 runs slower than fp32 here")
        else:
            _logger.info(f"MODEL.PRECISION {precision} on {device}: {'bf16' if dtype == torch.bfloat16 else 'fp32'} "
                         f"({reason})")
    return dtype


def inference_autocast(dtype, device):
    """torch.autocast for a reduced `dtype` on `device`'s type. For float32 nothing is entered, so a
    caller's own autocast still applies."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


class InferenceWeightCopies:
    """Reduced-precision copies of the weights of a module's Linear layers, cast once and kept
    across calls, for inference under autocast.

    Autocast casts each fp32 weight again in every autocast region it is entered for (its cache
    ends with the region): 17 of the 511 ms of the released encoder's bf16 call (8 x 224, one
    thread, AVX512-BF16). `get(name, module)` returns {parameter name: copy} for
    `torch.func.functional_call`; the copies are made again whenever a weight is replaced or
    changed in place (its storage or version counter), and `clear()` drops them. They are not
    parameters or buffers of any module: the state dict, the optimizer and training keep the fp32
    weights.
    """

    def __init__(self, dtype=torch.bfloat16):
        self.dtype = dtype
        self._copies = {}  # the caller's name of a module -> (key, {parameter name: copy})

    @staticmethod
    def linear_parameters(module):
        return [(f"{prefix}.{name}" if prefix else name, p)
                for prefix, m in module.named_modules() if isinstance(m, torch.nn.Linear)
                for name, p in m.named_parameters(recurse=False)]

    def get(self, name, module, prefix=""):
        """{prefix + parameter name within `module`: copy} of its Linear layers' weights and
        biases; `name` is the caller's name of `module`, which the copies are kept under."""
        named = self.linear_parameters(module)
        key = tuple((n, p.data_ptr(), p._version, p.dtype, p.device) for n, p in named)
        entry = self._copies.get(name)
        if entry is None or entry[0] != key:
            with torch.no_grad():
                entry = (key, {n: p.detach().to(self.dtype) for n, p in named})
            self._copies[name] = entry
        return {prefix + n: w for n, w in entry[1].items()}

    def clear(self):
        self._copies.clear()

    def __len__(self):
        return len(self._copies)
