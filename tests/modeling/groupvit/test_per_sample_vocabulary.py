"""A sample's own "class_names" / "background_threshold" (the hook GroupViTPredictor uses)."""
import pytest
import torch
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model


@pytest.fixture
def model(tiny_cfg):
    torch.manual_seed(0)
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES = "subset"
    return build_model(tiny_cfg).eval()


def _sample(**extra):
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 64, 96), generator=g, dtype=torch.uint8)
    return {"image": image, "height": 40, "width": 60, **extra}


def test_class_names_equal_dataset_metadata_with_the_same_classes(model):
    name = "_test_per_sample_vocabulary"
    MetadataCatalog.get(name).set(stuff_classes=["background", "cat", "grass, lawn"], background_threshold=0.9,
                                  ignore_label=255)
    from_dataset = model([_sample(dataset_name=name)])[0]["sem_seg"]
    from_names = model([_sample(class_names=["cat", ["grass", "lawn"]], background_threshold=0.9)])[0]["sem_seg"]
    assert from_names.shape == (3, 40, 60)
    torch.testing.assert_close(from_names, from_dataset)
    # Without a threshold there is no background channel.
    assert model([_sample(class_names=["cat", "grass"])])[0]["sem_seg"].shape == (2, 40, 60)
    MetadataCatalog.remove(name)


def test_class_names_win_over_the_dataset_and_the_configured_vocabulary(tiny_cfg):
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES = "identity"
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY = ["a", "b", "c", "d"]
    model = build_model(tiny_cfg).eval()
    assert model([_sample()])[0]["sem_seg"].shape[0] == 4
    out = model([_sample(dataset_name="_no_such_dataset", class_names=["x", "y"])])[0]["sem_seg"]
    assert out.shape[0] == 2


def test_each_vocabulary_is_encoded_once(model):
    before = model.text_classifier.num_encodings
    for names in (["cat", "dog"], ["car"], ["cat", "dog"], ["car"]):
        model([_sample(class_names=names)])
    assert model.text_classifier.num_encodings == before + 2
    # The same names as synonyms of one class are another vocabulary.
    model([_sample(class_names=[["cat", "dog"]])])
    assert model.text_classifier.num_encodings == before + 3
