"""The thesis losses wired into GroupViT.losses(): regularisers by weight, non-noisy positives."""
import math
import pathlib

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.text import build_tokenizer
from groupvit_d2.modeling.groupvit.losses import group_entropy_loss
from groupvit_d2.modeling.groupvit import meta_arch as meta_arch_module


def _batch(raw, templates, seed=0):
    """One sample per entry of `raw` (K raw labels, "" = PAD), each label prompted with `templates`."""
    g = torch.Generator().manual_seed(seed)
    tok = build_tokenizer(32)
    out = []
    for i, labels in enumerate(raw):
        texts = [f"caption {i}"] + [templates[i](x) if x else "" for x in labels]
        out.append({"image": torch.randint(0, 256, (3, 64, 64), generator=g, dtype=torch.uint8),
                    "text": tok(texts), "label_mask": torch.tensor([bool(x) for x in labels]),
                    "raw_labels": list(labels)})
    return out


PHOTO = lambda x: f"a photo of a {x}."  # noqa: E731
DRAWING = lambda x: f"a drawing of the {x}."  # noqa: E731


@pytest.fixture
def cfg(tiny_cfg):
    tiny_cfg.MODEL.GROUPVIT.GUMBEL = False
    tiny_cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    return tiny_cfg


def test_each_regulariser_is_its_own_weighted_term(cfg):
    lo = cfg.MODEL.GROUPVIT.LOSS
    lo.GROUP_ENTROPY_WEIGHT, lo.LABEL_ENTROPY_WEIGHT, lo.SEGMENT_ENTROPY_WEIGHT = 0.5, 2.0, 3.0
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    batch = _batch([["ball", "box"], ["dog", ""]], [PHOTO, PHOTO])
    seen = {}
    encode = model.backbone.encode

    def spy(x):
        seen["vision"] = encode(x)
        return seen["vision"]

    model.backbone.encode = spy
    losses = model(batch)
    assert set(losses) == {"loss_contrastive", "loss_multi_label", "loss_group_entropy", "loss_label_entropy",
                           "loss_segment_entropy"}
    # GE is 0.5 x the entropy of the model's own soft patch-to-final-group map.
    expected = 0.5 * group_entropy_loss(seen["vision"].patch_to_group())
    assert torch.allclose(losses["loss_group_entropy"], expected)
    groups = cfg.MODEL.GROUPVIT.NUM_OUTPUT_GROUPS[-1]
    assert 0 < losses["loss_group_entropy"] <= 0.5 * math.log(groups) + 1e-6
    # SE <= 3.0 x (0.2 log K + 0.1 log G), with K = the real labels (2 for image 0, 1 for image 1).
    assert 0 < losses["loss_segment_entropy"] <= 3.0 * (0.2 * math.log(2) + 0.1 * math.log(groups))
    sum(losses.values()).backward()
    grad = model.backbone.layers[1].downsample.assign.q_proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # The temperature is not a way out of the entropies.
    model.zero_grad()
    model(batch)["loss_label_entropy"].backward()
    assert model.logit_scale.grad is None or model.logit_scale.grad.abs().sum() == 0


@pytest.fixture(scope="module")
def plain_model():
    """A tiny GroupViT with the default losses; tests switch its settings with monkeypatch."""
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(str(pathlib.Path(__file__).resolve().parents[3] / "configs" / "groupvit" / "tiny.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.GROUPVIT.GUMBEL = False
    cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    torch.manual_seed(0)
    return build_model(cfg).train()


def test_zero_weights_compute_nothing_and_the_projector_sees_only_pooled_images(plain_model):
    seen = []
    hook = plain_model.img_projector.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    losses = plain_model(_batch([["ball", "box"], ["dog", "cat"]], [PHOTO, PHOTO]))
    hook.remove()
    assert set(losses) == {"loss_contrastive", "loss_multi_label"}
    assert seen == [(2, plain_model.backbone.embed_dim)]


def test_label_entropy_without_labels_is_a_clear_error(plain_model, monkeypatch):
    monkeypatch.setattr(plain_model, "label_entropy_weight", 1.0)
    batch = [{"image": torch.zeros(3, 64, 64, dtype=torch.uint8), "text": build_tokenizer(32)(["a ball"])}] * 2
    with pytest.raises(ValueError, match="INPUT.IMAGE_TEXT.NUM_LABELS > 0"):
        plain_model(batch)


def test_non_noisy_passes_same_string_positives_and_local_negatives(cfg, monkeypatch):
    cfg.MODEL.GROUPVIT.LOSS.NON_NOISY = True
    model = build_model(cfg)
    model.train()
    calls = []
    real = meta_arch_module.multi_label_contrastive_loss
    monkeypatch.setattr(meta_arch_module, "multi_label_contrastive_loss",
                        lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    # "dog" is prompted with two different templates in the two images: still the same label.
    losses = model(_batch([["dog", "ball"], ["dog", ""]], [PHOTO, DRAWING]))
    assert torch.isfinite(losses["loss_multi_label"])
    (kw,) = calls
    assert kw["global_negatives"] is False
    # Columns: image 0 (dog, ball), image 1 (dog, PAD).
    assert kw["positives"].tolist() == [[True, True, True, False], [True, False, True, False]]
    assert torch.equal(kw["text_positives"], kw["positives"].t())


def test_non_noisy_needs_raw_labels(plain_model, monkeypatch):
    monkeypatch.setattr(plain_model, "non_noisy", True)
    batch = _batch([["dog"], ["cat"]], [PHOTO, PHOTO])
    for x in batch:
        del x["raw_labels"]
    with pytest.raises(ValueError, match='"raw_labels"'):
        plain_model(batch)


def test_segment_affinity_setting_reaches_the_label_and_segment_entropies(cfg, monkeypatch):
    lo = cfg.MODEL.GROUPVIT.LOSS
    lo.LABEL_ENTROPY_WEIGHT, lo.SEGMENT_ENTROPY_WEIGHT = 1.0, 1.0
    batch = _batch([["ball", "box"], ["dog", "cat"]], [PHOTO, PHOTO])
    forms = []
    affinity = meta_arch_module.segment_label_affinity
    monkeypatch.setattr(meta_arch_module, "segment_label_affinity",
                        lambda *args, form, **kwargs: forms.append(form) or affinity(*args, form=form, **kwargs))
    losses = {}
    for form in ("scaled_cosine", "dot"):
        lo.SEGMENT_AFFINITY = form
        torch.manual_seed(0)
        model = build_model(cfg).train()
        torch.manual_seed(1)
        losses[form] = model(batch)
    assert forms == ["scaled_cosine", "dot"]
    for key in ("loss_label_entropy", "loss_segment_entropy"):
        assert not torch.allclose(losses["dot"][key], losses["scaled_cosine"][key]), key
    torch.testing.assert_close(losses["dot"]["loss_contrastive"], losses["scaled_cosine"]["loss_contrastive"])
    lo.SEGMENT_AFFINITY = "cosine"
    with pytest.raises(ValueError, match="SEGMENT_AFFINITY"):
        build_model(cfg)
