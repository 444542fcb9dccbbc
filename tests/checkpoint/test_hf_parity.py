"""Numerical parity with transformers.GroupViTModel after converting its weights."""
import pytest
import torch
import torch.nn.functional as F
from checkpoint_test_utils import build_ours_for_hf, random_text, randomize_, tiny_hf_config

from groupvit_d2.checkpoint import hf_to_ours

transformers = pytest.importorskip("transformers")

ATOL = 1e-4


def _outputs_pair(hf, ours, pixels, ids):
    """The same quantities from both models, for the same normalised pixels and token ids."""
    with torch.no_grad():
        out = hf(input_ids=ids, pixel_values=pixels, output_attentions=True)
        vision = out.vision_model_output
        width = vision.last_hidden_state.shape[-1]
        hf_res = {
            "image_embeds": hf.visual_projection(vision.pooler_output),
            "text_embeds": hf.text_projection(out.text_model_output.pooler_output),
            "group_embeds": hf.visual_projection(vision.last_hidden_state.reshape(-1, width)).view(
                pixels.shape[0], -1, hf.config.projection_dim),
            "logits_per_image": out.logits_per_image,
            "soft": list(vision.attentions),
        }
        enc = ours.encode_image(pixels)
        text = ours.encode_text(ids)
        # HF scales the cosine by exp(logit_scale) without a clamp; do the same here.
        logits = F.normalize(enc["image_embeds"], dim=-1) @ F.normalize(text, dim=-1).T * ours.logit_scale.exp()
        our_res = {
            "image_embeds": enc["image_embeds"],
            "text_embeds": text,
            "group_embeds": enc["group_embeds"],
            "logits_per_image": logits,
            "soft": enc["vision"].soft_assignments,
            "hard": enc["vision"].hard_assignments,
        }
    return hf_res, our_res


def _check_parity(hf_res, our_res):
    diffs = {}
    for key in ("image_embeds", "text_embeds", "group_embeds", "logits_per_image"):
        assert our_res[key].shape == hf_res[key].shape, key
        diffs[key] = (our_res[key] - hf_res[key]).abs().max().item()
    assert len(our_res["soft"]) == len(hf_res["soft"]) >= 1
    for i, (a, b, hard) in enumerate(zip(our_res["soft"], hf_res["soft"], our_res["hard"])):
        assert a.shape == b.shape  # (B, G_l, N_l)
        diffs[f"soft_stage{i}"] = (a - b).abs().max().item()
        # HF groups with one-hot(argmax over groups) of the same soft assignment.
        assert torch.equal(hard.argmax(dim=1), b.argmax(dim=1)), f"hard assignment of stage {i}"
        assert torch.allclose(hard.sum(dim=1), torch.ones_like(hard.sum(dim=1)))
    bad = {k: v for k, v in diffs.items() if not v < ATOL}
    assert not bad, f"max abs differences above {ATOL}: {bad} (all: {diffs})"
    return diffs


@pytest.fixture(scope="module")
def default_pair():
    """One randomly initialised HF GroupViTModel with the DEFAULT (released) config, converted."""
    from detectron2.config import get_cfg

    from groupvit_d2 import add_groupvit_config

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the per-test fixture does; building is mostly small init kernels
    torch.manual_seed(0)
    hf = randomize_(transformers.GroupViTModel(transformers.GroupViTConfig()).eval(), seed=0)
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.MODEL.DEVICE = "cpu"
    ours = build_ours_for_hf(cfg, hf.config)
    state_dict, unmapped = hf_to_ours(hf.state_dict())
    assert unmapped == []
    incompatible = ours.load_state_dict(state_dict, strict=False)
    assert incompatible.missing_keys == ["multi_label_logit_scale"] and incompatible.unexpected_keys == []
    torch.set_num_threads(threads)
    return hf, ours


def test_default_config_parity(default_pair):
    hf, ours = default_pair
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(2, 3, 224, 224, generator=g)
    ids = random_text(3, 77, vocab=49408, eos=49407, seed=2)
    ids[:, 0] = 49406  # start-of-text, as the CLIP tokenizer writes it
    hf_res, our_res = _outputs_pair(hf, ours, pixels, ids)
    assert [tuple(a.shape) for a in our_res["soft"]] == [(2, 64, 196), (2, 8, 64)]
    _check_parity(hf_res, our_res)


def test_default_config_carries_clip_pixel_stats(default_pair):
    _, ours = default_pair
    assert torch.allclose(ours.pixel_mean.flatten(), torch.tensor([122.7709383, 116.7460125, 104.09373615]))
    assert torch.allclose(ours.pixel_std.flatten(), torch.tensor([68.5005327, 66.6321579, 70.32316305]))


def test_tiny_config_parity(tiny_cfg):
    torch.manual_seed(0)
    hf = randomize_(transformers.GroupViTModel(tiny_hf_config()).eval(), seed=3, scale=0.1)
    ours = build_ours_for_hf(tiny_cfg, hf.config)
    # eps values that are not HF's defaults reach our LayerNorms.
    assert ours.backbone.norm.eps == 2e-6 and ours.text_encoder.ln_final.eps == 3e-6
    ours.load_state_dict(hf_to_ours(hf.state_dict())[0], strict=False)
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    ids = random_text(4, 16, vocab=100, eos=99, seed=5)
    hf_res, our_res = _outputs_pair(hf, ours, pixels, ids)
    assert [tuple(a.shape) for a in our_res["soft"]] == [(2, 8, 16), (2, 4, 8)]
    _check_parity(hf_res, our_res)


def test_parity_fails_for_a_wrong_mapping(tiny_cfg):
    """The comparison is sensitive: swapping q and k of one vision block breaks it."""
    torch.manual_seed(0)
    hf = randomize_(transformers.GroupViTModel(tiny_hf_config()).eval(), seed=3, scale=0.1)
    ours = build_ours_for_hf(tiny_cfg, hf.config)
    state_dict = hf_to_ours(hf.state_dict())[0]
    w = state_dict["backbone.layers.0.blocks.0.attn.qkv.weight"]
    q, k, v = w.chunk(3)
    state_dict["backbone.layers.0.blocks.0.attn.qkv.weight"] = torch.cat([k, q, v])
    ours.load_state_dict(state_dict, strict=False)
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    hf_res, our_res = _outputs_pair(hf, ours, pixels, random_text(2, 16, vocab=100, eos=99))
    with pytest.raises(AssertionError):
        _check_parity(hf_res, our_res)
