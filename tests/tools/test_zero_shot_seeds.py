import importlib.util
import json
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("zero_shot_seeds", REPO / "tools" / "zero_shot_seeds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _finished_run(folder, miou, jaccard=None):
    (folder / "inference").mkdir(parents=True)
    final = {"sem_seg": {"mIoU": miou, "pACC": 50.0}}
    if jaccard is not None:
        final["bottom_up_grouping"] = {"Jaccard": jaccard}
    # What train_net.py writes after the evaluation of the run's one dataset.
    (folder / "inference" / "results.json").write_text(json.dumps({"synthetic_val": final}))


def test_table_from_finished_runs_without_rerunning(tmp_path):
    _finished_run(tmp_path / "pacl_synthetic_tiny" / "seed0", 10.0)
    _finished_run(tmp_path / "pacl_synthetic_tiny" / "seed1", 14.0)
    _finished_run(tmp_path / "clippy_synthetic_tiny" / "seed0", 20.0, jaccard=40.0)
    _finished_run(tmp_path / "clippy_synthetic_tiny" / "seed1", 20.0, jaccard=50.0)
    lines = _tool().main(["--configs", str(REPO / "configs" / "pacl" / "synthetic_tiny.yaml"),
                          str(REPO / "configs" / "clippy" / "synthetic_tiny.yaml"),
                          "--seeds", "0", "1", "--shards", "unused.tar", "--output", str(tmp_path)])
    # Sample standard deviations: (10, 14) -> 2 * sqrt(2); (40, 50) -> 5 * sqrt(2).
    assert lines[2] == "| pacl/synthetic_tiny | 0 1 | 10.00, 14.00 | 12.00 ± 2.83 | - |"
    assert lines[3] == "| clippy/synthetic_tiny | 0 1 | 20.00, 20.00 | 20.00 ± 0.00 | 45.00 ± 7.07 |"


def test_overrides_are_refused_as_configs_before_anything_runs(tmp_path, monkeypatch):
    tool = _tool()
    monkeypatch.setattr(tool, "_run", lambda *a: (_ for _ in ()).throw(AssertionError("ran")))
    config = str(REPO / "configs" / "pacl" / "synthetic_tiny.yaml")
    common = ["--shards", "unused.tar", "--output", str(tmp_path)]
    try:
        tool.main(["--configs", config, "TEST.JACCARD.ENABLED", "True"] + common)
    except SystemExit as e:
        assert "'TEST.JACCARD.ENABLED' is not a config file" in str(e) and "'--'" in str(e)
    else:
        raise AssertionError("an override taken for a config file was not refused")
    try:
        tool.main(["--configs", config] + common + ["--", "SOLVER.MAX_ITER"])
    except SystemExit as e:
        assert "KEY VALUE pairs" in str(e)
    else:
        raise AssertionError("an odd override list was not refused")


def test_overrides_after_double_dash_reach_every_run(tmp_path, monkeypatch):
    tool = _tool()
    seen = []
    monkeypatch.setattr(tool, "_run", lambda config, seed, shards, output, opts: seen.append(opts) or
                        {"sem_seg": {"mIoU": 1.0}})
    tool.main(["--configs", str(REPO / "configs" / "pacl" / "synthetic_tiny.yaml"), "--seeds", "0", "1",
               "--shards", "unused.tar", "--output", str(tmp_path), "--", "TEST.JACCARD.ENABLED", "True"])
    assert seen == [["TEST.JACCARD.ENABLED", "True"]] * 2
