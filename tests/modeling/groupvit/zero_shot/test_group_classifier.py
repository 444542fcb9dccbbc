import math

import pytest
import torch

from groupvit_d2.modeling.groupvit.zero_shot import group_class_affinity, pixel_class_scores

# 3 classes along the axes; group 0 points at class 0, group 1 halfway between classes 1 and 2.
CLASSES = torch.eye(3, dtype=torch.float64)
GROUPS = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]]], dtype=torch.float64)
SCALE = 2.0
R2 = math.sqrt(2.0)


def test_affinity_topk_mask_times_unmasked_softmax():
    # Image affinity softmax(2 * (0.894, 0.447, 0)) keeps classes {0, 1} with k = 2.
    image = torch.tensor([[1.0, 0.5, 0.0]], dtype=torch.float64)
    affinity = group_class_affinity(GROUPS, image, CLASSES, SCALE, topk=2)
    # Group 0: Z = (2, 0, 0). masked softmax over (2, 0, -inf) = (e^2, 1, 0) / (e^2 + 1);
    #          unmasked softmax = (e^2, 1, 1) / (e^2 + 2).
    # Group 1: Z = (0, sqrt2, sqrt2). masked softmax over (0, sqrt2, -inf) = (1, e^sqrt2, 0) / (1 + e^sqrt2);
    #          unmasked softmax = (1, e^sqrt2, e^sqrt2) / (1 + 2 e^sqrt2).
    expected = torch.tensor(
        [
            [0.6931750063, 0.0126959431, 0.0],
            [0.0211965861, 0.3586214084, 0.0],
        ],
        dtype=torch.float64,
    )
    assert affinity.shape == (1, 2, 3)
    torch.testing.assert_close(affinity[0], expected, atol=1e-9, rtol=0)
    # The same numbers from the formulas above.
    e2, es = math.exp(2), math.exp(R2)
    assert affinity[0, 0, 0].item() == pytest.approx(e2 / (e2 + 1) * e2 / (e2 + 2))
    assert affinity[0, 1, 1].item() == pytest.approx(es / (1 + es) * es / (1 + 2 * es))


def test_affinity_mask_is_per_image_and_scale_accepts_a_tensor():
    images = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.2, 1.0]], dtype=torch.float64)
    groups = GROUPS.expand(2, -1, -1)
    affinity = group_class_affinity(groups, images, CLASSES, torch.tensor(SCALE, dtype=torch.float64), topk=2)
    # Image 1 keeps classes {1, 2}: group 0's masked softmax over (-inf, 0, 0) = (0, 1/2, 1/2),
    # times (e^2, 1, 1) / (e^2 + 2); group 1's over (-inf, sqrt2, sqrt2) = (0, 1/2, 1/2),
    # times (1, e^sqrt2, e^sqrt2) / (1 + 2 e^sqrt2).
    expected = torch.tensor(
        [[0.0, 0.0532534895, 0.0532534895], [0.0, 0.2229041371, 0.2229041371]], dtype=torch.float64
    )
    torch.testing.assert_close(affinity[1], expected, atol=1e-9, rtol=0)
    torch.testing.assert_close(affinity[0, :, 2], torch.zeros(2, dtype=torch.float64))


def test_topk_larger_than_vocabulary_keeps_every_class():
    image = torch.tensor([[1.0, 0.5, 0.0]], dtype=torch.float64)
    affinity = group_class_affinity(GROUPS, image, CLASSES, SCALE, topk=5)
    # No class is masked: G = softmax(Z) ** 2.
    e2 = math.exp(2)
    expected_group0 = torch.tensor([e2, 1.0, 1.0], dtype=torch.float64) / (e2 + 2)
    torch.testing.assert_close(affinity[0, 0], expected_group0**2)


def test_affinity_normalises_embeddings():
    image = torch.tensor([[1.0, 0.5, 0.0]], dtype=torch.float64)
    a = group_class_affinity(GROUPS, image, CLASSES, SCALE, topk=2)
    b = group_class_affinity(GROUPS * 7.0, image * 0.1, CLASSES, SCALE, topk=2)
    torch.testing.assert_close(a, b)


def test_affinity_rejects_bad_shapes():
    with pytest.raises(ValueError, match="disagree"):
        group_class_affinity(GROUPS, torch.rand(1, 4, dtype=torch.float64), CLASSES, SCALE)
    with pytest.raises(ValueError, match="topk"):
        group_class_affinity(GROUPS, torch.rand(1, 3, dtype=torch.float64), CLASSES, SCALE, topk=0)


# Pixel -> group on a 2x2 image: [[0, 1], [1, 0]].
ONEHOT = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]).unsqueeze(0)
AFFINITY = torch.tensor([[[0.75, 0.125, 0.0], [0.25, 0.5, 0.0]]])


def test_pixel_scores_without_background():
    scores = pixel_class_scores(ONEHOT, AFFINITY, None)
    expected = torch.tensor(
        [
            [[0.75, 0.25], [0.25, 0.75]],
            [[0.125, 0.5], [0.5, 0.125]],
            [[0.0, 0.0], [0.0, 0.0]],
        ]
    ).unsqueeze(0)
    assert torch.equal(scores, expected)


def test_background_threshold_is_min_of_threshold_and_max_affinity():
    # thr = min(0.95, 0.75) = 0.75: group 0's pixels score 0.75 (not strictly below) -> foreground;
    # group 1's pixels score 0.5 -> background.
    scores = pixel_class_scores(ONEHOT, AFFINITY, 0.95)
    assert scores.shape == (1, 4, 2, 2)
    assert torch.equal(scores[0, 0], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    # The class channels keep their values.
    assert torch.equal(scores[:, 1:], pixel_class_scores(ONEHOT, AFFINITY, None))


def test_background_strictly_below_edge():
    # thr = 0.5 equals group 1's best value: not background.
    assert torch.equal(pixel_class_scores(ONEHOT, AFFINITY, 0.5)[0, 0], torch.zeros(2, 2))
    # thr = 0.5625 is just above it: background.
    assert torch.equal(
        pixel_class_scores(ONEHOT, AFFINITY, 0.5625)[0, 0], torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    )


def test_background_threshold_is_per_image():
    onehot = ONEHOT.expand(2, -1, -1, -1)
    affinity = torch.cat([AFFINITY, AFFINITY * 0.5])
    scores = pixel_class_scores(onehot, affinity, 0.4)
    # Image 0: thr = min(0.4, 0.75) = 0.4; best values 0.75 and 0.5 -> no background.
    assert torch.equal(scores[0, 0], torch.zeros(2, 2))
    # Image 1: thr = min(0.4, 0.375) = 0.375; best values 0.375 (group 0) and 0.25 (group 1).
    # A threshold over the whole batch (0.4) would make every pixel background.
    assert torch.equal(scores[1, 0], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_pixel_scores_reject_mismatched_groups():
    with pytest.raises(ValueError, match="groups"):
        pixel_class_scores(ONEHOT, torch.rand(1, 3, 3), None)
