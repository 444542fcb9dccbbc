import math
import uuid

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

import train_net
from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.datasets.register_synthetic import SYNTHETIC_CLASSES, register_all_synthetic
from groupvit_d2.data.synthetic import generate_synthetic_dataset
from groupvit_d2.evaluation.boundary_iou import BoundaryIoUEvaluator, boundary_counts, mask_to_boundary


def square(size, top, left, side=10):
    mask = np.zeros((size, size), np.uint8)
    mask[top : top + side, left : left + side] = 1
    return mask


def test_square_boundary_is_its_outer_ring():
    # 40x40: diagonal 56.6, 0.02 of it rounds to d = 1.
    boundary = mask_to_boundary(square(40, 10, 10))
    expected = square(40, 10, 10).astype(bool)
    expected[11:19, 11:19] = False
    assert boundary.dtype == bool and np.array_equal(boundary, expected)
    assert boundary.sum() == 36


def test_boundary_width_follows_the_diagonal():
    # 71x71: diagonal 100.4, d = 2: the 10x10 square loses its 6x6 core only.
    boundary = mask_to_boundary(square(71, 20, 20))
    assert boundary.sum() == 100 - 36 and not boundary[22:28, 22:28].any() and boundary[20:22, 20:30].all()
    # d is at least one pixel, however small the ratio.
    assert mask_to_boundary(square(40, 10, 10), dilation_ratio=1e-6).sum() == 36


def test_thin_mask_is_all_boundary_and_border_counts_as_contour():
    bar = np.zeros((71, 71), bool)
    bar[10:60, 30:33] = True  # 3 pixels wide, thinner than 2d = 4
    assert np.array_equal(mask_to_boundary(bar), bar)
    full = np.ones((20, 20), bool)  # d = 1: the image's outermost ring
    assert mask_to_boundary(full).sum() == 20 * 4 - 4


def test_counts_square_against_itself_and_shifted():
    gt = square(40, 10, 10)
    inter, union, gt_b = boundary_counts(gt, gt, num_classes=2)
    assert inter[1] == union[1] == gt_b[1] == 36
    # Shifted one column right: the rings share rows 10 and 19 on columns 11-19 (18 pixels);
    # union 36 + 36 - 18.
    inter, union, _ = boundary_counts(square(40, 10, 11), gt, num_classes=2)
    assert (inter[1], union[1]) == (18, 54)


def test_ignored_pixels_count_for_neither_side():
    # 20x20 (d = 1); class 0 on columns 0-9, class 1 on columns 11-19, column 10 ignored.
    gt = np.zeros((20, 20), np.int64)
    gt[:, 10] = 255
    gt[:, 11:] = 1
    pred = np.zeros((20, 20), np.int64)
    pred[:, 11:] = 1  # predicts class 0 on the ignored column
    inter, union, gt_b = boundary_counts(pred, gt, num_classes=2)
    # Class 1: same mask on both sides; columns 11 and 19 plus rows 0 and 19 on columns 12-18.
    assert inter[1] == union[1] == gt_b[1] == 40 + 14
    # Class 0, ground truth: columns 0 and 9 plus rows 0 and 19 on columns 1-8 (56). Prediction:
    # columns 0 and 10 plus rows 0 and 19 on columns 1-9, less the ignored column 10 (38), all of it
    # on the ground-truth ring.
    assert (inter[0], union[0], gt_b[0]) == (38, 56, 56)


def test_counts_reject_bad_input():
    gt = square(20, 2, 2)
    with pytest.raises(ValueError, match="one size"):
        boundary_counts(gt[:10], gt, num_classes=2)
    with pytest.raises(ValueError, match=r"ground-truth labels \[7\]"):
        boundary_counts(gt, gt * 7, num_classes=2)
    with pytest.raises(ValueError, match=r"predicted classes \[3\]"):
        boundary_counts(gt * 3, gt, num_classes=2)
    with pytest.raises(ValueError, match="binary"):
        mask_to_boundary(gt * 2)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        mask_to_boundary(gt[None])
    with pytest.raises(ValueError, match="dilation_ratio"):
        mask_to_boundary(gt, dilation_ratio=0)


def one_hot(label, num_classes):
    return torch.nn.functional.one_hot(torch.as_tensor(label, dtype=torch.int64), num_classes).permute(2, 0, 1).float()


@pytest.fixture
def squares_dataset(tmp_path):
    """Two 40x40 images with a 10x10 "square" (class 1) on a background; class 2 never occurs."""
    name = f"biou_test_{uuid.uuid4().hex[:8]}"
    gt = square(40, 10, 10)
    records = []
    for stem in ("a", "b"):
        path = str(tmp_path / f"{stem}.png")
        Image.fromarray(gt).save(path)
        records.append({"file_name": f"{stem}.jpg", "sem_seg_file_name": path})
    DatasetCatalog.register(name, lambda: records)
    MetadataCatalog.get(name).set(stuff_classes=["background", "square", "circle"], ignore_label=255)
    yield name, records
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_evaluator_sums_over_the_dataset(squares_dataset):
    name, records = squares_dataset
    evaluator = BoundaryIoUEvaluator(name, distributed=False)
    evaluator.reset()
    preds = [square(40, 10, 10), square(40, 10, 11)]  # exact, then shifted one column
    evaluator.process(records, [{"sem_seg": one_hot(p, 3)} for p in preds])
    res = evaluator.evaluate()["boundary_iou"]
    # Square: (36 + 18) / (36 + 54), not the mean of the per-image 1 and 1/3.
    assert res["bIoU-square"] == pytest.approx(60.0)
    # Background: the image's edge ring (156) plus the ring around the square (44) on both sides;
    # shifted, the two rings around the squares share rows 9 and 20 on columns 10-20 (22).
    # Second image: (156 + 22) / (400 - 178).
    assert res["bIoU-background"] == pytest.approx(100.0 * (200 + 178) / (200 + 222))
    assert math.isnan(res["bIoU-circle"])  # absent from the ground truth: not in the mean
    assert res["bIoU"] == pytest.approx((res["bIoU-square"] + res["bIoU-background"]) / 2)
    evaluator.reset()
    evaluator.process(records[:1], [{"sem_seg": one_hot(preds[0], 3)}])
    assert evaluator.evaluate()["boundary_iou"]["bIoU"] == pytest.approx(100.0)


def test_evaluator_rejects_bad_input(squares_dataset):
    name, records = squares_dataset
    with pytest.raises(ValueError, match="TEST.BOUNDARY_IOU.DILATION_RATIO"):
        BoundaryIoUEvaluator(name, dilation_ratio=-0.1)
    evaluator = BoundaryIoUEvaluator(name, distributed=False)
    good = one_hot(square(40, 10, 10), 3)
    with pytest.raises(KeyError, match="unknown.jpg"):
        evaluator.process([{"file_name": "unknown.jpg"}], [{"sem_seg": good}])
    with pytest.raises(KeyError, match="'sem_seg'"):
        evaluator.process(records[:1], [{}])
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        evaluator.process(records[:1], [{"sem_seg": good[:2]}])
    with pytest.raises(ValueError, match="a.png"):
        evaluator.process(records[:1], [{"sem_seg": good[:, :20]}])


def test_evaluator_on_the_synthetic_benchmark_and_in_train_net(tmp_path):
    generate_synthetic_dataset(str(tmp_path / "synthetic"), seed=0, num_train=0, num_val=3, image_size=32,
                               write_train_seg=False)
    prefix = f"biou_{uuid.uuid4().hex[:8]}_"
    register_all_synthetic(str(tmp_path), prefix=prefix)
    name = prefix + "synthetic_val"
    try:
        cfg = get_cfg()
        add_groupvit_config(cfg)
        cfg.TEST.BOUNDARY_IOU.ENABLED = True
        cfg.TEST.BOUNDARY_IOU.DILATION_RATIO = 0.05
        evaluators = train_net.Trainer.build_evaluator(cfg, name, output_folder=str(tmp_path / "out"))._evaluators
        (evaluator,) = [e for e in evaluators if isinstance(e, BoundaryIoUEvaluator)]
        assert evaluator._dilation_ratio == 0.05

        dicts = DatasetCatalog.get(name)
        labels = [np.array(Image.open(d["sem_seg_file_name"])) for d in dicts]
        num_classes = len(SYNTHETIC_CLASSES)
        evaluator = BoundaryIoUEvaluator(name, distributed=False)
        evaluator.process(dicts, [{"sem_seg": one_hot(label, num_classes)} for label in labels])
        res = evaluator.evaluate()["boundary_iou"]
        present = set(np.unique(np.concatenate([label.ravel() for label in labels])).tolist())
        assert 0 in present and len(present) > 1
        for c, cls in enumerate(SYNTHETIC_CLASSES):
            assert (res[f"bIoU-{cls}"] == 100.0) if c in present else math.isnan(res[f"bIoU-{cls}"])
        assert res["bIoU"] == 100.0

        # Everything predicted as background: every object class scores 0.
        evaluator.reset()
        evaluator.process(dicts, [{"sem_seg": one_hot(np.zeros_like(label), num_classes)} for label in labels])
        res = evaluator.evaluate()["boundary_iou"]
        assert all(res[f"bIoU-{SYNTHETIC_CLASSES[c]}"] == 0.0 for c in present - {0})
        assert 0 < res["bIoU-background"] < 100
        assert res["bIoU"] == pytest.approx(res["bIoU-background"] / len(present))
    finally:
        for n in [n for n in DatasetCatalog.list() if n.startswith(prefix)]:
            DatasetCatalog.remove(n)
            MetadataCatalog.remove(n)
