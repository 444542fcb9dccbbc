"""Per-class IoU differences between two evaluations: library functions and tools/compare_checkpoints.py."""
import importlib.util
import math

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from PIL import Image

from groupvit_d2.analysis.iou_comparison import (
    compare_per_class_iou,
    format_comparison,
    load_sem_seg_results,
    per_class_iou,
    plot_comparison,
)
from zero_shot_eval_utils import REPO, TINY_CONFIG

CLASSES = ["background", "cat", "dog", "cow"]



def _tool():
    spec = importlib.util.spec_from_file_location("compare_checkpoints", REPO / "tools" / "compare_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def two_evaluations(tmp_path, catalog_prefix):
    """SemSegEvaluator results of two predictions of one 4x4 image (classes 0..2; 'cow' absent):
    A predicts the truth, B turns the two 'dog' pixels into 'cat'."""
    name = catalog_prefix + "cmp"
    label = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 2, 2]], np.uint8)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "im.png")
    Image.fromarray(label).save(tmp_path / "gt.png")
    record = {"file_name": str(tmp_path / "im.png"), "sem_seg_file_name": str(tmp_path / "gt.png")}
    DatasetCatalog.register(name, lambda: [record])
    MetadataCatalog.get(name).set(stuff_classes=CLASSES, ignore_label=255)
    folders = []
    for tag, prediction in (("a", label), ("b", np.where(label == 2, 1, label))):
        evaluator = SemSegEvaluator(name, distributed=False, output_dir=str(tmp_path / tag))
        evaluator.reset()
        scores = torch.nn.functional.one_hot(torch.from_numpy(prediction.astype(np.int64)), 4).permute(2, 0, 1)
        evaluator.process([record], [{"sem_seg": scores.float()}])
        evaluator.evaluate()
        folders.append(tmp_path / tag)
    return folders


def test_rows_hold_the_per_class_differences(two_evaluations):
    a, b = (load_sem_seg_results(str(f)) for f in two_evaluations)
    assert list(per_class_iou(a)) == CLASSES
    rows = compare_per_class_iou(a, b)
    names = [r[0] for r in rows]
    assert names == CLASSES + ["mIoU"]
    by_name = {r[0]: r for r in rows}
    assert by_name["cat"][1:] == pytest.approx((100.0, 400.0 / 6, 400.0 / 6 - 100.0))  # 4 true, 6 predicted
    assert by_name["dog"][1:] == pytest.approx((100.0, 0.0, -100.0))
    assert by_name["background"][3] == pytest.approx(0.0)
    assert all(math.isnan(v) for v in by_name["cow"][1:])
    miou_b = (100.0 + 400.0 / 6 + 0.0) / 3  # 'cow' has no pixel: not in the mean
    assert by_name["mIoU"][1:] == pytest.approx((100.0, miou_b, miou_b - 100.0))
    table = format_comparison(rows, ("base", "tuned"))
    assert "IoU base" in table and "| cat" in table and "-33.33" in table and "| cow" in table


def test_plot_and_the_tool_on_two_result_folders(two_evaluations, tmp_path, capsys):
    rows = compare_per_class_iou(*(load_sem_seg_results(str(f)) for f in two_evaluations))
    path = plot_comparison(rows, str(tmp_path / "plots" / "diff.png"))
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100

    out = _tool().main([str(two_evaluations[0] / "sem_seg_evaluation.pth"), str(two_evaluations[1]),
                        "--names", "base", "tuned", "--plot", str(tmp_path / "tool.png")])
    printed = capsys.readouterr().out
    assert "IoU tuned" in printed and "-100.00" in printed
    assert repr(out[""]) == repr(rows) and (tmp_path / "tool.png").is_file()  # repr: NaN != NaN


def test_bad_inputs(tmp_path, two_evaluations):
    with pytest.raises(FileNotFoundError, match="sem_seg_evaluation.pth"):
        load_sem_seg_results(str(tmp_path / "nowhere"))
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="no semantic segmentation metrics"):
        load_sem_seg_results(str(tmp_path / "other.pth"))
    a = load_sem_seg_results(str(two_evaluations[0]))
    with pytest.raises(ValueError, match="different classes"):
        compare_per_class_iou(a, {"mIoU": 1.0, "IoU-zebra": 1.0})


def test_the_tool_evaluates_two_checkpoints(benchmarks, tiny_weights, tmp_path, capsys):
    name = benchmarks.name("voc20_val")
    out = _tool().main([
        "--config-file", str(TINY_CONFIG), "--weights", tiny_weights, tiny_weights, "--names", "one", "two",
        "--output-dir", str(tmp_path), "MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0",
        "MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "identity", "DATASETS.TEST", repr((name,)),
    ])
    rows = out[name]
    assert rows[-1][0] == "mIoU" and len(rows) == 21
    # The same weights twice: every difference is zero (or NaN for classes absent from the set).
    assert all(math.isnan(r[3]) or r[3] == 0.0 for r in rows)
    assert (tmp_path / "one" / "inference" / name / "sem_seg_evaluation.pth").is_file()
    assert (tmp_path / f"{name}_iou_diff.png").is_file()
    assert "IoU two" in capsys.readouterr().out
