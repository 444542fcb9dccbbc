import os

import pytest
import torch
from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.text import build_tokenizer
from groupvit_d2.modeling.clippy import CLIPpy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def tiny_cfg(**clippy):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(REPO, "configs", "clippy", "synthetic_tiny.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    c = cfg.MODEL.CLIPPY
    c.IMAGE_OVERRIDES = CN({"img_size": 16, "embed_dim": 16, "depth": 1, "num_heads": 2})
    c.TEXT_OVERRIDES = CN({"d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_heads": 2, "dropout_rate": 0.0})
    c.EMBED_DIM = 8
    c.TEMPLATES = "identity"
    c.PATCH_DROP_RATE = 0.5
    cfg.TEST.SLIDING_WINDOW.CROP_SIZE = 32
    cfg.TEST.SLIDING_WINDOW.STRIDE = 16
    for key, value in clippy.items():
        c[key] = value
    return cfg


def _batch(n=3, size=32):
    tokenize = build_tokenizer(32)
    captions = ["a red ball on grass", "a blue box on sand", "a green tree in snow"][:n]
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g),
             "text": tokenize([c]), "caption": c} for c in captions]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(tiny_cfg())


def test_training_loss_and_gradients(model):
    model.train()
    assert isinstance(model, CLIPpy)
    losses = model(_batch())
    assert set(losses) == {"loss_contrastive"} and torch.isfinite(losses["loss_contrastive"])
    losses["loss_contrastive"].backward()
    for module in (model.backbone.patch_embed, model.text_encoder, model.img_projector, model.text_projector):
        assert sum(p.grad.abs().sum() for p in module.parameters() if p.grad is not None) > 0
    model.zero_grad()


def test_max_pooling_of_projected_patches(model):
    model.eval()
    images = model.normalize(torch.stack([x["image"] for x in _batch(2)]))
    out = model.encode_image(images)
    assert out["grid"] == (2, 2) and out["patch_embeds"].shape == (2, 4, 8)
    torch.testing.assert_close(out["image_embeds"], out["patch_embeds"].amax(dim=1))


def test_inference_segmentation_and_groups(model):
    model.eval()
    image = torch.randint(0, 256, (3, 48, 64), dtype=torch.uint8)
    out = model([{"image": image, "height": 24, "width": 32, "class_names": ["ball", "box"],
                  "background_threshold": 0.95}])[0]
    assert out["sem_seg"].shape == (3, 24, 32)
    torch.testing.assert_close(out["sem_seg"].sum(0), torch.ones(24, 32))
    assert out["groups"].shape == (24, 32) and out["groups"].dtype == torch.int64
    # 12 patches: at most 8 principal components, fewer when the patch features have lower rank.
    assert 0 <= int(out["groups"].min()) and int(out["groups"].max()) < 8
    assert model.group_maps({"image": image})[0].shape == (48, 64)
    scores = model.classify(image[None, :, :32, :32], class_names=["ball", "box", "tree"])
    assert scores.shape == (1, 3) and bool((scores.abs() <= 1 + 1e-6).all())


def test_other_aggregations():
    torch.manual_seed(0)
    cls_model = build_model(tiny_cfg(AGGREGATION="cls")).eval()
    images = cls_model.normalize(torch.stack([x["image"] for x in _batch(2)]))
    prefix, _, _ = cls_model.backbone_tokens(images)
    torch.testing.assert_close(cls_model.encode_image(images)["image_embeds"], cls_model.img_projector(prefix[:, 0]))
    with pytest.raises(ValueError, match="MODEL.CLIPPY.AGGREGATION"):
        build_model(tiny_cfg(AGGREGATION="median"))
