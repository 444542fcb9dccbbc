"""The experiment runner: the command it launches, finished runs read back instead of repeated, and
clear errors when a run leaves no usable results."""
import json
import subprocess
import sys

import pytest

from groupvit_d2.utils import experiments
from groupvit_d2.utils.experiments import Run, dataset_results, read_results, run, run_all


def _finish(folder, results):
    (folder / "inference").mkdir(parents=True)
    (folder / "inference" / "results.json").write_text(json.dumps(results))


def test_command_puts_output_dir_last():
    spec = Run("configs/x.yaml", "/out", ["SEED", "3"], eval_only=True)
    assert spec.command() == [sys.executable, experiments.TRAIN_NET, "--config-file", "configs/x.yaml", "--eval-only",
                              "SEED", "3", "OUTPUT_DIR", "/out"]


def test_finished_runs_are_read_back_not_repeated(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a finished run was launched again"))
    _finish(tmp_path / "a", {"voc21_val": {"sem_seg": {"mIoU": 12.5}}})
    _finish(tmp_path / "b", {"voc21_val": {"sem_seg": {"mIoU": 7.0}}})
    results = run_all([Run("c.yaml", str(tmp_path / "a")), Run("c.yaml", str(tmp_path / "b"))], jobs=2)
    assert [r["voc21_val"]["sem_seg"]["mIoU"] for r in results] == [12.5, 7.0]


def test_unfinished_run_is_launched_with_one_thread_when_several_run(tmp_path, monkeypatch):
    seen = []

    def fake_run(cmd, cwd, env, **kwargs):
        seen.append((cmd[-1], env.get("OMP_NUM_THREADS")))
        _finish(tmp_path / cmd[-1].rsplit("/", 1)[-1], {"d": {"sem_seg": {"mIoU": 1.0}}})
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    run_all([Run("c.yaml", str(tmp_path / "x")), Run("c.yaml", str(tmp_path / "y"))], jobs=2, echo=False)
    assert sorted(seen) == [(str(tmp_path / "x"), "1"), (str(tmp_path / "y"), "1")]


def test_failures_name_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(cmd, 3))
    with pytest.raises(RuntimeError, match=r"exit 3.*run.log"):
        run(Run("c.yaml", str(tmp_path / "r")), log_path=str(tmp_path / "run.log"), echo=False)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(cmd, 0))
    with pytest.raises(RuntimeError, match="has no inference/results.json"):
        run(Run("c.yaml", str(tmp_path / "r")), echo=False)


def test_dataset_results(tmp_path):
    assert read_results(tmp_path) is None and dataset_results(tmp_path) is None
    _finish(tmp_path, {"a": {"sem_seg": {"mIoU": 1.0}}, "b": {"sem_seg": {"mIoU": 2.0}}})
    assert dataset_results(tmp_path, "b") == {"sem_seg": {"mIoU": 2.0}}
    with pytest.raises(RuntimeError, match=r"expected exactly one dataset"):
        dataset_results(tmp_path)
    with pytest.raises(RuntimeError, match=r"no results for c \(has \['a', 'b'\]\)"):
        dataset_results(tmp_path, "c")


def test_a_finished_run_of_another_command_is_made_again(tmp_path, monkeypatch):
    launched = []

    def fake_run(cmd, cwd, env, **kwargs):
        launched.append(cmd)
        _finish_again(tmp_path / "demo", {"d": {"sem_seg": {"mIoU": float(cmd[cmd.index("SEED") + 1])}}})
        return subprocess.CompletedProcess(cmd, 0)

    def _finish_again(folder, results):
        (folder / "inference").mkdir(parents=True, exist_ok=True)
        (folder / "inference" / "results.json").write_text(json.dumps(results))

    monkeypatch.setattr(subprocess, "run", fake_run)
    out = str(tmp_path / "demo")
    assert run(Run("c.yaml", out, ["SEED", "0"]), echo=False)["d"]["sem_seg"]["mIoU"] == 0.0
    assert run(Run("c.yaml", out, ["SEED", "0"]), echo=False)["d"]["sem_seg"]["mIoU"] == 0.0
    assert len(launched) == 1  # the same command is read back
    assert run(Run("c.yaml", out, ["SEED", "1"]), echo=False)["d"]["sem_seg"]["mIoU"] == 1.0
    assert len(launched) == 2
    assert json.loads((tmp_path / "demo" / "run.json").read_text())["opts"] == ["SEED", "1"]
