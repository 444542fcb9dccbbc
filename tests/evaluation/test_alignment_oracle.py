"""The alignment oracle: ground-truth regions labelled by their mean class affinity (thesis eq. 52)
or, in the variant named "probabilities", by their mean final probabilities."""
import math

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from PIL import Image

from groupvit_d2.evaluation import AlignmentOracleEvaluator, region_affinity_labels, region_argmax_labels

CLASSES = ["background", "thing a", "thing b"]


def _labels():
    # rows 0-1 background (16 px), rows 2-4 'a' (24 px), rows 5-7 'b' (24 px); one ignored pixel
    labels = np.full((8, 8), 2, np.uint8)
    labels[:2] = 0
    labels[2:5] = 1
    labels[0, 0] = 255
    return labels


def _scores(region_winner):
    """(3, 8, 8) scores: inside region c, class region_winner[c] has the larger mean, yet a few
    pixels of every region favour another class (so the per-pixel argmax is wrong there)."""
    labels = torch.from_numpy(_labels().astype(np.int64))
    scores = torch.zeros(3, 8, 8)
    for c, winner in region_winner.items():
        inside = labels == c
        scores[winner][inside] = 0.6
        loser = (winner + 1) % 3
        scores[loser][inside] = 0.3
        first = inside.nonzero()[0]
        scores[loser, first[0], first[1]] = 0.9  # one pixel with the wrong per-pixel argmax
    scores[:, 0, 0] = torch.tensor([0.0, 0.0, 1.0])  # the ignored pixel
    return scores


def _register(tmp_path, name, **metadata):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "image.png")
    Image.fromarray(_labels()).save(tmp_path / "label.png")
    record = {"file_name": str(tmp_path / "image.png"), "sem_seg_file_name": str(tmp_path / "label.png"),
              "height": 8, "width": 8}
    DatasetCatalog.register(name, lambda: [record])
    MetadataCatalog.get(name).set(stuff_classes=CLASSES, ignore_label=255, evaluator_type="sem_seg", **metadata)
    return name, record


@pytest.fixture
def dataset(tmp_path, catalog_prefix):
    return _register(tmp_path, catalog_prefix + "align")


@pytest.fixture
def dataset_with_background(tmp_path, catalog_prefix):
    return _register(tmp_path, catalog_prefix + "align_bg", background_threshold=0.5)


def _run(evaluator, record, scores):
    evaluator.reset()
    evaluator.process([record], [{"sem_seg": scores}])
    return evaluator.evaluate()


def test_region_argmax_labels():
    regions = torch.tensor([[0, 0, 1], [1, 255, 1]])
    scores = torch.tensor([
        [[0.9, 0.0, 0.0], [0.0, 0.0, 0.0]],
        [[0.0, 0.5, 0.6], [0.0, 0.0, 0.0]],
        [[0.0, 0.0, 0.4], [0.7, 0.9, 0.7]],
    ])
    # region 0: mean (0.45, 0.25, 0) -> 0; region 1: means (0, 0.2, 0.6) -> 2; ignored pixel: argmax 2
    assert region_argmax_labels(scores, regions, 255).tolist() == [[0, 0, 2], [2, 2, 2]]
    with pytest.raises(ValueError, match="same size"):
        region_argmax_labels(scores, regions[:, :2], 255)


def test_correct_region_means_score_100(dataset, tmp_path):
    name, record = dataset
    scores = _scores({0: 0, 1: 1, 2: 2})
    plain = SemSegEvaluator(name, distributed=False)
    assert _run(plain, record, scores)["sem_seg"]["mIoU"] < 100  # the per-pixel argmax has errors
    evaluator = AlignmentOracleEvaluator.in_folder(name, str(tmp_path / "out"), distributed=False,
                                                   form="probabilities")
    results = _run(evaluator, record, scores)
    assert list(results) == ["alignment_oracle_probabilities"]
    assert results["alignment_oracle_probabilities"]["mIoU"] == pytest.approx(100.0)
    assert (tmp_path / "out" / "alignment_oracle_probabilities" / "sem_seg_evaluation.pth").is_file()


def test_one_misaligned_region_gives_the_hand_computed_iou(dataset):
    name, record = dataset
    evaluator = AlignmentOracleEvaluator(name, distributed=False, form="probabilities")
    results = _run(evaluator, record, _scores({0: 0, 1: 1, 2: 1}))["alignment_oracle_probabilities"]
    # 'b' (24 px) labelled 'a': IoU a = 24 / 48, IoU b = 0; background (15 px, one ignored) exact.
    assert results["IoU-background"] == pytest.approx(100.0)
    assert results["IoU-thing a"] == pytest.approx(50.0)
    assert results["IoU-thing b"] == pytest.approx(0.0)
    assert results["mIoU"] == pytest.approx(50.0)
    assert not math.isnan(results["pACC"]) and results["pACC"] == pytest.approx(100.0 * 39 / 63)


def _softmax_of(affinity, background):
    """The model's output: softmax over [background indicator, class affinities] per pixel."""
    return torch.cat([background[None].float(), affinity]).softmax(dim=0)


def test_region_affinity_labels_average_the_affinity_not_the_probabilities():
    regions = torch.tensor([[1, 1, 1, 2], [2, 2, 255, 2]])
    # Class affinities (2, H, W): region 1 means (0.4, 0.3) -> class 1 by eq. 52 although most of
    # its pixels prefer class 2; region 2 means (0.1, 0.5) -> class 2.
    affinity = torch.tensor([
        [[1.0, 0.1, 0.1, 0.0], [0.0, 0.2, 0.0, 0.2]],
        [[0.0, 0.45, 0.45, 0.6], [0.6, 0.4, 0.9, 0.4]],
    ])
    background = torch.tensor([[0, 0, 0, 0], [0, 0, 1, 0]])
    probabilities = _softmax_of(affinity, background)
    labels = region_affinity_labels(probabilities, regions, 255, has_background=True)
    assert labels.tolist() == [[1, 1, 1, 2], [2, 2, 0, 2]]  # the ignored pixel keeps its argmax
    # The same affinities without a background channel give the same regions, labels one lower.
    no_bg = region_affinity_labels(affinity.softmax(dim=0), regions - (regions != 255).long(), 255, False)
    assert no_bg[regions != 255].tolist() == (labels[regions != 255] - 1).tolist()
    # Averaging the final probabilities picks differently where the softmax is not linear.
    skewed = torch.tensor([[[9.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
                           [[0.0, 2.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])
    p = _softmax_of(skewed, torch.zeros(2, 4))
    assert region_affinity_labels(p, regions, 255, True)[0, 0] == 1  # mean affinity (3.0, 1.33)
    assert region_argmax_labels(p, regions, 255)[0, 0] == 2  # mean probability (0.40, 0.52)
    with pytest.raises(ValueError, match="same size"):
        region_affinity_labels(probabilities, regions[:, :2], 255, True)


def test_background_region_is_never_labelled_background_by_eq_52(dataset_with_background, tmp_path):
    name, record = dataset_with_background
    labels = torch.from_numpy(_labels().astype(np.int64))
    # Class affinities: 'a' wins in its region, 'b' in its region and (weakly) in the background,
    # where the background indicator is on.
    affinity = torch.zeros(2, 8, 8)
    affinity[0][labels == 1] = 0.8
    affinity[1][labels == 2] = 0.8
    affinity[1][labels == 0] = 0.2
    probabilities = _softmax_of(affinity, labels == 0)
    results = _run(AlignmentOracleEvaluator.in_folder(name, str(tmp_path), distributed=False), record,
                   probabilities)["alignment_oracle"]
    # 'b' takes the background region (15 px): IoU b = 24 / 39, background 0, 'a' exact.
    assert results["IoU-background"] == pytest.approx(0.0)
    assert results["IoU-thing a"] == pytest.approx(100.0)
    assert results["IoU-thing b"] == pytest.approx(100.0 * 24 / 39)
    probabilities_form = AlignmentOracleEvaluator(name, distributed=False, form="probabilities")
    assert _run(probabilities_form, record, probabilities)["alignment_oracle_probabilities"]["mIoU"] == (
        pytest.approx(100.0))
    with pytest.raises(ValueError, match="form must be one of"):
        AlignmentOracleEvaluator(name, distributed=False, form="mean")
