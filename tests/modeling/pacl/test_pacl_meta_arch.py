import os

import pytest
import torch
from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.text import build_tokenizer
from groupvit_d2.modeling.pacl import PACL, compatibility

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "head_width": 8, "patch_size": 8},
    "text_cfg": {"context_length": 12, "width": 16, "heads": 2, "layers": 1},
}


def tiny_cfg(**pacl):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(REPO, "configs", "pacl", "synthetic_tiny.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.PACL.MODEL_OVERRIDES = CN(TINY)
    cfg.MODEL.PACL.TEST_STRIDE = 4
    cfg.MODEL.PACL.TEMPLATES = "identity"
    cfg.TEST.SLIDING_WINDOW.CROP_SIZE = 32
    cfg.TEST.SLIDING_WINDOW.STRIDE = 16
    for key, value in pacl.items():
        cfg.MODEL.PACL[key] = value
    return cfg


def _batch(n=3, size=32):
    tokenize = build_tokenizer(32)  # the mapper's context; the tower reads 12
    captions = ["a red ball on grass", "a blue box on sand", "a green tree in snow"][:n]
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g),
             "text": tokenize([c, "a photo of a thing."]), "caption": c} for c in captions]


@pytest.fixture(scope="module")
def frozen_model():
    torch.manual_seed(0)
    return build_model(tiny_cfg(FREEZE_VISION=True, FREEZE_TEXT=True))


def test_training_trains_only_the_vision_embedder_when_frozen(frozen_model):
    model = frozen_model.train()
    assert isinstance(model, PACL)
    losses = model(_batch())
    assert set(losses) == {"loss_pacl"} and torch.isfinite(losses["loss_pacl"])
    losses["loss_pacl"].backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    embedder = {n for n, _ in model.vision_embedder.named_parameters(prefix="vision_embedder")}
    assert trainable == embedder | {"logit_scale"}
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.vision_embedder.parameters())
    model.zero_grad()


def test_unfrozen_towers_train_too():
    torch.manual_seed(0)
    model = build_model(tiny_cfg(FREEZE_VISION=False, FREEZE_TEXT=False)).train()
    model(_batch(2))["loss_pacl"].backward()
    assert model.backbone.visual.conv1.weight.grad.abs().sum() > 0
    assert model.text_encoder.model.token_embedding.weight.grad.abs().sum() > 0


def test_segmentation_with_the_stride_trick(frozen_model):
    model = frozen_model.eval()
    image = torch.randint(0, 256, (3, 40, 56), dtype=torch.uint8)
    out = model([{"image": image, "height": 20, "width": 28, "class_names": ["ball", "box, crate", "tree"],
                  "background_threshold": 0.95}])[0]["sem_seg"]
    assert out.shape == (4, 20, 28)
    torch.testing.assert_close(out.sum(0), torch.ones(20, 28))
    # A 32x32 crop at stride 4 (8x8 patches) is scored on an 8x8 grid, upsampled to the crop.
    crops = model.normalize(image[None, :, :32, :32])
    patch_emb, grid = model.encode_patches(crops, stride=model.test_stride)
    assert grid == (8, 8) and patch_emb.shape == (1, 64, 16)
    assert model.segment_crops(crops, torch.eye(16)[:3], None).shape == (1, 3, 32, 32)


def test_zero_shot_classification_is_the_compatibility(frozen_model):
    model = frozen_model.eval()
    images = torch.stack([x["image"] for x in _batch()])
    names = ["ball", "box", "tree", "fish"]
    scores = model.classify(images, class_names=names)
    assert scores.shape == (3, 4) and bool((scores.abs() <= 1).all())
    class_emb, _ = model.class_embeddings(class_names=names)
    with torch.no_grad():
        patch_emb, _ = model.encode_patches(model.normalize(images))
    torch.testing.assert_close(scores, compatibility(patch_emb, class_emb))
    with pytest.raises(ValueError, match="exactly one"):
        model.classify(images)


def test_bad_test_stride():
    with pytest.raises(ValueError, match="MODEL.PACL.TEST_STRIDE"):
        build_model(tiny_cfg(TEST_STRIDE=9))
