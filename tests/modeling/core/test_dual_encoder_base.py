import math

import pytest
import torch
import torch.nn as nn

from groupvit_d2.modeling.core import DualEncoder


class _ToyTokenizer:
    def __call__(self, texts):
        return torch.tensor([[len(t) % 7, 1] for t in texts])


class _ToyText(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(8, 4)
        self.tokenize = _ToyTokenizer()

    def forward(self, ids):
        return self.embed(ids).sum(1)


class _Toy(DualEncoder):
    def __init__(self, **kw):
        super().__init__(pixel_mean=[100.0, 110.0, 120.0], pixel_std=[50.0, 60.0, 70.0], templates="identity", **kw)
        self.text_encoder = _ToyText()

    def encode_text(self, tokens):
        return self.text_encoder(tokens)


def test_scale_is_inverse_temperature_clamped():
    model = _Toy(contrast_temperature=0.07, max_logit_scale=100.0)
    assert model.scale().item() == pytest.approx(1 / 0.07, rel=1e-6)
    model = _Toy(contrast_temperature=0.001, max_logit_scale=100.0)
    assert model.scale().item() == pytest.approx(100.0)
    assert model.logit_scale.item() == pytest.approx(math.log(1000.0))
    with pytest.raises(ValueError, match="temperature"):
        _Toy(contrast_temperature=0.0)


def test_normalize_and_training_images():
    model = _Toy()
    images = torch.full((2, 3, 4, 4), 160, dtype=torch.uint8)
    out = model.training_images([{"image": images[0]}, {"image": images[1]}])
    assert out.shape == (2, 3, 4, 4) and out.dtype == torch.float32
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([60 / 50, 50 / 60, 40 / 70]))
    with pytest.raises(ValueError, match="share one size"):
        model.training_images([{"image": images[0]}, {"image": images[0, :, :3]}])
    # The normalisation travels with the checkpoint.
    assert {"pixel_mean", "pixel_std", "logit_scale"} <= set(model.state_dict())


def test_class_embedding_cache_cleared_by_training_and_loading():
    model = _Toy().eval()
    first, bg = model.class_embeddings(class_names=["ball", "tree"], background_threshold=0.9)
    assert first.shape == (2, 4) and bg == 0.9
    torch.testing.assert_close(first.norm(dim=-1), torch.ones(2))
    with torch.no_grad():
        model.text_encoder.embed.weight.mul_(-1)
    cached, _ = model.class_embeddings(class_names=["ball", "tree"])
    torch.testing.assert_close(cached, first)  # cached: the weights changed behind its back
    model.load_state_dict(model.state_dict())
    fresh, _ = model.class_embeddings(class_names=["ball", "tree"])
    torch.testing.assert_close(fresh, -first)
    assert len(model.text_classifier) == 1
    model.train()
    assert len(model.text_classifier) == 0
    with pytest.raises(ValueError, match="exactly one"):
        model.classify_embeddings()
    with pytest.raises(ValueError, match="dataset_name"):
        model.sample_class_embeddings({"image": None})


@pytest.mark.parametrize("sliding", [False, True])
def test_segment_sample_resizes_to_the_original_size(sliding):
    model = _Toy(sliding_window=sliding, crop_size=8, stride=4)
    sample = {"image": torch.zeros(3, 8, 12, dtype=torch.uint8), "height": 16, "width": 24}
    seen = []

    def segment_crops(crops):
        seen.append(tuple(crops.shape))
        out = torch.zeros(crops.shape[0], 2, *crops.shape[-2:])
        out[:, 1] = 1.0
        return out

    scores = model.segment_sample(sample, segment_crops)
    assert scores.shape == (2, 16, 24)
    assert torch.all(scores.argmax(0) == 1)
    # Two 8 x 8 windows (stride 4 along the width), batched into one call.
    assert seen == ([(2, 3, 8, 8)] if sliding else [(1, 3, 8, 12)])
