from dataclasses import dataclass, field

import torch

from groupvit_d2.modeling.precision import at_least_float32


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
