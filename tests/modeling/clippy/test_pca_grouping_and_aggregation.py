import math

import pytest
import torch

from groupvit_d2.modeling.clippy import aggregate, pca_group_scores, pca_grouping

# Centred already; sum x*y = 0, so the principal directions are the axes: x (variance 22) first,
# then y (12). Signs: the largest |x| (row 0, +4) makes the first centre +x; the largest |y|
# (row 2, -3) makes the second centre -y.
FEATURES = torch.tensor([[4.0, 0.0], [0.0, 1.0], [-1.0, -3.0], [-1.0, 1.0], [-2.0, 1.0]])
S2, S10, S5 = math.sqrt(2), math.sqrt(10), math.sqrt(5)
EXPECTED = torch.tensor(
    [[1.0, 0.0], [0.0, -1.0], [-1 / S10, 3 / S10], [-1 / S2, -1 / S2], [-2 / S5, -1 / S5]]
)


def test_scores_hand_computed():
    torch.testing.assert_close(pca_group_scores(FEATURES, num_groups=2), EXPECTED)


def test_groups_hand_computed():
    groups = pca_grouping(FEATURES, num_groups=2)
    # Row 3 is a tie between the centres; the others are decided.
    assert groups[[0, 1, 2, 4]].tolist() == [0, 0, 1, 1]


def test_translation_invariant_and_at_most_rank_centres():
    shifted = FEATURES + torch.tensor([10.0, -3.0])
    scores = pca_group_scores(shifted, num_groups=8)
    assert scores.shape == (5, 2)  # min(8 requested, 5 features, 2 channels)
    torch.testing.assert_close(scores, EXPECTED)


def test_eight_groups_in_range():
    torch.manual_seed(0)
    groups = pca_grouping(torch.randn(50, 16), num_groups=8)
    assert groups.shape == (50,) and groups.min() >= 0 and groups.max() < 8


def test_bad_input():
    with pytest.raises(ValueError, match="num_groups"):
        pca_group_scores(FEATURES, num_groups=0)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        pca_group_scores(FEATURES[None])


def test_aggregation_modes():
    patches = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [-1.0, 5.0]]])
    cls = torch.tensor([[9.0, 9.0]])
    assert aggregate(patches, cls, "max").tolist() == [[3.0, 5.0]]
    assert aggregate(patches, cls, "avg").tolist() == [[1.0, 1.0]]
    assert aggregate(patches, cls, "cls").tolist() == [[9.0, 9.0]]
    with pytest.raises(ValueError, match="class token"):
        aggregate(patches, None, "cls")
    with pytest.raises(ValueError, match="MODEL.CLIPPY.AGGREGATION"):
        aggregate(patches, cls, "median")
