import logging
from dataclasses import dataclass, field

import pytest
import torch

from groupvit_d2.modeling.core import precision as precision_module
from groupvit_d2.modeling.core import at_least_float32, native_bf16, resolve_precision
from groupvit_d2.modeling.core.precision import read_cpu_flags


@dataclass
class _Output:
    tokens: torch.Tensor
    maps: list = field(default_factory=list)
    derived: int = field(default=0, init=False)


def test_reduced_precision_floats_are_widened_and_the_rest_is_kept():
    bf16 = torch.randn(3, 4).bfloat16()
    fp64 = torch.randn(2, dtype=torch.float64)
    ints = torch.arange(5)
    out = at_least_float32({"a": bf16, "b": [fp64, (ints, None)], "c": "name"})
    assert out["a"].dtype == torch.float32 and torch.equal(out["a"], bf16.float())
    assert out["b"][0].dtype == torch.float64 and out["b"][0] is fp64
    assert isinstance(out["b"][1], tuple) and out["b"][1][0] is ints and out["b"][1][1] is None
    assert out["c"] == "name"
    assert at_least_float32(None) is None


def test_dataclasses_are_rebuilt_with_widened_fields():
    fp16 = torch.randn(2, 3).half()
    vision = _Output(tokens=fp16, maps=[fp16.clone()])
    out = at_least_float32(vision)
    assert isinstance(out, _Output) and out is not vision
    assert out.tokens.dtype == torch.float32 and out.maps[0].dtype == torch.float32
    assert vision.tokens.dtype == torch.float16  # the input is left as it was


# --- MODEL.PRECISION -----------------------------------------------------------------------------
AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
AVX512_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
AMX = "processor\t: 0\nflags\t\t: fpu avx2 amx_tile amx_bf16\n"


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(f"{record.levelname} {record.getMessage()}")

    @property
    def text(self):
        return "\n".join(self.messages)


@pytest.fixture
def precision_log(monkeypatch):
    """The precision logger's records, whatever handlers and propagation other tests (Detectron2's
    setup_logger) gave the package's loggers."""
    records = _Records()
    logger = precision_module._logger
    monkeypatch.setattr(logger, "level", logging.DEBUG)
    monkeypatch.setattr(logger, "disabled", False)
    logger.addHandler(records)
    yield records
    logger.removeHandler(records)


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Point the flags reader at a written cpuinfo file; forget the choices logged so far."""
    monkeypatch.setattr(precision_module, "_logged_choices", set())

    def use(text):
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        monkeypatch.setattr(precision_module, "read_cpu_flags", lambda path=str(path): read_cpu_flags(path))

    return use


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(AVX512_BF16)
    assert {"avx512f", "avx512_bf16"} <= read_cpu_flags(str(path))
    assert read_cpu_flags(str(tmp_path / "missing")) == set()


def test_auto_is_fp32_without_native_bf16(cpuinfo, precision_log):
    cpuinfo(AVX2_ONLY)
    assert native_bf16("cpu")[0] is False
    assert resolve_precision("auto", "cpu") == torch.float32
    assert "fp32" in precision_log.text and "avx512_bf16" in precision_log.text
    assert resolve_precision("fp32", "cpu") == torch.float32


@pytest.mark.parametrize("text,flag", [(AVX512_BF16, "avx512_bf16"), (AMX, "amx_bf16")])
def test_auto_is_bf16_with_native_bf16(cpuinfo, precision_log, text, flag):
    cpuinfo(text)
    assert resolve_precision("auto", "cpu") == torch.bfloat16
    assert flag in precision_log.text and "bf16" in precision_log.text


def test_explicit_bf16_without_hardware_warns(cpuinfo, precision_log):
    cpuinfo(AVX2_ONLY)
    assert resolve_precision("bf16", "cpu") == torch.bfloat16
    assert "slower" in precision_log.text


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="MODEL.PRECISION.*'half'"):
        resolve_precision("half", "cpu")


def test_model_runs_zero_shot_under_the_chosen_precision(tiny_cfg, cpuinfo, monkeypatch):
    from detectron2.modeling import build_model

    seen = []
    tiny_cfg.MODEL.PRECISION = "auto"
    model = build_model(tiny_cfg).eval()
    monkeypatch.setattr(model.backbone, "encode", _recording(model.backbone.encode, seen))
    sample = {"image": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8), "class_names": ["ball", "box"]}
    cpuinfo(AVX2_ONLY)
    model([sample])
    cpuinfo(AVX512_BF16)
    out = model([sample])[0]["sem_seg"]
    assert seen == [False, True]
    assert out.dtype == torch.float32 and out.shape == (2, 64, 64)


def _recording(encode, seen):
    def wrapped(x):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return encode(x)

    return wrapped


def test_unknown_precision_in_the_config_is_refused_at_build(tiny_cfg):
    from detectron2.modeling import build_model

    tiny_cfg.MODEL.PRECISION = "fp16"
    with pytest.raises(ValueError, match="MODEL.PRECISION must be one of .*'fp16'"):
        build_model(tiny_cfg)


# --- Inference weight copies ------------------------------------------------------------------------
def test_weight_copies_are_cast_once_and_follow_the_weights():
    from groupvit_d2.modeling.core import InferenceWeightCopies

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.LayerNorm(6), torch.nn.Linear(6, 2, bias=False))
    state = {k: v.clone() for k, v in module.state_dict().items()}
    copies = InferenceWeightCopies(torch.bfloat16)
    first = copies.get("m", module, prefix="m.")
    # Only the Linear layers' tensors, under their names in the caller's module, in bf16.
    assert sorted(first) == ["m.0.bias", "m.0.weight", "m.2.weight"]
    assert all(t.dtype == torch.bfloat16 for t in first.values())
    assert torch.equal(first["m.0.weight"], module[0].weight.detach().bfloat16())
    # A second call reuses the copies.
    assert all(copies.get("m", module, prefix="m.")[k] is first[k] for k in first)
    # An optimizer step changes the weights in place: new copies.
    module(torch.randn(3, 4)).sum().backward()
    torch.optim.SGD(module.parameters(), lr=0.5).step()
    moved = copies.get("m", module, prefix="m.")
    assert moved["m.0.weight"] is not first["m.0.weight"]
    assert torch.equal(moved["m.0.weight"], module[0].weight.detach().bfloat16())
    # Loading weights also copies in place.
    module.load_state_dict(state)
    assert torch.equal(copies.get("m", module)["0.weight"], state["0.weight"].bfloat16())
    # The module itself is untouched: fp32 parameters, the same state-dict keys.
    assert all(v.dtype == torch.float32 for v in module.state_dict().values())
    assert list(module.state_dict()) == list(state)
    copies.clear()
    assert len(copies) == 0
