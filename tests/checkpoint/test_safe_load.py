"""Reading checkpoint files never runs code stored in them."""
import builtins
import os

import numpy as np
import pytest
import torch

from groupvit_d2.checkpoint import CheckpointFormatError, UnsafeCheckpointError, load_torch_file

MARKER = "code_ran.marker"


class ExperimentConfig:
    """Stands for OmegaConf's DictConfig: a class on no allow-list, with code of its own that a
    normal unpickler would run (__setstate__) but that must not run here."""

    def __init__(self, **entries):
        self.entries = entries
        self.marker = None

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        with open(state["marker"], "w") as f:
            f.write("__setstate__ ran")
        self.__dict__.update(state)


class RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsPython:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('exec ran')",))


def _weights():
    return {"img_encoder.pos_embed": torch.randn(1, 4, 8), "logit_scale": torch.tensor(2.6592)}


def test_plain_state_dict(tmp_path):
    path = str(tmp_path / "w.pth")
    sd = _weights()
    torch.save(sd, path)
    out = load_torch_file(path)
    assert set(out) == set(sd) and all(torch.equal(out[k], sd[k]) for k in sd)


def test_config_of_a_class_off_the_allow_list_becomes_inert(tmp_path):
    marker = str(tmp_path / MARKER)
    cfg = ExperimentConfig(depths=[6, 3, 3], lr=1.6e-3)
    cfg.marker = marker
    path = str(tmp_path / "official.pth")
    sd = _weights()
    torch.save({"model": sd, "config": cfg, "epoch": 30, "max_metrics": {"max_accuracy": 43.7}}, path)
    out = load_torch_file(path)
    assert not os.path.exists(marker), "the class's own __setstate__ ran"
    assert all(torch.equal(out["model"][k], sd[k]) for k in sd)
    assert out["epoch"] == 30 and out["max_metrics"] == {"max_accuracy": 43.7}
    config = out["config"]
    assert not isinstance(config, ExperimentConfig)
    assert type(config).__name__ == "ExperimentConfig" and "inert stand-in" in repr(config)
    assert config.pickled_state["entries"] == {"depths": [6, 3, 3], "lr": 1.6e-3}


def test_real_omegaconf_config_is_read_inertly(tmp_path):
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create({"model": {"img_encoder": {"depths": [6, 3, 3]}, "x": 1.5}, "y": "${model.x}"})
    path = str(tmp_path / "official.pth")
    torch.save({"model": _weights(), "config": cfg}, path)
    out = load_torch_file(path)
    assert not isinstance(out["config"], omegaconf.DictConfig)
    assert type(out["config"])._global_name == "omegaconf.dictconfig.DictConfig"


def test_numpy_metrics_are_read_as_inert_records(tmp_path):
    path = str(tmp_path / "m.pth")
    torch.save({"model": _weights(), "max_metrics": {"miou": np.float64(52.3), "hist": np.arange(3)}}, path)
    out = load_torch_file(path)
    assert set(out["max_metrics"]) == {"miou", "hist"}
    assert "inert stand-in" in repr(out["max_metrics"]["miou"])


@pytest.mark.parametrize("payload, name", [(RunsShell, "system"), (RunsPython, "builtins.exec")])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, payload, name):
    marker = str(tmp_path / MARKER)
    path = str(tmp_path / "evil.pth")
    torch.save({"model": _weights(), "config": payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_torch_file(path)
    message = str(info.value)
    assert path in message and name in message and "weights_only=False" not in message
    assert not os.path.exists(marker)


def test_code_hidden_in_the_state_dict_is_refused_too(tmp_path):
    marker = str(tmp_path / MARKER)
    path = str(tmp_path / "evil.pth")
    torch.save({"model": {"logit_scale": RunsPython(marker)}}, path)
    with pytest.raises(UnsafeCheckpointError, match="builtins.exec"):
        load_torch_file(path)
    assert not os.path.exists(marker)


def test_truncated_file(tmp_path):
    path = tmp_path / "model_final.pth"
    torch.save({"model": {"w": torch.randn(256, 256)}}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match=r"model_final\.pth.*truncated or corrupt"):
        load_torch_file(str(path))


@pytest.mark.parametrize("content, match", [(b"", "empty"), (b"MODEL:\n  WEIGHTS: x\n", "truncated or corrupt")])
def test_empty_or_foreign_file(tmp_path, content, match):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointFormatError, match=match):
        load_torch_file(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointFormatError, match="does not exist"):
        load_torch_file(str(tmp_path / "nope.pth"))
