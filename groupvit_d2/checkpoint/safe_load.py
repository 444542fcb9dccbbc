"""Reading checkpoint files without running code from them.

How each file is read:

* ``*.safetensors``: with safetensors, a format that holds tensors and nothing else.
* Anything else: ``torch.load(weights_only=True)``, PyTorch's restricted unpickler. It rebuilds
  tensors and plain containers and refuses every other global.
* The official GroupViT release files also contain a pickled OmegaConf config. Their training
  metrics may also contain numpy scalars. ``weights_only`` refuses both, so such a file is read a
  second time by the same restricted unpickler. This time, each global the file names is resolved
  as below. The names are listed statically with
  ``torch.serialization.get_unsafe_globals_in_checkpoint``; the file is not executed and nothing
  is imported.

  - Names from ``os``, ``sys``, ``posix``, ``nt`` (which PyTorch blocks) and ``subprocess`` are
    refused before the second read.
  - Builtins that only build data (``dict``, ``list``, ``tuple``, ``set``, ``frozenset``, ``int``,
    ``float``, ``complex``, ``bool``, ``str``) are themselves.
  - ``collections.defaultdict`` (inside OmegaConf's metadata) becomes a function that returns an
    empty plain dict. Its factory is dropped and never called.
  - numpy's scalar, array and dtype reconstructors become functions that return an inert record
    of their arguments. numpy never runs on the file's data.
  - Every other name (``omegaconf.dictconfig.DictConfig``, ``typing.Any``, a test's own class,
    ...) becomes an inert stand-in class made here. The unpickler may create an empty instance of
    it (NEWOBJ) and store the pickled state in that instance (BUILD). Neither step runs code
    from the named module. Calling the stand-in (REDUCE) raises UnsafeCheckpointError. A pickle
    runs a function such as ``os.system`` or ``builtins.exec`` exactly that way.

  Stand-ins and records only survive inside entries that the converters drop (the official
  ``"config"``). Every state dict handed on is checked to hold tensors only
  (`check_state_dict`).

Files in PyTorch's legacy (pre-1.6) format and plain Python pickles are not read when torch's
restricted reader refuses them. The globals they name are listed statically (``pickletools``); if
any does more than rebuild tensors and plain data, the file is reported as unsafe
(UnsafeCheckpointError). No message passes on torch's advice to load with ``weights_only=False``.

Truncated, corrupt or foreign files raise CheckpointFormatError, which names the file.
"""
import collections
import logging
import os
import pickle
import zipfile

import torch

from .errors import CheckpointFormatError, UnsafeCheckpointError

logger = logging.getLogger(__name__)

__all__ = ["load_torch_file", "load_safetensors_file", "check_state_dict"]

# torch's weights-only unpickler refuses the first four outright; named here for a clear error.
_BLOCKED_MODULES = ("os", "sys", "posix", "nt", "subprocess")

_DATA_BUILTINS = {
    f"builtins.{t.__name__}": t
    for t in (dict, list, tuple, set, frozenset, int, float, complex, bool, str)
}

_INERT_RECORD_NAMES = (
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.dtype",
)


class _StandInType(type):
    """Metaclass of the stand-ins: instantiating one by a call is what a code-running pickle does."""

    def __call__(cls, *args, **kwargs):
        shown = ", ".join(repr(a)[:80] for a in args)
        raise UnsafeCheckpointError(
            f"the pickle calls {cls._global_name}({shown}); a checkpoint that runs code while being read "
            "is refused"
        )


class _StandIn(metaclass=_StandInType):
    """An inert object in place of an instance of a class the file names (never imported)."""

    _global_name = "?"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __setstate__(self, state):
        self.__dict__["pickled_state"] = state

    def __repr__(self):
        return f"<inert stand-in for {self._global_name}>"


class _InertRecord(_StandIn):
    """What a numpy reconstructor call becomes: its name and arguments, nothing evaluated."""


def _stand_in(name):
    return _StandInType(name.rsplit(".", 1)[-1], (_StandIn,), {"_global_name": name})


def _record_maker(name):
    def make(*args):
        record = object.__new__(_InertRecord)
        record.__dict__.update(_global_name=name, args=args)
        return record

    return make


def _resolve(names):
    """(object, name) pairs for torch.serialization.safe_globals."""
    resolved = [(_InertRecord, f"{__name__}._InertRecord")]
    for name in sorted(names):
        if name in _DATA_BUILTINS:
            obj = _DATA_BUILTINS[name]
        elif name == "collections.defaultdict":
            obj = _empty_dict
        elif name in _INERT_RECORD_NAMES:
            obj = _record_maker(name)
        else:
            obj = _stand_in(name)
        resolved.append((obj, name))
    return resolved


def _empty_dict(*args, **kwargs):
    return {}


def _corrupt(path, err):
    return CheckpointFormatError(
        f"Cannot read checkpoint {path}: the file is truncated or corrupt, or not a PyTorch checkpoint "
        f"({type(err).__name__}: {_first_line(err)})"
    )


def _first_line(err):
    text = str(err)
    # torch wraps refusals in advice to load with weights_only=False, which must not be followed.
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    # ... and in advice to allow-list the global, which is not ours to give either.
    text = text.split(" Please use `torch.serialization", 1)[0].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _is_torch_advice(line)]
    return lines[0] if lines else ""


def _is_torch_advice(line):
    lowered = line.lower()
    return any(word in lowered for word in ("weights_only", "safe_globals", "trusted source", "torch.load"))


# torch.save's pre-1.6 format: a pickled magic number, then protocol, system info and the payload.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# Globals that only rebuild tensors and plain data in a legacy torch file or a plain pickle.
_DATA_GLOBAL_PREFIXES = ("torch._utils._rebuild", "torch._tensor._rebuild", "torch.serialization._get_layout")
_DATA_GLOBAL_NAMES = {"collections.OrderedDict", "torch.Size", "torch.device"} | set(_DATA_BUILTINS)


def _is_data_global(name):
    return (name in _DATA_GLOBAL_NAMES or name.startswith(_DATA_GLOBAL_PREFIXES)
            or (name.startswith("torch.") and name.endswith("Storage")))


def _scan_pickles(path, max_pickles):
    """(is_legacy, globals named) of the first pickles of a non-zip file, read statically.

    pickletools only decodes opcodes: nothing is imported or called. None when the bytes are not
    a pickle stream.
    """
    import pickletools

    names, legacy = set(), False
    with open(path, "rb") as f:
        for index in range(max_pickles):
            strings, memo = [], {}
            try:
                for op, arg, _ in pickletools.genops(f):
                    if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8",
                                   "SHORT_BINSTRING", "BINSTRING", "STRING"):
                        strings.append(str(arg))
                    elif op.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                        memo[arg] = strings[-1]
                    elif op.name == "MEMOIZE" and strings:
                        memo[len(memo)] = strings[-1]
                    elif op.name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
                        strings.append(memo[arg])
                    elif op.name in ("GLOBAL", "INST"):
                        names.add(str(arg).replace(" ", "."))
                    elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                        names.add(f"{strings[-2]}.{strings[-1]}")
                    elif index == 0 and op.name in ("LONG1", "LONG4") and arg == _LEGACY_MAGIC:
                        legacy = True
            except Exception:  # noqa: BLE001  (not, or no longer, a pickle stream)
                if index == 0:
                    return None
                break
            if index == 0 and not legacy:
                break
    return legacy, names


def _refuse_non_zip(path, first_error):
    """The error for a legacy-format file or a plain pickle that torch's restricted reader refused."""
    scanned = _scan_pickles(path, max_pickles=4)
    if scanned is None:
        return _corrupt(path, first_error)
    legacy, names = scanned
    kind = "is in PyTorch's legacy (pre-1.6) format" if legacy else "is a plain Python pickle (not torch.save's format)"
    code = sorted(n for n in names if not _is_data_global(n))
    if code:
        return UnsafeCheckpointError(
            f"Refusing to read checkpoint {path}: it {kind} and its pickle names {', '.join(code)}, "
            "which would be imported and called while it is read. A checkpoint that runs code is unsafe; "
            "use a file that holds tensors only (.pth written by a current torch.save, or .safetensors)."
        )
    return CheckpointFormatError(
        f"Cannot read checkpoint {path}: it {kind}, a format that can run code while being read and is "
        f"therefore not read ({_first_line(first_error) or 'refused by the restricted reader'}). Use a file "
        "written by a current torch.save, or .safetensors."
    )


def load_torch_file(path):
    """Read a file written by torch.save without running code from it (see the module docstring).

    Returns whatever the file holds (usually a dict). Raises CheckpointFormatError for a missing,
    empty, truncated or corrupt file and UnsafeCheckpointError for a pickle that would run code.
    """
    if not os.path.isfile(path):
        raise CheckpointFormatError(f"Checkpoint {path} does not exist or is not a file")
    if os.path.getsize(path) == 0:
        raise CheckpointFormatError(f"Cannot read checkpoint {path}: the file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_error = err
    except Exception as err:  # zip reader errors, EOFError, ...: the bytes are damaged
        raise _corrupt(path, err) from err

    if not zipfile.is_zipfile(path):
        raise _refuse_non_zip(path, first_error)
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as err:
        raise _corrupt(path, first_error) from err
    if not names:
        raise _corrupt(path, first_error)
    blocked = sorted(n for n in names if n.split(".", 1)[0] in _BLOCKED_MODULES)
    if blocked:
        raise UnsafeCheckpointError(
            f"Refusing to read checkpoint {path}: its pickle references {', '.join(blocked)}, which only "
            "a file that runs code while being read needs"
        )
    logger.info("Reading %s with inert stand-ins for %s", path, ", ".join(sorted(names)))
    try:
        with torch.serialization.safe_globals(_resolve(names)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f"Refusing to read checkpoint {path}: {err}") from None
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"Refusing to read checkpoint {path}: its pickle does more than rebuild data ({_first_line(err)})"
        ) from None
    except Exception as err:
        raise _corrupt(path, err) from err


def load_safetensors_file(path):
    """Read a .safetensors file into a {name: tensor} dict (CPU)."""
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError as err:
        raise ImportError(f"Reading {path} needs the safetensors package: pip install safetensors") from err
    if not os.path.isfile(path):
        raise CheckpointFormatError(f"Checkpoint {path} does not exist or is not a file")
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise _corrupt(path, err) from err


def check_state_dict(state_dict, path, what="state dict"):
    """Raise CheckpointFormatError unless `state_dict` maps str keys to tensors only."""
    if not isinstance(state_dict, collections.abc.Mapping):
        raise CheckpointFormatError(f"{path}: the {what} is a {type(state_dict).__name__}, expected a dict of tensors")
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointFormatError(
                f"{path}: the {what} entry {key!r} is a {type(value).__name__}, expected a tensor"
            )
