"""Checkpoint saves are atomic; a missing, unsafe or unreadable checkpoint gets a named error."""
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from groupvit_d2.checkpoint import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    GroupViTCheckpointer,
    UnsafeCheckpointError,
    load_torch_file,
)
from groupvit_d2.checkpoint.atomic import is_intact_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _model():
    # Keys under "backbone." are what GroupViTCheckpointer recognises as its own format.
    return torch.nn.ModuleDict({"backbone": torch.nn.Linear(64, 64)})


def _checkpointer(folder, seed=0):
    torch.manual_seed(seed)
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, GroupViTCheckpointer(model, str(folder), optimizer=optimizer)


def _last(folder):
    return (folder / "last_checkpoint").read_text().strip()


def test_save_renames_a_complete_file_then_tags_it(tmp_path):
    model, ckpt = _checkpointer(tmp_path)
    ckpt.save("model_0000009", iteration=9)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]
    assert _last(tmp_path) == "model_0000009.pth"
    assert is_intact_checkpoint(tmp_path / "model_0000009.pth")
    assert torch.equal(load_torch_file(str(tmp_path / "model_0000009.pth"))["model"]["backbone.weight"], model.backbone.weight)


def test_kill_during_a_save_leaves_the_previous_checkpoint_named(tmp_path):
    _, ckpt = _checkpointer(tmp_path)
    ckpt.save("model_0000004", iteration=4)
    before = (tmp_path / "model_0000004.pth").read_bytes()
    # A second process starts the next save and is killed (SIGKILL) half-way through writing it.
    script = textwrap.dedent(f"""
        import os, signal, sys, torch
        sys.path.insert(0, {ROOT!r})
        from groupvit_d2.checkpoint import GroupViTCheckpointer
        real_save = torch.save
        def dying_save(data, f):
            real_save(data, f)
            f.flush()
            f.truncate(f.tell() // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
        model = torch.nn.ModuleDict({{"backbone": torch.nn.Linear(64, 64)}})
        GroupViTCheckpointer(model, {str(tmp_path)!r}).save("model_0000009", iteration=9)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert _last(tmp_path) == "model_0000004.pth"
    assert not (tmp_path / "model_0000009.pth").exists()
    assert (tmp_path / "model_0000004.pth").read_bytes() == before
    partial = [f for f in os.listdir(tmp_path) if f.endswith(".partial")]
    assert len(partial) == 1

    # Resuming reads the intact checkpoint and clears the partial file away.
    _, resumed = _checkpointer(tmp_path, seed=1)
    assert resumed.resume_or_load("", resume=True)["iteration"] == 4
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".partial")]


def test_unreadable_last_checkpoint_names_the_intact_one_and_how_to_resume(tmp_path):
    _, ckpt = _checkpointer(tmp_path)
    ckpt.save("model_0000004", iteration=4)
    ckpt.save("model_0000009", iteration=9)
    ckpt.save("model_0000014", iteration=14)
    # Damage the last two (e.g. a disk fault, a partial copy of the output folder).
    for name in ("model_0000009.pth", "model_0000014.pth"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 3])

    _, resumed = _checkpointer(tmp_path, seed=1)
    with pytest.raises(CheckpointFormatError) as info:
        resumed.resume_or_load("", resume=True)
    message = str(info.value)
    assert "model_0000014.pth" in message and "truncated or corrupt" in message
    assert f"The latest intact checkpoint is {tmp_path / 'model_0000004.pth'}" in message
    assert f"echo model_0000004.pth > {tmp_path / 'last_checkpoint'}" in message

    # Following the advice resumes from it.
    (tmp_path / "last_checkpoint").write_text("model_0000004.pth")
    assert resumed.resume_or_load("", resume=True)["iteration"] == 4


def test_missing_checkpoint_is_named(tmp_path):
    _, ckpt = _checkpointer(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match="nowhere.pth not found"):
        ckpt.load(str(tmp_path / "nowhere.pth"))
    (tmp_path / "last_checkpoint").write_text("model_gone.pth")
    with pytest.raises(CheckpointNotFoundError, match="(?s)model_gone.pth not found.*No other intact checkpoint"):
        ckpt.resume_or_load("", resume=True)


class _RunsShell:
    def __reduce__(self):
        return (os.system, ("touch code_ran.marker",))


def _no_torch_advice(message):
    return "weights_only" not in message and "trusted source" not in message


@pytest.mark.parametrize("layout", ["plain_pickle", "legacy_torch"])
def test_unsafe_plain_pickle_and_legacy_payloads_are_named_unsafe(tmp_path, layout, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "payload.pth"
    payload = {"model": {"weight": torch.zeros(2)}, "extra": _RunsShell()}
    if layout == "plain_pickle":
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError, match="system") as info:
        load_torch_file(str(path))
    assert str(path) in str(info.value) and "truncated" not in str(info.value)
    assert _no_torch_advice(str(info.value))
    assert not (tmp_path / "code_ran.marker").exists()


def test_plain_pickle_of_data_is_refused_by_name_without_torch_advice(tmp_path):
    path = tmp_path / "weights.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {"weight": [1.0, 2.0]}}, f)
    with pytest.raises(CheckpointFormatError, match="plain Python pickle") as info:
        load_torch_file(str(path))
    assert _no_torch_advice(str(info.value))
