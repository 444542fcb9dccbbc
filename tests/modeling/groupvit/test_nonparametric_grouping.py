"""The plain ViT of configs/ablations/vit_plain.yaml and MODEL.GROUPVIT.ZERO_SHOT.GROUPING (paper
Table 4): non-parametric groups of the patch tokens through the shared zero-shot path."""
import os

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.text import build_tokenizer
from groupvit_d2.modeling.groupvit import meta_arch as meta_arch_module
from groupvit_d2.modeling.groupvit.zero_shot import GROUPING_METHODS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DATASET = "_test_nonparametric_grouping"


@pytest.fixture(scope="module")
def vit_cfg():
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(ROOT, "configs", "ablations", "vit_plain.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    MetadataCatalog.get(DATASET).set(stuff_classes=["background", "ball", "box", "tree"], background_threshold=0.95,
                                     ignore_label=255)
    return cfg


@pytest.fixture(scope="module")
def vit(vit_cfg):
    torch.manual_seed(0)
    return build_model(vit_cfg)


def sample(height=96, width=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8)
    return {"image": image, "height": 50, "width": 80, "dataset_name": DATASET}


def segment(model, grouping, num_clusters=8, **size):
    model.grouping, model.num_clusters = grouping, num_clusters
    try:
        return model.eval()([sample(**size)])[0]["sem_seg"]
    finally:
        model.grouping, model.num_clusters = "groups", 8


def test_plain_vit_is_one_stage_without_groups(vit, vit_cfg):
    assert len(vit.backbone.layers) == 1 and len(vit.backbone.layers[0].blocks) == 4
    assert vit.backbone.layers[0].group_token is None and vit.backbone.layers[0].downsample is None
    assert vit.grouping == vit_cfg.MODEL.GROUPVIT.ZERO_SHOT.GROUPING == "kmeans"
    out = vit.eval().encode_image(torch.randn(2, 3, 96, 96))
    # The image embedding is the projected mean of the final patch tokens.
    assert out["vision"].tokens.shape == (2, 36, 96)
    torch.testing.assert_close(out["vision"].pooled, out["vision"].tokens.mean(1))


def test_plain_vit_trains_one_step(vit):
    tok = build_tokenizer(vit.tokenizer.context_length)
    g = torch.Generator().manual_seed(1)
    batch = [{"image": torch.randint(0, 256, (3, 96, 96), generator=g, dtype=torch.uint8),
              "text": tok([f"a red ball {i}", f"a photo of a ball{i}.", f"a photo of a box{i}."]),
              # The recipe's non-noisy multi-label loss compares the labels as strings.
              "raw_labels": [f"ball{i}", f"box{i}"]} for i in range(3)]
    vit.train()
    losses = vit(batch)
    assert set(losses) == {"loss_contrastive", "loss_multi_label"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert vit.backbone.pos_embed.grad.abs().sum() > 0
    vit.zero_grad()


@pytest.mark.parametrize("grouping", GROUPING_METHODS)
def test_plain_vit_segments_with_every_grouping(vit, grouping):
    probs = segment(vit, grouping)
    assert probs.shape == (4, 50, 80)
    torch.testing.assert_close(probs.sum(0), torch.ones(50, 80))


def test_grouping_invariants_on_the_plain_vit(vit):
    pixel = segment(vit, "pixel")
    # Without grouping stages the final tokens are the groups.
    torch.testing.assert_close(segment(vit, "groups"), pixel)
    # As many clusters as patches (36 a 96x96 window): every patch its own cluster.
    torch.testing.assert_close(segment(vit, "kmeans", num_clusters=36), pixel)
    # One cluster: one class distribution for the whole window (a 96x96 image is one window).
    one = segment(vit, "spectral", num_clusters=1, width=96)
    torch.testing.assert_close(one, one[:, :1, :1].expand_as(one))
    pixel = segment(vit, "pixel", width=96)
    assert not torch.allclose(pixel, pixel[:, :1, :1].expand_as(pixel))


def test_plain_vit_group_maps_are_its_clusters(vit):
    image = sample(width=96)
    try:
        vit.eval().grouping, vit.num_clusters = "kmeans", 3
        (kmeans,) = vit.group_maps(image)
        assert kmeans.shape == (96, 96) and kmeans.dtype == torch.int64
        assert set(kmeans.unique().tolist()) == {0, 1, 2}
        # Without grouping stages the groups are the 6 x 6 patch tokens: each patch is one group.
        vit.grouping = "groups"
        (pixel,) = vit.group_maps(image)
        assert pixel.unique().numel() == 36
        assert torch.equal(pixel[::16, ::16].flatten(), torch.arange(36))
    finally:
        vit.grouping, vit.num_clusters = "kmeans", 8


@pytest.mark.parametrize("grouping", GROUPING_METHODS)
def test_groupvit_clusters_its_first_stage_patch_tokens(tiny_cfg, grouping, monkeypatch):
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.GROUPING = grouping
    torch.manual_seed(0)
    model = build_model(tiny_cfg).eval()
    seen = []
    cluster = meta_arch_module.cluster_patches
    monkeypatch.setattr(meta_arch_module, "cluster_patches", lambda f, *a: seen.append(f) or cluster(f, *a))
    image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    probs = model([{"image": image, "height": 64, "width": 64, "dataset_name": DATASET}])[0]["sem_seg"]
    assert probs.shape == (4, 64, 64)
    if grouping == "groups":
        assert not seen  # the learned grouping, unchanged
    else:
        vision = model.backbone.encode(model.normalize(image[None]))
        torch.testing.assert_close(seen[0], model.backbone.norm(vision.stage_tokens[0])[0])


@pytest.mark.parametrize("key, value, match", [
    ("GROUPING", "dbscan", r"MODEL.GROUPVIT.ZERO_SHOT.GROUPING must be one of .*'kmeans'.*got 'dbscan'"),
    ("NUM_CLUSTERS", 0, "MODEL.GROUPVIT.ZERO_SHOT.NUM_CLUSTERS"),
])
def test_bad_grouping_config_is_refused(tiny_cfg, key, value, match):
    setattr(tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT, key, value)
    with pytest.raises(ValueError, match=match):
        build_model(tiny_cfg)
