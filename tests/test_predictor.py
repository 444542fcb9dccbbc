import os

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model
from PIL import Image

from groupvit_d2.data.dataset_mappers import ZeroShotSemSegDatasetMapper
from groupvit_d2.predictor import GroupViTPredictor


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from detectron2.config import get_cfg

    from groupvit_d2 import add_groupvit_config

    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "groupvit", "tiny.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(1)
    model = build_model(cfg)
    folder = tmp_path_factory.mktemp("predictor")
    DetectionCheckpointer(model, save_dir=str(folder)).save("tiny")
    return str(folder / "tiny.pth"), {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def predictor(tiny_cfg, weights):
    tiny_cfg.MODEL.WEIGHTS = weights[0]
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES = "subset"
    return GroupViTPredictor(tiny_cfg)


def _image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_loads_the_weights_and_returns_maps_at_the_input_size(predictor, weights):
    for key, value in weights[1].items():
        torch.testing.assert_close(predictor.model.state_dict()[key], value, msg=key)
    out = predictor(_image(37, 53), ["cat", "dog, dogs", ["grass", "lawn"]], background_threshold=0.9)
    assert out["class_names"] == ["background", "cat", "dog", "grass"]
    assert out["sem_seg"].shape == (4, 37, 53)
    torch.testing.assert_close(out["sem_seg"].sum(0), torch.ones(37, 53))
    assert [tuple(g.shape) for g in out["group_maps"]] == [(37, 53), (37, 53)]
    # The tiny model has 16 then 4 output groups.
    assert out["group_maps"][0].dtype == torch.int64
    assert 0 <= out["group_maps"][0].min() and out["group_maps"][0].max() < 16
    assert out["group_maps"][1].max() < 4

    plain = predictor(_image(37, 53), ["cat", "dog"])
    assert plain["class_names"] == ["cat", "dog"] and plain["sem_seg"].shape == (2, 37, 53)

    # One string in the `;`/`,` syntax is the same vocabulary as the list of synonyms.
    text = predictor(_image(37, 53), "cat; dog, dogs; grass, lawn", background_threshold=0.9)
    assert text["class_names"] == out["class_names"]
    torch.testing.assert_close(text["sem_seg"], out["sem_seg"])
    with pytest.raises(ValueError, match="lone word 'background'"):
        predictor(_image(37, 53), "cat; background", background_threshold=0.9)


def test_equals_the_evaluation_path(predictor, tmp_path):
    """Same image, same classes: predictor == mapper + dataset metadata + model, as --eval-only."""
    rgb = _image(40, 70, seed=3)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    name = "_test_predictor_equivalence"
    MetadataCatalog.get(name).set(stuff_classes=["background", "cat", "grass"], background_threshold=0.8,
                                  ignore_label=255)
    mapper = ZeroShotSemSegDatasetMapper(predictor.cfg, is_train=False, dataset_name=name)
    sample = mapper({"file_name": str(tmp_path / "a.png")})
    expected = predictor.model([sample])[0]["sem_seg"]

    out = predictor(np.ascontiguousarray(rgb[:, :, ::-1]), ["cat", "grass"], background_threshold=0.8)  # BGR in
    torch.testing.assert_close(out["sem_seg"], expected)
    assert torch.equal(predictor.preprocess(rgb[:, :, ::-1]), sample["image"])
    MetadataCatalog.remove(name)


def test_changing_the_vocabulary_reuses_the_model(predictor):
    model = predictor.model
    params = {k: v.clone() for k, v in model.state_dict().items()}
    start = model.text_classifier.num_encodings
    image = _image(32, 32)
    first = predictor(image, ["cat", "dog"])
    predictor(image, ["car", "road", "tree"])
    again = predictor(image, ["cat", "dog"])
    assert predictor.model is model
    # One encoding per distinct vocabulary; the repeated one comes from the cache.
    assert model.text_classifier.num_encodings == start + 2
    torch.testing.assert_close(again["sem_seg"], first["sem_seg"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, params[key]), key


def test_grayscale_input(predictor):
    grey = _image(30, 40)[:, :, 0]
    out = predictor(grey, ["cat"])
    expected = predictor(np.repeat(grey[:, :, None], 3, axis=2), ["cat"])
    torch.testing.assert_close(out["sem_seg"], expected["sem_seg"])


def test_bad_inputs_are_clear_errors(predictor):
    image = _image(32, 32)
    with pytest.raises(ValueError, match="vocabulary names no class"):
        predictor(image, [])
    with pytest.raises(ValueError, match="vocabulary entry 1 is empty"):
        predictor(image, ["cat", ""])
    with pytest.raises(ValueError, match="background_threshold must be in"):
        predictor(image, ["cat"], background_threshold=1.5)
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\).*float32"):
        predictor(image.astype(np.float32), ["cat"])
    with pytest.raises(ValueError, match=r"got shape \(32, 32, 4\)"):
        predictor(np.zeros((32, 32, 4), np.uint8), ["cat"])
    with pytest.raises(ValueError, match="input_format"):
        GroupViTPredictor(predictor.cfg, input_format="YUV")


def test_duplicate_names_are_errors(predictor):
    # A name standing for two classes splits its pixels between them arbitrarily.
    with pytest.raises(ValueError, match=r"'Cat' appears in classes 1 and 3"):
        predictor(_image(32, 32), ["cat", "dog", "Cat"])
