"""The thesis's entropy regularisers (sec. 4.5, eq. 38-46) against values worked out by hand."""
import math

import pytest
import torch

from groupvit_d2.modeling.groupvit.losses import (
    group_entropy_loss,
    label_entropy_loss,
    segment_entropy_loss,
    segment_label_affinity,
)
from groupvit_d2.modeling.groupvit.losses.entropy import entropy


def h(*p):
    """Entropy of a distribution written out, natural log."""
    return -sum(x * math.log(x) for x in p if x > 0)


def test_entropy_is_zero_on_one_hot_and_log_n_on_uniform_with_finite_gradients():
    p = torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], requires_grad=True)
    out = entropy(p)
    assert torch.allclose(out, torch.tensor([0.0, math.log(3)]))
    out.sum().backward()
    assert torch.isfinite(p.grad).all()


def test_group_entropy_by_hand():
    # Image 0: one patch sure of group 0, one split evenly; image 1: both patches 1/4 - 3/4.
    attn_t = torch.tensor([[[1.0, 0.0], [0.5, 0.5]], [[0.25, 0.75], [0.25, 0.75]]])
    expected = ((h(1.0) + h(0.5, 0.5)) / 2 + (h(0.25, 0.75) + h(0.25, 0.75)) / 2) / 2
    assert expected == pytest.approx(0.4544544, abs=1e-6)
    assert group_entropy_loss(attn_t).item() == pytest.approx(expected, abs=1e-6)


def test_group_entropy_rejects_a_2d_map():
    with pytest.raises(ValueError, match=r"\(B, N, G\)"):
        group_entropy_loss(torch.ones(4, 2) / 2)


def _le_case():
    # N=2 patches, G=2 groups, K=2 labels. Group 0 prefers label 0 (softmax 0.8 / 0.2), group 1 is
    # undecided (0.5 / 0.5).
    attn_t = torch.tensor([[[1.0, 0.0], [0.5, 0.5]]])
    affinity = torch.tensor([[[math.log(4.0), 0.0], [0.0, 0.0]]])
    return attn_t, affinity


def test_label_entropy_by_hand():
    attn_t, affinity = _le_case()
    # T = Attn^T softmax(A_ST): patch 0 -> (0.8, 0.2); patch 1 -> 0.5 (0.8, 0.2) + 0.5 (0.5, 0.5).
    expected = (h(0.8, 0.2) + h(0.65, 0.35)) / 2
    assert expected == pytest.approx(0.5739245, abs=1e-6)
    assert label_entropy_loss(attn_t, affinity).item() == pytest.approx(expected, abs=1e-6)


def test_label_entropy_ignores_pad_labels_and_images_without_labels():
    attn_t, affinity = _le_case()
    expected = (h(0.8, 0.2) + h(0.65, 0.35)) / 2
    # A third label column that is PAD, with a large logit that would dominate if it counted.
    padded = torch.cat([affinity, torch.full((1, 2, 1), 5.0)], dim=2)
    mask = torch.tensor([[True, True, False]])
    assert label_entropy_loss(attn_t, padded, mask).item() == pytest.approx(expected, abs=1e-6)
    assert label_entropy_loss(attn_t, padded).item() != pytest.approx(expected, abs=1e-3)
    # A second image with only PAD labels is left out of the batch mean.
    attn2 = torch.cat([attn_t, attn_t])
    aff2 = torch.cat([padded, padded])
    mask2 = torch.tensor([[True, True, False], [False, False, False]])
    value = label_entropy_loss(attn2, aff2, mask2)
    assert value.item() == pytest.approx(expected, abs=1e-6)
    # ... and with no real label at all the loss is 0, still in the graph.
    attn_t.requires_grad_(True)
    zero = label_entropy_loss(attn_t, padded, torch.zeros(1, 3, dtype=torch.bool))
    assert zero.item() == 0.0 and zero.requires_grad


def _se_case():
    # G=2, K=2. Rows (softmax over labels): (0.8, 0.2) and (0.5, 0.5).
    # Columns (softmax over groups): label 0 -> (4/7, 3/7), label 1 -> (1/4, 3/4).
    return torch.tensor([[[math.log(4.0), 0.0], [math.log(3.0), math.log(3.0)]]])


def test_segment_entropy_by_hand():
    groups = (h(0.8, 0.2) + h(0.5, 0.5)) / 2
    labels = (h(4 / 7, 3 / 7) + h(0.25, 0.75)) / 2
    expected = 0.2 * groups + 0.1 * labels
    assert expected == pytest.approx(0.1816171, abs=1e-6)
    assert segment_entropy_loss(_se_case()).item() == pytest.approx(expected, abs=1e-6)
    # The inner weights are the function's arguments (config values), not constants.
    only_groups = segment_entropy_loss(_se_case(), group_weight=1.0, label_weight=0.0)
    only_labels = segment_entropy_loss(_se_case(), group_weight=0.0, label_weight=1.0)
    assert only_groups.item() == pytest.approx(groups, abs=1e-6)
    assert only_labels.item() == pytest.approx(labels, abs=1e-6)


def test_segment_entropy_ignores_pad_labels():
    expected = 0.2 * (h(0.8, 0.2) + h(0.5, 0.5)) / 2 + 0.1 * (h(4 / 7, 3 / 7) + h(0.25, 0.75)) / 2
    padded = torch.cat([_se_case(), torch.tensor([[[2.0], [-1.0]]])], dim=2)
    mask = torch.tensor([[True, True, False]])
    assert segment_entropy_loss(padded, mask).item() == pytest.approx(expected, abs=1e-6)
    # The PAD column may already hold -inf (segment_label_affinity's masking): still no nan.
    masked = segment_label_affinity(torch.randn(1, 2, 4), torch.randn(1, 3, 4), 1.0, mask)
    assert torch.isinf(masked[..., 2]).all()
    value = segment_entropy_loss(torch.where(torch.isinf(masked), masked, padded), mask)
    assert value.item() == pytest.approx(expected, abs=1e-6)
    two = segment_entropy_loss(torch.cat([padded, padded]), torch.tensor([[True, True, False], [False] * 3]))
    assert two.item() == pytest.approx(expected, abs=1e-6)


def test_segment_label_affinity_is_the_scaled_cosine_with_pad_columns_removed():
    groups = torch.tensor([[[3.0, 0.0], [0.0, 2.0]]])
    labels = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    out = segment_label_affinity(groups, labels, 10.0, mask)
    r = 1 / math.sqrt(2)
    assert torch.allclose(out[..., :2], torch.tensor([[[10.0, 10 * r], [0.0, 10 * r]]]))
    assert torch.isneginf(out[..., 2]).all()
    with pytest.raises(ValueError, match="label_mask must be a bool"):
        segment_label_affinity(groups, labels, 1.0, mask.float())
    with pytest.raises(ValueError, match=r"\(B, G, D\)"):
        segment_label_affinity(groups[0], labels, 1.0)


def test_segment_label_affinity_dot_form_is_eq_30_as_written():
    groups = torch.tensor([[[3.0, 0.0], [0.0, 2.0]]])
    labels = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    out = segment_label_affinity(groups, labels, 10.0, mask, form="dot")
    # K^I Z^T: no normalisation, no logit scale.
    assert torch.allclose(out[..., :2], torch.tensor([[[3.0, 3.0], [0.0, 2.0]]]))
    assert torch.isneginf(out[..., 2]).all()
    with pytest.raises(ValueError, match="SEGMENT_AFFINITY"):
        segment_label_affinity(groups, labels, 1.0, form="cosine")
