"""Recognising the three checkpoint formats from their keys."""
import pytest
import torch

from groupvit_d2.checkpoint import CheckpointFormatError, detect_format, ours_to_official, read_checkpoint


def test_detect_format_by_keys():
    t = torch.zeros(1)
    assert detect_format({"img_encoder.pos_embed": t, "text_encoder.ln_final.weight": t}) == "official"
    assert detect_format({"module.img_encoder.pos_embed": t}) == "official"
    assert detect_format({"vision_model.layernorm.weight": t, "logit_scale": t}) == "huggingface"
    assert detect_format({"backbone.pos_embed": t, "pixel_mean": t}) == "detectron2"
    assert detect_format({"conv1.weight": t}) is None


def test_official_state_dict_saved_from_a_ddp_wrapper(tiny_model, tmp_path):
    official, _ = ours_to_official(tiny_model.state_dict())
    path = str(tmp_path / "ddp.pth")
    torch.save({"model": {"module." + k: v for k, v in official.items()}}, path)
    converted = read_checkpoint(path)
    assert converted.format == "official"
    sd = converted.checkpoint["model"]
    assert torch.equal(sd["backbone.pos_embed"], tiny_model.backbone.pos_embed.detach())
    assert set(sd) == set(tiny_model.state_dict())


def test_bare_state_dict_of_ours(tiny_model, tmp_path):
    path = str(tmp_path / "bare.pth")
    torch.save(tiny_model.state_dict(), path)
    converted = read_checkpoint(path)
    assert converted.format == "detectron2" and set(converted.checkpoint) == {"model"}


def test_non_tensor_in_the_state_dict_is_named(tmp_path):
    path = str(tmp_path / "odd.pth")
    torch.save({"model": {"backbone.pos_embed": torch.zeros(1), "backbone.note": "hello"}}, path)
    with pytest.raises(CheckpointFormatError, match=r"odd\.pth.*'backbone\.note' is a str, expected a tensor"):
        read_checkpoint(path)


def test_truncated_safetensors_is_named(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"vision_model.layernorm.weight": torch.randn(4096)}, str(path))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointFormatError, match=r"model\.safetensors: the file is truncated or corrupt"):
        read_checkpoint(str(path))


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointFormatError, match="holds none of model.safetensors"):
        read_checkpoint(str(tmp_path))
