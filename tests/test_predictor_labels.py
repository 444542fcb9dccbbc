"""GroupViTPredictor(return_scores=False): the same labels without classes x input pixels of memory."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

import groupvit_d2.predictor as predictor_module
from groupvit_d2.predictor import GroupViTPredictor, upsampled_argmax

NAMES = ["ball", "box", "tree", "house", "fish", "star", "car", "road", "sky", "grass", "dog", "cat"]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    from detectron2.config import get_cfg

    from groupvit_d2 import add_groupvit_config

    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "groupvit", "tiny.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES = "identity"
    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp("labels")
    DetectionCheckpointer(build_model(cfg), save_dir=str(folder)).save("tiny")
    cfg.MODEL.WEIGHTS = str(folder / "tiny.pth")
    return GroupViTPredictor(cfg, input_format="RGB")


def _image(height, width, seed=0):
    # Smooth blobs of colour, so that the groups (and classes) form regions with boundaries.
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    big = F.interpolate(torch.from_numpy(small).permute(2, 0, 1)[None].float(), size=(height, width),
                        mode="bilinear", align_corners=False)
    return big[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def test_upsampled_argmax_equals_the_argmax_of_the_full_upsampling():
    scores = torch.randn(7, 9, 11, generator=torch.Generator().manual_seed(0))
    full = F.interpolate(scores[None], size=(40, 50), mode="bilinear", align_corners=False)[0].argmax(0)
    for budget in (1, 2 * 40 * 50, 10**9):
        assert torch.equal(upsampled_argmax(scores, (40, 50), max_elements=budget), full)


def _colour_groups(crops, class_emb, background_threshold):
    """Groups and group class scores that follow the crop's colours (a random model scores one
    class everywhere), in the form of GroupViT.crop_group_sources, which both the full and the
    bounded inference paths read."""
    num = class_emb.shape[0] + (background_threshold is not None)
    groups = 6
    generator = torch.Generator().manual_seed(num)
    weight = torch.randn(groups, 3, 1, 1, generator=generator)
    ids = F.conv2d(crops, weight).argmax(1)
    mix = torch.randn(3, groups * num, generator=generator)
    tables = (crops.mean(dim=(2, 3)) @ mix).view(-1, groups, num).mul(4).softmax(-1)
    return [(ids, tables)]


@pytest.mark.parametrize("background", [None, 0.5])
def test_same_labels_as_the_full_scores_with_bounded_memory(predictor, monkeypatch, background):
    monkeypatch.setattr(predictor.model, "crop_group_sources", _colour_groups)
    image = _image(180, 260, seed=1)
    full = predictor(image, NAMES, background_threshold=background)
    probs = full["sem_seg"]
    top2 = probs.topk(2, dim=0).values
    confident = (top2[0] - top2[1]) > 1e-4
    assert torch.equal(full["labels"], probs.argmax(0))

    # Every interpolation to the input size holds at most three classes at a time.
    monkeypatch.setattr(predictor_module, "LABEL_CHUNK_ELEMENTS", 3 * 180 * 260)
    monkeypatch.setattr(upsampled_argmax, "__defaults__", (3 * 180 * 260,))
    largest = []
    interpolate = F.interpolate

    def recording(input, *args, **kwargs):
        out = interpolate(input, *args, **kwargs)
        if tuple(out.shape[-2:]) == (180, 260):
            largest.append(out.shape[1])
        return out

    monkeypatch.setattr(F, "interpolate", recording)
    bounded = predictor(image, NAMES, background_threshold=background, return_scores=False)
    assert "sem_seg" not in bounded
    assert largest and max(largest) <= 3 < probs.shape[0]
    assert bounded["labels"].shape == (180, 260) and bounded["labels"].dtype == torch.int64
    assert torch.equal(bounded["labels"][confident], full["labels"][confident])
    assert confident.float().mean() > 0.9
    assert len(torch.unique(full["labels"])) > 1  # a test of more than one constant map
    assert bounded["class_names"] == full["class_names"]
