"""The ablation regeneration (tools/run_ablations.py), one seed and a few iterations a run: every
table's runs train and evaluate through train_net.py, and the page, plots and pictures are written."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from groupvit_d2.data.synthetic import generate_synthetic_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("run_ablations", os.path.join(REPO, "tools", "run_ablations.py"))
run_ablations = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_ablations)

SMALL = ["MODEL.GROUPVIT.IMAGE_SIZE", "32", "INPUT.IMAGE_TEXT.CROP_SIZE", "32", "INPUT.MIN_SIZE_TEST", "32",
         "TEST.SLIDING_WINDOW.CROP_SIZE", "32", "TEST.SLIDING_WINDOW.STRIDE", "16", "MODEL.DEVICE", "cpu"]


def test_mean_std_and_errors():
    assert run_ablations.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert run_ablations.mean_std([4.0]) == (4.0, 0.0)
    with pytest.raises(ValueError):
        run_ablations.mean_std([])


def test_paired_difference_matches_the_t_table_and_skips_missing_runs():
    # differences 2, 3, 4 (seed 3 did not run on one side): mean 3, sd 1, t(0.975, 2) = 4.302653
    mean, low, high, n = run_ablations.paired_difference([3.0, 5.0, 7.0, None], [1.0, 2.0, 3.0, 9.0])
    half = 4.302652729749464 / 3 ** 0.5
    assert n == 3 and mean == pytest.approx(3.0)
    assert (low, high) == (pytest.approx(3.0 - half), pytest.approx(3.0 + half))
    mean, low, high, n = run_ablations.paired_difference([3.0], [1.0])
    assert (mean, n) == (2.0, 1) and low != low and high != high  # nan: no interval from one pair
    with pytest.raises(ValueError, match="one value a seed"):
        run_ablations.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no pairs"):
        run_ablations.paired_difference([None], [1.0])


def test_page_section_is_replaced_not_duplicated(tmp_path):
    page = tmp_path / "RESULTS.md"
    page.write_text("# Results\n\nkept above\n")
    run_ablations.write_page(str(page), "first")
    page.write_text(page.read_text() + "\nkept below\n")
    run_ablations.write_page(str(page), "second")
    text = page.read_text()
    assert "kept above" in text and "kept below" in text and "second" in text and "first" not in text
    assert text.count(run_ablations.BEGIN) == 1


def _smoke(tmp_path, tables, opts, write_train_seg=False):
    """The page's text after a smoke regeneration of `tables`; every row's run is checked."""
    root = tmp_path / "datasets"
    meta = generate_synthetic_dataset(str(root / "synthetic"), seed=0, num_train=8, num_val=2, image_size=32,
                                      max_image_size=40, shard_size=8, write_train_seg=write_train_seg)
    assert meta["num_val"] == 2
    page = tmp_path / "docs" / "RESULTS.md"
    env = dict(os.environ, DETECTRON2_DATASETS=str(root), OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, os.path.join(REPO, "tools", "run_ablations.py"), "--smoke", "--jobs", "2",
                    "--tables"] + tables + ["--output", str(tmp_path / "runs"), "--page", str(page), "--pictures", "1"]
                   + opts, check=True, env=env, cwd=REPO, timeout=1800)
    text = page.read_text()
    for table in run_ablations.TABLES:
        if table.key not in tables:
            assert table.title not in text
            continue
        assert table.title in text
        assert (tmp_path / "docs" / "results" / f"ablation_{table.key}.png").stat().st_size > 0
        for row in table.rows:
            out = tmp_path / "runs" / row.config / "seed0"
            if row.grouping:
                out = out / f"eval_{row.grouping}"
            with open(out / "inference" / "results.json") as f:
                assert 0.0 <= json.load(f)["synthetic_val"]["sem_seg"]["mIoU"] <= 100.0
        # The same validation images for each row, and each row compared with the reference row.
        assert (tmp_path / "docs" / "results" / f"ablation_{table.key}_groups.png").stat().st_size > 0
        section = text.split(f"### {table.title}")[1].split("###")[0]
        assert section.count("| reference |") == sum(
            (r.config, r.grouping) == table.reference for r in table.rows) == 1
        assert "(1 seed)" in section
    return text


def test_smoke_regeneration_of_the_paper_tables(tmp_path):
    text = _smoke(tmp_path, ["table1", "table2", "table3", "table4", "thesis_scratch"], SMALL)
    assert (tmp_path / "docs" / "results" / "ablation_groups.png").is_file()
    # Table 3 reports the boundary IoU of both models.
    table3 = text.split("### Table 3")[1].split("###")[0]
    rows = [line for line in table3.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2 and all(row.count("±") == 2 for row in rows)


def test_smoke_regeneration_of_the_fine_tunes_and_the_other_systems(tmp_path):
    # At the configs' own sizes: PACL's and CLIPpy's towers are built for their crops.
    _smoke(tmp_path, ["thesis_finetune", "systems"], ["MODEL.DEVICE", "cpu"], write_train_seg=True)
    # The fine-tunes and the supervised head start from the main job's run of the same seed.
    for config in ("finetune_ge", "supervised"):
        log = (tmp_path / "runs" / config / "seed0" / "run.log").read_text()
        assert os.path.join("main_job", "seed0", "model_final.pth") in log


def test_collect_only_marks_rows_without_runs(tmp_path):
    page = tmp_path / "RESULTS.md"
    run_ablations.main(["--collect-only", "--shards", "unused.tar", "--output", str(tmp_path / "none"),
                        "--page", str(page), "--tables", "table3"])
    table3 = page.read_text().split("### Table 3")[1]
    # two rows: mIoU, boundary IoU, difference and per-seed cells
    assert table3.count("not run") == 2 * 4
    assert (tmp_path / "results" / "ablation_table3.png").is_file()
