import pytest
import timm.models._builder
import torch

from groupvit_d2.modeling.clippy import build_timm_vit
from groupvit_d2.modeling.core import PretrainedWeightsError

NAME = "vit_small_patch16_224.dino"
TINY = {"img_size": 32, "embed_dim": 16, "depth": 1, "num_heads": 2}


def test_random_tower_any_size_and_token_dropping():
    torch.manual_seed(0)
    vit = build_timm_vit(NAME, "", TINY, patch_drop_rate=0.75)
    vit.eval()
    # 64x48 at patch 16: 4 x 3 patches plus the class token, at twice the native size.
    assert vit.forward_features(torch.randn(2, 3, 64, 48)).shape == (2, 13, 16)
    vit.train()
    # Training keeps the class token and a quarter of the 12 patches.
    assert vit.forward_features(torch.randn(2, 3, 64, 48)).shape == (2, 1 + 3, 16)


def test_loads_a_local_weights_file(tmp_path):
    torch.manual_seed(0)
    source = build_timm_vit(NAME, "", TINY)
    path = tmp_path / "vit.pth"
    torch.save(source.state_dict(), path)
    loaded = build_timm_vit(NAME, str(path), TINY)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_offline_hub_weights_fail_with_a_clear_message(monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(timm.models._builder, "load_pretrained", unreachable)
    with pytest.raises(PretrainedWeightsError) as error:
        build_timm_vit(NAME, "hub", TINY)
    message = str(error.value)
    assert f"'{NAME}'" in message and "cannot be downloaded" in message
    assert "MODEL.CLIPPY.IMAGE_PRETRAINED" in message


def test_bad_names_and_values(tmp_path):
    with pytest.raises(ValueError, match="MODEL.CLIPPY.IMAGE_MODEL.*no model"):
        build_timm_vit("vit_imaginary_patch3", "")
    with pytest.raises(ValueError, match="is no file"):
        build_timm_vit(NAME, str(tmp_path / "missing.pth"), TINY)
    with pytest.raises(ValueError, match="PATCH_DROP_RATE"):
        build_timm_vit(NAME, "", TINY, patch_drop_rate=1.0)
    with pytest.raises(ValueError, match="IMAGE_OVERRIDES"):
        build_timm_vit(NAME, "", "[1, 2]")
