import math

import pytest
import torch

from groupvit_d2.modeling.core import image_text_contrastive_loss
from groupvit_d2.modeling.pacl.loss import patch_text_contrastive_loss


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_hand_computed_two_pairs():
    # image 0 has one patch along x and one along y; image 1 has both along y.
    patches = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 2.0]]])
    texts = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    # phi(i0, t0): s = (1, 0), weights softmax(s) -> e/(1+e) on the first patch: sigmoid(1).
    # phi(i0, t1): s = (0, 1): sigmoid(1).  phi(i1, t0): s = (0, 0): 0.  phi(i1, t1): s = (1, 1): 1.
    a = _sigmoid(1.0)
    ce_image = [math.log(2.0), math.log(1.0 + math.exp(-1.0))]  # rows (a, a) -> 0, (0, 1) -> 1
    ce_text = [math.log(1.0 + math.exp(-a)), math.log(1.0 + math.exp(a - 1.0))]  # rows (a, 0), (a, 1)
    expected = 0.5 * (sum(ce_image) / 2 + sum(ce_text) / 2)
    loss = patch_text_contrastive_loss(patches, texts, torch.tensor(1.0))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_scale_multiplies_the_compatibility():
    patches = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    texts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # phi is the identity matrix; logits 2 * I for every row.
    loss = patch_text_contrastive_loss(patches, texts, torch.tensor(2.0))
    assert loss.item() == pytest.approx(math.log(1.0 + math.exp(-2.0)), rel=1e-6)


def test_one_patch_per_image_is_clip_loss():
    torch.manual_seed(0)
    patches, texts = torch.randn(5, 1, 8), torch.randn(5, 8)
    scale = torch.tensor(7.0)
    torch.testing.assert_close(
        patch_text_contrastive_loss(patches, texts, scale), image_text_contrastive_loss(patches[:, 0], texts, scale)
    )


def test_gradients_reach_both_sides():
    torch.manual_seed(1)
    patches = torch.randn(3, 4, 6, requires_grad=True)
    texts = torch.randn(3, 6, requires_grad=True)
    patch_text_contrastive_loss(patches, texts, torch.tensor(10.0), attention_scale=5.0).backward()
    assert patches.grad.abs().sum() > 0 and texts.grad.abs().sum() > 0


def test_bad_shapes():
    with pytest.raises(ValueError, match="same B"):
        patch_text_contrastive_loss(torch.zeros(2, 3, 4), torch.zeros(3, 4), 1.0)
    with pytest.raises(ValueError, match="scalar"):
        patch_text_contrastive_loss(torch.zeros(2, 3, 4), torch.zeros(2, 4), torch.ones(2))
