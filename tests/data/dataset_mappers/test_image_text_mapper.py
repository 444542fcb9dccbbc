import nltk
import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from PIL import Image
from timm.data.auto_augment import RandAugment
from timm.data.random_erasing import RandomErasing
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision.transforms import Normalize

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.dataset_mappers.image_text_mapper import (
    ImageTextDatasetMapper,
    build_image_text_augmentation,
)
from groupvit_d2.data.text import build_noun_extractor, build_tokenizer, get_templates

SOT, EOT = 49406, 49407


class FixedExtractor:
    def __init__(self, nouns):
        self._nouns = nouns

    def nouns(self, text):
        return [n for n in self._nouns if n in text]

    def noun_phrases(self, text):
        return []


@pytest.fixture
def cfg():
    c = get_cfg()
    add_groupvit_config(c)
    c.INPUT.IMAGE_TEXT.CROP_SIZE = 32
    return c


def make_mapper(cfg, is_train=True, fill="pad", k=3):
    return ImageTextDatasetMapper(
        is_train=is_train,
        augmentation=build_image_text_augmentation(cfg, is_train),
        tokenizer=build_tokenizer(77),
        num_labels=k,
        templates=get_templates("simple"),
        label_sources=("nouns",),
        label_fill=fill,
        noun_extractor=FixedExtractor(["dog", "ball"]),
    )


def photo(h=40, w=50, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_output_shapes_tokens_and_mask(cfg):
    mapper = make_mapper(cfg, fill="pad")
    out = mapper({"image": photo(), "caption": "a dog with a ball on grass", "key": "k1"})
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (3, 32, 32)
    text = out["text"]
    assert text.dtype == torch.long and text.shape == (4, 77)
    assert (text[:, 0] == SOT).all()
    assert all(EOT in row.tolist() for row in text)
    assert out["label_mask"].dtype == torch.bool and out["label_mask"].tolist() == [
        True,
        True,
        False,
    ]
    assert sorted(out["raw_labels"][:2]) == ["ball", "dog"] and out["raw_labels"][2] == ""
    tokenizer = build_tokenizer(77)
    assert torch.equal(text[0], tokenizer(["a dog with a ball on grass"])[0])
    for row, raw in zip(text[1:3], out["raw_labels"][:2]):
        assert torch.equal(row, tokenizer([f"a photo of a {raw}."])[0])
    assert text[3, :2].tolist() == [SOT, EOT] and not text[3, 2:].any()
    assert out["caption"] == "a dog with a ball on grass" and out["key"] == "k1"


def test_caption_fill_and_dataset_dicts(cfg, tmp_path):
    path = tmp_path / "img.jpg"
    photo(30, 20).convert("L").save(path)  # grayscale file, read as RGB
    mapper = make_mapper(cfg, fill="caption")
    captions = ["a dog sleeping", "a sleeping dog"]
    out = mapper({"file_name": str(path), "image_id": 7, "captions": captions})
    assert out["caption"] in captions and out["image_id"] == 7 and out["image"].shape == (3, 32, 32)
    assert out["raw_labels"][0] == "dog" and out["raw_labels"][1:] == [out["caption"]] * 2
    assert out["label_mask"].all()
    tokenizer = build_tokenizer(77)
    assert torch.equal(out["text"][2], tokenizer([out["caption"]])[0])
    arr = mapper({"image": np.asarray(photo()), "caption": "a ball"})
    assert arr["raw_labels"] == ["ball", "a ball", "a ball"]
    with pytest.raises(ValueError, match="no caption"):
        mapper({"file_name": str(path), "captions": []})
    with pytest.raises(KeyError, match="file_name"):
        mapper({"caption": "a dog"})


def test_test_mode_is_reproducible(cfg):
    mapper = make_mapper(cfg, is_train=False)
    sample = {"image": photo(64, 48), "caption": "a dog and a ball"}
    a, b = mapper(sample), mapper(sample)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["text"], b["text"])
    assert a["raw_labels"] == b["raw_labels"]


def test_augmentation_has_no_normalisation_or_erasing(cfg):
    train = build_image_text_augmentation(cfg, True)
    kinds = [type(t) for t in train.transforms]
    assert RandomResizedCropAndInterpolation in kinds and RandAugment in kinds
    assert RandomErasing not in kinds and Normalize not in kinds
    crop = train.transforms[kinds.index(RandomResizedCropAndInterpolation)]
    assert tuple(crop.scale) == (0.08, 1.0)
    out = train(photo(100, 80))
    assert out.dtype == torch.uint8 and out.shape == (3, 32, 32)
    cfg.INPUT.IMAGE_TEXT.RAND_AUGMENT = "none"
    assert RandAugment not in [type(t) for t in build_image_text_augmentation(cfg, True).transforms]


def test_from_config_with_the_nltk_tagger(cfg, monkeypatch):
    table = {"dog": "NN", "frisbee": "NN", "park": "NN"}
    monkeypatch.setattr(nltk, "pos_tag", lambda tokens: [(t, table.get(t, "DT")) for t in tokens])
    build_noun_extractor.cache_clear()
    try:
        cfg.INPUT.IMAGE_TEXT.NOUN_EXTRACTOR = "nltk"
        cfg.INPUT.IMAGE_TEXT.NUM_LABELS = 5
        cfg.INPUT.IMAGE_TEXT.LABEL_FILL = "pad"
        cfg.MODEL.GROUPVIT.TEXT.CONTEXT_LENGTH = 16
        mapper = ImageTextDatasetMapper(cfg, is_train=True)
        out = mapper({"image": photo(), "caption": "a dog catching a frisbee in the park"})
    finally:
        build_noun_extractor.cache_clear()
    assert out["text"].shape == (6, 16)
    assert sorted(out["raw_labels"][:3]) == ["dog", "frisbee", "park"]
    assert out["label_mask"].tolist() == [True] * 3 + [False] * 2


def test_zero_bit_posterize_gives_a_black_image_instead_of_crashing():
    import numpy as np
    from PIL import Image

    from groupvit_d2.data.dataset_mappers.image_text_mapper import _posterize_any_bits

    image = Image.fromarray(np.full((4, 4, 3), 200, dtype=np.uint8))
    assert np.asarray(_posterize_any_bits(image, 0)).max() == 0
    assert np.asarray(_posterize_any_bits(image, 1)).max() == 128
    assert np.asarray(_posterize_any_bits(image, 8)).max() == 200
