"""Hugging Face GroupViTModel <-> groupvit_d2: key mapping, round trip, export, config bridge."""
import json

import pytest
import torch
import torch.nn.functional as F
from checkpoint_test_utils import random_text, randomize_, tiny_hf_config

from groupvit_d2.checkpoint import (
    CheckpointFormatError,
    cfg_overrides_from_hf_config,
    hf_config_from_cfg,
    hf_to_ours,
    merge_hf_config,
    ours_to_hf,
    read_checkpoint,
    save_hf_folder,
)
from groupvit_d2.config import CLIP_PIXEL_MEAN, IMAGENET_PIXEL_MEAN

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_hf():
    torch.manual_seed(0)
    return randomize_(transformers.GroupViTModel(tiny_hf_config()).eval(), seed=7, scale=0.1)


def test_hf_to_ours_to_hf_round_trips_exactly(tiny_hf):
    hf_sd = tiny_hf.state_dict()
    ours, unmapped = hf_to_ours(hf_sd)
    assert unmapped == []
    # fused projections and 1x1 convolutions on our side
    assert ours["backbone.layers.0.blocks.1.attn.qkv.weight"].shape == (3 * 48, 48)
    assert ours["text_encoder.transformer.resblocks.1.attn.in_proj_bias"].shape == (3 * 32,)
    assert ours["img_projector.linear_hidden.0.weight"].shape == (64, 48, 1)
    assert torch.equal(ours["backbone.layers.0.blocks.1.attn.qkv.weight"][48:96],
                       hf_sd["vision_model.encoder.stages.0.layers.1.self_attn.k_proj.weight"])
    back, dropped = ours_to_hf(ours)
    assert sorted(dropped) == ["pixel_mean", "pixel_std"]
    assert set(back) == set(hf_sd)
    for key, value in hf_sd.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value), key


def test_legacy_position_ids_are_ignored_and_foreign_keys_reported(tiny_hf):
    hf_sd = dict(tiny_hf.state_dict())
    hf_sd["text_model.embeddings.position_ids"] = torch.arange(16)[None]
    hf_sd["vision_model.embeddings.class_embedding"] = torch.zeros(48)
    ours, unmapped = hf_to_ours(hf_sd)
    assert unmapped == ["vision_model.embeddings.class_embedding"]
    assert "vision_model.embeddings.class_embedding" in ours  # reported as unexpected on load
    assert not any("position_ids" in k for k in ours)


def test_missing_piece_of_a_split_projection_is_named(tiny_hf):
    hf_sd = dict(tiny_hf.state_dict())
    del hf_sd["text_model.encoder.layers.1.self_attn.v_proj.weight"]
    with pytest.raises(CheckpointFormatError, match=r"layers\.1\.self_attn.*v_proj"):
        hf_to_ours(hf_sd)


def test_cfg_overrides_from_hf_config(tiny_hf, tiny_cfg, tmp_path):
    o = cfg_overrides_from_hf_config(tiny_hf.config)
    assert o["MODEL.GROUPVIT.DEPTHS"] == [2, 1, 1]
    assert o["MODEL.GROUPVIT.NUM_GROUP_TOKENS"] == [8, 4, 0]
    assert o["MODEL.GROUPVIT.NUM_OUTPUT_GROUPS"] == [8, 4]
    assert o["MODEL.GROUPVIT.NUM_HEADS"] == [3, 3, 3]
    assert o["MODEL.GROUPVIT.LAYER_NORM_EPS"] == 2e-6
    assert o["MODEL.GROUPVIT.TEXT.LAYER_NORM_EPS"] == 3e-6
    text = [o["MODEL.GROUPVIT.TEXT." + k] for k in ("WIDTH", "HEADS", "LAYERS")]
    assert text == [32, 2, 2]
    assert (o["MODEL.GROUPVIT.TEXT.CONTEXT_LENGTH"], o["MODEL.GROUPVIT.TEXT.VOCAB_SIZE"]) == (16, 100)
    assert (o["MODEL.GROUPVIT.PROJECTION_DIM"], o["MODEL.GROUPVIT.PROJECTION_INTERMEDIATE_DIM"]) == (16, 64)
    assert o["MODEL.PIXEL_MEAN"] == CLIP_PIXEL_MEAN
    # the same from a config.json file, and applied to a cfg
    (tmp_path / "config.json").write_text(json.dumps(tiny_hf.config.to_dict()))
    assert cfg_overrides_from_hf_config(str(tmp_path)) == o
    cfg = merge_hf_config(tiny_cfg.clone(), str(tmp_path / "config.json"))
    assert cfg.MODEL.GROUPVIT.IMAGE_SIZE == 32 and cfg.MODEL.GROUPVIT.PATCH_SIZE == 8
    assert cfg.MODEL.GROUPVIT.EMBED_DIM == 48 and cfg.MODEL.GROUPVIT.MLP_RATIO == 4.0


def test_cfg_overrides_fill_hf_defaults_and_read_2022_config_dicts():
    # The default (released) architecture from a nearly empty config.json, eps at HF's 1e-5.
    o = cfg_overrides_from_hf_config({"model_type": "groupvit", "text_config_dict": {"layer_norm_eps": 1e-5}})
    assert o["MODEL.GROUPVIT.DEPTHS"] == [6, 3, 3] and o["MODEL.GROUPVIT.NUM_OUTPUT_GROUPS"] == [64, 8]
    assert o["MODEL.GROUPVIT.EMBED_DIM"] == 384 and o["MODEL.GROUPVIT.LAYER_NORM_EPS"] == 1e-5
    assert o["MODEL.GROUPVIT.TEXT.WIDTH"] == 256 and o["MODEL.GROUPVIT.TEXT.HEADS"] == 4


@pytest.mark.parametrize("vision, match", [
    ({"hidden_act": "relu"}, "hidden_act"),
    ({"num_group_tokens": [64, 8, 2]}, "num_group_tokens"),
    ({"num_group_tokens": [32, 8, 0], "num_output_groups": [16, 8, 8]}, "num_output_groups"),
    ({"intermediate_size": 1000}, "intermediate_size"),
])
def test_cfg_overrides_refuse_what_we_cannot_express(vision, match):
    with pytest.raises(ValueError, match=match):
        cfg_overrides_from_hf_config({"model_type": "groupvit", "vision_config": vision})


def test_cfg_overrides_refuse_another_model_type():
    with pytest.raises(CheckpointFormatError, match="'clip' model"):
        cfg_overrides_from_hf_config({"model_type": "clip"})


def test_hf_config_from_cfg_inverts_the_overrides(tiny_hf, tiny_cfg):
    cfg = merge_hf_config(tiny_cfg.clone(), tiny_hf.config)
    exported = hf_config_from_cfg(cfg)
    assert exported["vision_config"]["num_output_groups"] == [8, 4, 4]
    assert exported["vision_config"]["layer_norm_eps"] == 2e-6
    assert cfg_overrides_from_hf_config(exported) == cfg_overrides_from_hf_config(tiny_hf.config)


@pytest.mark.parametrize("key, value, match", [
    ("MODEL.GROUPVIT.NUM_HEADS", [3, 3, 6], "NUM_HEADS"),
    ("MODEL.GROUPVIT.HARD_ASSIGNMENT", False, "HARD_ASSIGNMENT"),
    ("MODEL.GROUPVIT.PROJECTION_NUM_LAYERS", 3, "PROJECTION_NUM_LAYERS"),
    ("MODEL.GROUPVIT.NUM_OUTPUT_GROUPS", [8, 4], "NUM_OUTPUT_GROUPS"),
])
def test_export_refuses_what_hf_cannot_express(tiny_cfg, key, value, match):
    cfg = tiny_cfg.clone()
    cfg.merge_from_list([key, value])
    with pytest.raises(ValueError, match=match):
        hf_config_from_cfg(cfg)


def test_export_folder_loads_in_transformers_with_the_same_outputs(tiny_model, tiny_cfg, tmp_path):
    assert torch.allclose(tiny_model.pixel_mean.flatten(), torch.tensor(IMAGENET_PIXEL_MEAN))
    dropped = save_hf_folder(tiny_model.state_dict(), tiny_cfg, str(tmp_path / "hf"))
    assert sorted(dropped) == ["multi_label_logit_scale", "pixel_mean", "pixel_std"]
    hf, info = transformers.GroupViTModel.from_pretrained(str(tmp_path / "hf"), output_loading_info=True)
    hf.eval()
    assert info["missing_keys"] in ([], set()) and info["unexpected_keys"] in ([], set())
    assert hf.config.vision_config.layer_norm_eps == tiny_cfg.MODEL.GROUPVIT.LAYER_NORM_EPS
    # HF users get the checkpoint's own normalisation (ImageNet here), on HF's 0-1 scale.
    pre = json.loads((tmp_path / "hf" / "preprocessor_config.json").read_text())
    assert pre["image_mean"] == pytest.approx([m / 255 for m in IMAGENET_PIXEL_MEAN])

    pixels = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ids = random_text(3, 32, vocab=49408, eos=49407)
    with torch.no_grad():
        out = hf(input_ids=ids, pixel_values=pixels, output_attentions=True)
        enc = tiny_model.encode_image(pixels)
        text = tiny_model.encode_text(ids)
    assert torch.allclose(out.image_embeds, F.normalize(enc["image_embeds"], dim=-1), atol=1e-5)
    assert torch.allclose(out.text_embeds, F.normalize(text, dim=-1), atol=1e-5)
    for a, b in zip(enc["vision"].soft_assignments, out.vision_model_output.attentions):
        assert torch.allclose(a, b, atol=1e-5)


def test_hf_folder_is_read_with_its_config_and_pixel_stats(tiny_model, tiny_cfg, tmp_path):
    save_hf_folder(tiny_model.state_dict(), tiny_cfg, str(tmp_path), safe_serialization=False)
    converted = read_checkpoint(str(tmp_path))
    assert converted.format == "huggingface" and converted.path.endswith("pytorch_model.bin")
    assert converted.hf_config["vision_config"]["depths"] == [2, 1, 1]
    assert converted.expected_missing == ["multi_label_logit_scale"]
    sd = converted.checkpoint["model"]
    # the folder's preprocessor_config.json wins over the CLIP default
    assert torch.allclose(sd["pixel_mean"], tiny_model.pixel_mean, atol=1e-4)
    for key, value in tiny_model.state_dict().items():
        if key != "multi_label_logit_scale":
            assert torch.equal(sd[key], value), key
