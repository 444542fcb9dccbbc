import math

import pytest
import torch

from groupvit_d2.modeling.core import patch_class_probabilities

CLASSES = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_probabilities_hand_computed():
    patches = torch.tensor([[[3.0, 0.0], [0.0, 0.5]]])  # grid (1, 2): class 0, then class 1
    probs = patch_class_probabilities(patches, (1, 2), CLASSES, 2.0, (1, 2))
    p = _sigmoid(2.0)  # logits (2, 0): softmax gives sigmoid(2) to the first class
    torch.testing.assert_close(probs, torch.tensor([[[[p, 1 - p]], [[1 - p, p]]]]))


def test_background_rule():
    # The third patch is equally close to both classes (probabilities 0.5 < the image's best).
    patches = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    out = patch_class_probabilities(patches, (1, 3), CLASSES, 2.0, (1, 3), background_threshold=0.95)
    assert out.shape == (1, 3, 1, 3)
    assert out[0, 0, 0].tolist() == [0.0, 0.0, 1.0]
    # A threshold below every best probability marks nothing.
    out = patch_class_probabilities(patches, (1, 3), CLASSES, 2.0, (1, 3), background_threshold=0.4)
    assert out[0, 0].sum() == 0


def test_upsampled_to_output_size():
    torch.manual_seed(0)
    classes = torch.nn.functional.normalize(torch.randn(5, 4), dim=-1)
    out = patch_class_probabilities(torch.randn(2, 6, 4), (2, 3), classes, 10.0, (16, 24))
    assert out.shape == (2, 5, 16, 24)
    torch.testing.assert_close(out.sum(1), torch.ones(2, 16, 24))


def test_bad_input():
    with pytest.raises(ValueError, match="grid"):
        patch_class_probabilities(torch.zeros(1, 5, 2), (2, 3), CLASSES, 1.0, (4, 4))
    with pytest.raises(ValueError, match="finite"):
        patch_class_probabilities(torch.ones(1, 1, 2), (1, 1), CLASSES, 1.0, (1, 1), float("nan"))
