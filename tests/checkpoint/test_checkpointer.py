"""GroupViTCheckpointer: MODEL.WEIGHTS in every format, explicit reports, clear errors."""
import pytest
import torch
from checkpoint_test_utils import LogCapture, randomize_
from detectron2.modeling import build_model

from groupvit_d2.checkpoint import (
    CheckpointFormatError,
    CheckpointMismatchError,
    GroupViTCheckpointer,
    ours_to_hf,
    ours_to_official,
    save_hf_folder,
)
from groupvit_d2.config import CLIP_PIXEL_MEAN, IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD
from groupvit_d2.modeling.core.pos_embed import resize_pos_embed


class ReleaseConfig:
    """A pickled config object of a class on no allow-list, as OmegaConf's is in release files."""

    def __init__(self):
        self.model = {"img_encoder": {"depths": [2, 1, 1]}}


def _fresh(cfg, seed=5):
    torch.manual_seed(seed)
    return build_model(cfg).eval()


def _assert_same_weights(model, reference, skip=()):
    ref = reference.state_dict() if hasattr(reference, "state_dict") else reference
    for key, value in model.state_dict().items():
        if key not in skip:
            assert torch.equal(value, ref[key]), key


def _write_official(model, path, drop=()):
    official, dropped = ours_to_official(model.state_dict())
    assert sorted(dropped) == ["pixel_mean", "pixel_std"]
    for key in drop:
        del official[key]
    torch.save({"model": official, "config": ReleaseConfig(), "optimizer": {"state": {}, "param_groups": []},
                "lr_scheduler": {"last_epoch": 30}, "epoch": 30}, path)


def test_official_release_loads_with_no_missing_or_unexpected_keys(tiny_model, tiny_cfg, tmp_path):
    path = str(tmp_path / "group_vit_tiny_30e.pth")
    _write_official(tiny_model, path)
    model = _fresh(tiny_cfg)
    with torch.no_grad():
        model.pixel_mean.fill_(0.0)
    checkpointer = GroupViTCheckpointer(model, strict=True)
    extra = checkpointer.load(path)
    report = checkpointer.last_report
    assert report.format == "official"
    assert report.missing == [] and report.unexpected == [] and report.expected_missing == []
    assert report.num_loaded == len(tiny_model.state_dict())
    _assert_same_weights(model, tiny_model)
    assert torch.allclose(model.pixel_mean.flatten(), torch.tensor(IMAGENET_PIXEL_MEAN))
    assert torch.allclose(model.pixel_std.flatten(), torch.tensor(IMAGENET_PIXEL_STD))
    # the release's optimizer, scheduler and config are not handed to our trainer
    assert "optimizer" not in extra and "config" not in extra and "lr_scheduler" not in extra


def test_official_release_without_multi_label_head(tiny_model, tiny_cfg, tmp_path):
    path = str(tmp_path / "redcap_like.pth")
    _write_official(tiny_model, path, drop=["multi_label_logit_scale"])
    model = _fresh(tiny_cfg)
    init = model.multi_label_logit_scale.detach().clone()
    checkpointer = GroupViTCheckpointer(model, strict=True)
    checkpointer.load(path)
    assert checkpointer.last_report.expected_missing == ["multi_label_logit_scale"]
    assert checkpointer.last_report.missing == []
    assert torch.equal(model.multi_label_logit_scale.detach(), init)


@pytest.mark.parametrize("layout", ["folder", "safetensors", "bin"])
def test_hugging_face_formats(tiny_model, tiny_cfg, tmp_path, layout):
    folder = tmp_path / "hf"
    if layout == "folder":
        save_hf_folder(tiny_model.state_dict(), tiny_cfg, str(folder))
        path = str(folder)
    else:
        hf_sd, _ = ours_to_hf(tiny_model.state_dict())
        path = str(tmp_path / f"groupvit.{'safetensors' if layout == 'safetensors' else 'bin'}")
        if layout == "safetensors":
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in hf_sd.items()}, path)
        else:
            torch.save(hf_sd, path)
    model = _fresh(tiny_cfg)
    checkpointer = GroupViTCheckpointer(model, strict=True)
    with LogCapture(checkpointer.logger) as log:
        checkpointer.load(path)
    report = checkpointer.last_report
    assert report.format == "huggingface"
    assert report.missing == [] and report.unexpected == []
    assert report.expected_missing == ["multi_label_logit_scale"]
    assert "as expected: 1\n    multi_label_logit_scale" in log.text
    _assert_same_weights(model, tiny_model, skip=("multi_label_logit_scale", "pixel_mean", "pixel_std"))
    expected_mean = IMAGENET_PIXEL_MEAN if layout == "folder" else CLIP_PIXEL_MEAN  # folder: its preprocessor
    assert torch.allclose(model.pixel_mean.flatten(), torch.tensor(expected_mean), atol=1e-4)


def test_hf_folder_with_other_eps_warns_with_the_cfg_key(tiny_model, tiny_cfg, tmp_path):
    cfg = tiny_cfg.clone()
    cfg.MODEL.GROUPVIT.LAYER_NORM_EPS = 1e-6
    save_hf_folder(tiny_model.state_dict(), cfg, str(tmp_path))
    cfg.MODEL.GROUPVIT.LAYER_NORM_EPS = 1e-5
    checkpointer = GroupViTCheckpointer(_fresh(cfg))
    with LogCapture(checkpointer.logger) as log:
        checkpointer.load(str(tmp_path))
    assert "MODEL.GROUPVIT.LAYER_NORM_EPS: model 1e-05, checkpoint 1e-06" in log.text
    assert "TEXT.LAYER_NORM_EPS" not in log.text


def test_own_checkpoint_resumes_with_optimizer_and_pixel_stats(tiny_model, tiny_cfg, tmp_path):
    with torch.no_grad():
        tiny_model.pixel_mean.copy_(torch.tensor(CLIP_PIXEL_MEAN).view(3, 1, 1))
    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=1e-3)
    tiny_model.logit_scale.grad = torch.ones(())
    optimizer.step()
    GroupViTCheckpointer(tiny_model, str(tmp_path), optimizer=optimizer).save("model_0000009", iteration=9)

    model = _fresh(tiny_cfg)
    optimizer2 = torch.optim.AdamW(model.parameters(), lr=1e-3)
    checkpointer = GroupViTCheckpointer(model, str(tmp_path), optimizer=optimizer2, strict=True)
    extra = checkpointer.resume_or_load("", resume=True)
    assert extra["iteration"] == 9
    assert checkpointer.last_report.format == "detectron2"
    _assert_same_weights(model, tiny_model)
    assert optimizer2.state_dict()["state"][0]["step"] == 1


def test_other_size_names_every_mismatched_key_and_shape(tiny_model, tiny_cfg, tmp_path):
    path = str(tmp_path / "tiny.pth")
    torch.save({"model": tiny_model.state_dict()}, path)
    cfg = tiny_cfg.clone()
    cfg.MODEL.GROUPVIT.EMBED_DIM = 48
    with pytest.raises(CheckpointMismatchError) as info:
        GroupViTCheckpointer(_fresh(cfg)).load(path)
    message = str(info.value)
    assert "tiny.pth" in message
    assert "backbone.patch_embed.proj.weight: checkpoint (96, 3, 16, 16), model (48, 3, 16, 16)" in message
    assert "img_projector.linear_hidden.0.weight: checkpoint (256, 96, 1), model (256, 48, 1)" in message


def test_checkpoint_of_another_architecture(tiny_cfg, tmp_path):
    import torchvision

    path = str(tmp_path / "resnet18.pth")
    torch.save({"model": torchvision.models.resnet18().state_dict()}, path)
    with pytest.raises(CheckpointFormatError, match=r"resnet18\.pth is not a GroupViT checkpoint.*bn1"):
        GroupViTCheckpointer(_fresh(tiny_cfg)).load(path)


def test_truncated_checkpoint_is_named(tiny_model, tiny_cfg, tmp_path):
    path = tmp_path / "model_final.pth"
    torch.save({"model": tiny_model.state_dict()}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4096])
    with pytest.raises(CheckpointFormatError, match=r"model_final\.pth: the file is truncated or corrupt"):
        GroupViTCheckpointer(_fresh(tiny_cfg)).load(str(path))


def test_position_embedding_of_another_grid_is_resized(tiny_model, tiny_cfg, tmp_path):
    path = str(tmp_path / "tiny64.pth")
    torch.save({"model": tiny_model.state_dict()}, path)
    cfg = tiny_cfg.clone()
    cfg.MODEL.GROUPVIT.IMAGE_SIZE = 96
    model = _fresh(cfg)
    checkpointer = GroupViTCheckpointer(model, strict=True)
    checkpointer.load(path)
    assert checkpointer.last_report.resized == [("backbone.pos_embed", (1, 16, 96), (1, 36, 96))]
    expected = resize_pos_embed(tiny_model.backbone.pos_embed.detach(), (6, 6))
    assert torch.allclose(model.backbone.pos_embed.detach(), expected)


def test_unexpected_and_missing_keys_are_reported_and_strict_raises(tiny_model, tiny_cfg, tmp_path):
    sd = dict(tiny_model.state_dict())
    sd["backbone.extra_head.weight"] = torch.zeros(3)
    del sd["text_encoder.ln_final.bias"]
    path = str(tmp_path / "partial.pth")
    torch.save({"model": sd}, path)
    checkpointer = GroupViTCheckpointer(_fresh(tiny_cfg))
    with LogCapture(checkpointer.logger) as log:
        checkpointer.load(path)
    report = checkpointer.last_report
    assert report.missing == ["text_encoder.ln_final.bias"]
    assert report.unexpected == ["backbone.extra_head.weight"]
    assert "Missing from the checkpoint (left at initialisation): 1\n    text_encoder.ln_final.bias" in log.text
    with pytest.raises(CheckpointMismatchError, match="backbone.extra_head.weight"):
        GroupViTCheckpointer(_fresh(tiny_cfg), strict=True).load(path)


def test_randomize_helper_changes_every_tensor(tiny_cfg):
    """The tests above compare weights after loading; a fresh model must differ from a randomised one."""
    a, b = _fresh(tiny_cfg, seed=1), _fresh(tiny_cfg, seed=1)
    randomize_(b, seed=9)
    same = [k for k, v in a.state_dict().items() if torch.equal(v, b.state_dict()[k])]
    assert sorted(same) == ["logit_scale", "multi_label_logit_scale", "pixel_mean", "pixel_std"]
