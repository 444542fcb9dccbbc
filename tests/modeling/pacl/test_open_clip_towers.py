import open_clip
import pytest
import torch
import torch.nn as nn

from groupvit_d2.modeling.core import PretrainedWeightsError
from groupvit_d2.modeling.pacl import OpenCLIPPatchTokens, build_open_clip, split_open_clip

TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "head_width": 8, "patch_size": 8},
    "text_cfg": {"context_length": 12, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_clip():
    torch.manual_seed(0)
    return build_open_clip("ViT-S-16", "", TINY)


def test_overrides_build_small_random_towers(tiny_clip):
    assert tiny_clip.visual.conv1.weight.shape == (16, 3, 8, 8)
    assert tiny_clip.context_length == 12
    # The untouched keys keep ViT-S-16's values (vocabulary).
    assert tiny_clip.token_embedding.num_embeddings == 49408


def test_loads_a_local_weights_file(tiny_clip, tmp_path):
    path = tmp_path / "tiny_clip.pt"
    torch.save(tiny_clip.state_dict(), path)
    loaded = build_open_clip("ViT-S-16", str(path), TINY)
    for key, value in tiny_clip.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_offline_download_fails_with_a_clear_message(monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(open_clip.factory, "download_pretrained", unreachable)
    with pytest.raises(PretrainedWeightsError) as error:
        build_open_clip("ViT-B-16", "openai")
    message = str(error.value)
    assert "'ViT-B-16'" in message and "'openai'" in message
    assert "cannot be downloaded" in message and "MODEL.PACL.PRETRAINED" in message


def test_unknown_model_or_tag():
    with pytest.raises(ValueError, match="MODEL.PACL.CLIP_MODEL.*'ViT-Q-99'"):
        build_open_clip("ViT-Q-99", "")
    with pytest.raises(ValueError, match="neither a pretrained tag.*laion2b_s34b_b88k"):
        build_open_clip("ViT-B-16", "no_such_tag")
    with pytest.raises(TypeError, match="ViT image tower"):
        OpenCLIPPatchTokens(nn.Linear(2, 2))


@pytest.fixture(scope="module")
def towers():
    torch.manual_seed(0)
    clip = build_open_clip("ViT-S-16", "", TINY)
    return split_open_clip(clip, open_clip.get_tokenizer("ViT-S-16"))


def test_patch_tokens_match_open_clip_at_the_patch_stride(towers):
    backbone, _ = towers
    backbone.eval()
    images = torch.randn(2, 3, 32, 32)
    tokens, grid = backbone(images)
    backbone.visual.output_tokens = True
    try:
        _, reference = backbone.visual(images)
    finally:
        backbone.visual.output_tokens = False
    assert grid == (4, 4)
    torch.testing.assert_close(tokens, reference)


def test_stride_trick_and_other_sizes(towers):
    backbone, _ = towers
    backbone.eval()
    images = torch.randn(1, 3, 32, 48)
    # Stride 4 with 8x8 patches: padded by 2 a side, one token per 4x4 cell.
    tokens, grid = backbone(images, stride=4)
    assert grid == (8, 12) and tokens.shape == (1, 96, 16)
    assert backbone(images)[1] == (4, 6)
    with pytest.raises(ValueError, match=r"\[1, 8\]"):
        backbone(images, stride=9)


def test_text_tower(towers):
    _, text = towers
    assert text.reads_clip_bpe and text.context_length == 12 and text.eot_token == 49407
    tokens = text.tokenize(["a red ball", "a blue box"])
    assert tokens.shape == (2, 12)
    assert text(tokens).shape == (2, 16)
    assert not text.model.logit_scale.requires_grad
