import math

import pytest
import torch

from groupvit_d2.modeling.pacl import VisionEmbedder, compatibility, patch_text_similarity


def test_similarity_is_cosine_per_patch():
    patches = torch.tensor([[[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]])
    texts = torch.tensor([[5.0, 0.0], [1.0, 1.0]])
    expected = torch.tensor([[[1.0, 0.0, 1 / math.sqrt(2)], [1 / math.sqrt(2), 1 / math.sqrt(2), 1.0]]])
    torch.testing.assert_close(patch_text_similarity(patches, texts), expected)


def test_compatibility_hand_computed():
    patches = torch.tensor([[[1.0, 0.0], [0.0, 4.0]]])
    texts = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    e = math.e
    # text 0: s = (1, 0): weights (e, 1) / (e + 1), phi = e / (e + 1).
    # text 1: s = (1/sqrt2, 1/sqrt2): equal weights, phi = 1/sqrt2.
    torch.testing.assert_close(compatibility(patches, texts), torch.tensor([[e / (e + 1), 1 / math.sqrt(2)]]))
    # A sharper softmax moves the weight onto the first patch: e^2 / (e^2 + 1).
    assert compatibility(patches, texts[:1], attention_scale=2.0).item() == pytest.approx(e**2 / (e**2 + 1))


def test_compatibility_shapes_and_range():
    torch.manual_seed(0)
    phi = compatibility(torch.randn(3, 7, 16), torch.randn(5, 16))
    assert phi.shape == (3, 5)
    assert bool((phi.abs() <= 1.0 + 1e-6).all())


def test_bad_shapes():
    with pytest.raises(ValueError, match="patch_emb"):
        compatibility(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="patch_emb"):
        compatibility(torch.zeros(2, 3, 4), torch.zeros(3, 5))


def test_vision_embedder_is_linear_plus_mlp():
    torch.manual_seed(0)
    embedder = VisionEmbedder(6, 4)
    x = torch.randn(2, 3, 6)
    expected = embedder.linear(x) + embedder.mlp[2](torch.relu(embedder.mlp[0](x)))
    torch.testing.assert_close(embedder(x), expected)
    assert embedder(x).shape == (2, 3, 4)
