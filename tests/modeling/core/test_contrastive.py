import numpy as np
import pytest
import torch

from groupvit_d2.modeling.core import image_text_contrastive_loss


def reference_loss(image, text, scale):
    """Paper eq. 6 written out term by term, halved as in the official code."""
    image = image / np.linalg.norm(image, axis=1, keepdims=True)
    text = text / np.linalg.norm(text, axis=1, keepdims=True)
    batch = len(image)
    image_to_text = 0.0
    text_to_image = 0.0
    for i in range(batch):
        den = sum(np.exp(image[i] @ text[j] * scale) for j in range(batch))
        image_to_text -= np.log(np.exp(image[i] @ text[i] * scale) / den) / batch
        den = sum(np.exp(text[i] @ image[j] * scale) for j in range(batch))
        text_to_image -= np.log(np.exp(text[i] @ image[i] * scale) / den) / batch
    return 0.5 * (image_to_text + text_to_image)


@pytest.mark.parametrize("batch, scale", [(3, 1.0), (4, 14.28)])
def test_matches_hand_computed_reference(batch, scale):
    rng = np.random.default_rng(batch)
    image = rng.normal(size=(batch, 5))
    text = rng.normal(size=(batch, 5))
    loss = image_text_contrastive_loss(
        torch.tensor(image), torch.tensor(text), torch.tensor(scale, dtype=torch.float64)
    )
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), reference_loss(image, text, scale), rtol=1e-9)


def test_two_vectors_closed_form():
    # Orthogonal unit pairs: each row's logits are (s, 0) with the positive first, so
    # both directions give log(1 + exp(-s)).
    image = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    loss = image_text_contrastive_loss(image, image.clone(), torch.tensor(2.0))
    np.testing.assert_allclose(loss.item(), np.log1p(np.exp(-2.0)), rtol=1e-6)


def test_invariant_to_embedding_norm_and_symmetric():
    torch.manual_seed(0)
    image, text = torch.randn(4, 8), torch.randn(4, 8)
    scale = torch.tensor(10.0)
    loss = image_text_contrastive_loss(image, text, scale)
    scaled = image_text_contrastive_loss(image * 7.0, text * 0.1, scale)
    swapped = image_text_contrastive_loss(text, image, scale)
    torch.testing.assert_close(scaled, loss)
    torch.testing.assert_close(swapped, loss)


def test_gradients_reach_both_towers_and_the_scale():
    torch.manual_seed(1)
    image = torch.randn(3, 6, requires_grad=True)
    text = torch.randn(3, 6, requires_grad=True)
    log_scale = torch.tensor(np.log(1 / 0.07), dtype=torch.float32, requires_grad=True)
    loss = image_text_contrastive_loss(image, text, log_scale.exp().clamp(max=100))
    loss.backward()
    for grad in (image.grad, text.grad, log_scale.grad):
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


@pytest.mark.parametrize(
    "image_shape, text_shape, scale",
    [
        ((3, 4), (3, 5), 1.0),
        ((3, 4), (2, 4), 1.0),
        ((3, 2, 4), (3, 2, 4), 1.0),
        ((3, 4), (3, 4), [1.0, 2.0]),
    ],
)
def test_bad_input_raises(image_shape, text_shape, scale):
    with pytest.raises(ValueError, match="image_emb|logit_scale"):
        image_text_contrastive_loss(
            torch.randn(image_shape), torch.randn(text_shape), torch.tensor(scale)
        )


def test_half_precision_embeddings_give_a_float32_loss():
    torch.manual_seed(3)
    image, text = torch.randn(4, 8), torch.randn(4, 8)
    scale = torch.tensor(20.0)
    loss = image_text_contrastive_loss(image.bfloat16(), text.bfloat16(), scale)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(
        loss, image_text_contrastive_loss(image, text, scale), atol=0.05, rtol=0
    )
