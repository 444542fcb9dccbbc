import math

import pytest
import torch
from detectron2.data.catalog import Metadata

from groupvit_d2.data.text import build_tokenizer
from groupvit_d2.modeling.core import TextClassifier, class_names_from_metadata, split_class_names

TEMPLATES = (lambda c: f"a {c}", lambda c: f"b {c}")

# Un-normalised embeddings the fake text tower returns for each prompt.
TABLE = {
    "a cat": [3.0, 0.0],
    "b cat": [0.0, 1.0],
    "a dog": [0.0, 2.0],
    "b dog": [0.0, 5.0],
    "a car": [4.0, 0.0],
    "b car": [0.0, 2.0],
    "a cars": [2.0, 2.0],
    "b cars": [2.0, 0.0],
    "x cat": [1.0, 1.0],
}
TEXTS = sorted(TABLE)


class FakeTower:
    """tokenizer: text -> one id; encode_text: id -> TABLE row. Records every call."""

    def __init__(self):
        self.batches = []
        self.grad_enabled = []

    def tokenizer(self, texts):
        return torch.tensor([[TEXTS.index(t)] for t in texts], dtype=torch.long)

    def encode_text(self, tokens):
        self.batches.append(tokens.shape[0])
        self.grad_enabled.append(torch.is_grad_enabled())
        table = torch.tensor([TABLE[t] for t in TEXTS], dtype=torch.float64)
        return table[tokens[:, 0]]


def _get(classifier, names, key="voc", templates=TEMPLATES, tower=None):
    tower = tower or FakeTower()
    return classifier.get(key, names, templates, tower.encode_text, tower.tokenizer)


def test_mean_of_unnormalised_embeddings_then_normalise():
    emb = _get(TextClassifier(), ["cat", "dog"])
    # cat: mean((3, 0), (0, 1)) = (1.5, 0.5) -> (3, 1) / sqrt(10).
    # dog: mean((0, 2), (0, 5)) -> (0, 1).
    expected = torch.tensor([[3 / math.sqrt(10), 1 / math.sqrt(10)], [0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(emb, expected)
    # Averaging the normalised embeddings instead would give (1, 1) / sqrt(2) for cat.
    assert not torch.allclose(emb[0], torch.tensor([1.0, 1.0], dtype=torch.float64) / math.sqrt(2), atol=1e-3)


def test_synonyms_enter_one_mean():
    # car: mean((4, 0), (0, 2), (2, 2), (2, 0)) = (2, 1) -> (2, 1) / sqrt(5), whether the synonyms
    # come as a comma-separated string or a list.
    expected = torch.tensor([2.0, 1.0], dtype=torch.float64) / math.sqrt(5)
    from_string = _get(TextClassifier(), ["car, cars"])
    from_list = _get(TextClassifier(), [["car", "cars"]])
    torch.testing.assert_close(from_string[0], expected)
    torch.testing.assert_close(from_list[0], expected)
    # Normalising each prompt first would give (2.707, 1.707) normalised = (0.846, 0.533).
    assert abs(from_string[0, 0].item() - 0.846) > 0.04


def test_string_templates_are_formatted():
    emb = _get(TextClassifier(), ["cat"], templates=("x {}",))
    torch.testing.assert_close(emb[0], torch.tensor([1.0, 1.0], dtype=torch.float64) / math.sqrt(2))


def test_cache_encodes_once_per_key_and_templates():
    classifier = TextClassifier()
    tower = FakeTower()
    first = _get(classifier, ["cat", "dog"], tower=tower)
    for _ in range(3):
        again = _get(classifier, ["cat", "dog"], tower=tower)
        assert again is first
    # A new tuple holding the same template callables is the same template set.
    assert _get(classifier, ["cat", "dog"], templates=tuple(TEMPLATES), tower=tower) is first
    assert classifier.num_encodings == 1
    assert classifier.num_texts_encoded == 4
    assert len(tower.batches) == 1

    _get(classifier, ["cat", "dog"], key="context", tower=tower)
    assert classifier.num_encodings == 2
    _get(classifier, ["cat", "dog"], templates=TEMPLATES[:1], tower=tower)
    assert classifier.num_encodings == 3
    # Same key with another vocabulary: re-encoded, not a stale hit.
    assert _get(classifier, ["dog"], tower=tower).shape == (1, 2)
    assert classifier.num_encodings == 4
    assert len(classifier) == 3

    classifier.clear()
    assert len(classifier) == 0
    _get(classifier, ["cat", "dog"], tower=tower)
    assert classifier.num_encodings == 5


def test_encodes_in_chunks_without_grad():
    tower = FakeTower()
    chunked = TextClassifier(chunk_size=3).get(
        "k", ["cat", "dog", "car, cars"], TEMPLATES, tower.encode_text, tower.tokenizer
    )
    # 2 + 2 + 4 prompts in chunks of 3; the third chunk starts inside "car, cars".
    assert tower.batches == [3, 3, 2]
    assert tower.grad_enabled == [False, False, False]
    whole = _get(TextClassifier(), ["cat", "dog", "car, cars"])
    torch.testing.assert_close(chunked, whole)


def test_real_tokenizer_and_a_small_tower():
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(49408, 8)

    def encode_text(tokens):
        return embedding(tokens).mean(dim=1)

    classifier = TextClassifier()
    emb = classifier.get("t", ["cat", "traffic light"], TEMPLATES, encode_text, build_tokenizer(77))
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))
    assert not emb.requires_grad
    assert classifier.num_texts_encoded == 4


def test_vocabulary_errors():
    with pytest.raises(ValueError, match="empty"):
        _get(TextClassifier(), [])
    with pytest.raises(ValueError, match="index 1"):
        _get(TextClassifier(), ["cat", "  "])
    with pytest.raises(ValueError, match="index 1"):
        _get(TextClassifier(), ["cat", []])
    with pytest.raises(ValueError, match="index 0"):
        _get(TextClassifier(), ["cat, "])
    with pytest.raises(ValueError, match="template"):
        _get(TextClassifier(), ["cat"], templates=())


def test_duplicate_names_warn_and_stay_separate():
    with pytest.warns(UserWarning, match="'cat'"):
        emb = _get(TextClassifier(), ["cat", "dog", "cat"])
    assert emb.shape == (3, 2)
    torch.testing.assert_close(emb[0], emb[2])


def test_split_class_names():
    assert split_class_names(["tv, monitor", ["car", " cars "], "cat"]) == [
        ["tv", "monitor"],
        ["car", "cars"],
        ["cat"],
    ]
    with pytest.raises(ValueError, match="list of names"):
        split_class_names("cat")


def test_class_names_from_metadata_with_background():
    meta = Metadata(
        name="voc_test", stuff_classes=["background", "aeroplane", "tv, monitor"], background_threshold=0.95
    )
    names, has_background, threshold = class_names_from_metadata(meta)
    assert names == [["aeroplane"], ["tv", "monitor"]]
    assert has_background is True and threshold == 0.95


def test_class_names_from_metadata_prefers_synonyms():
    meta = Metadata(
        name="ade_test",
        stuff_classes=["wall", "car, auto"],
        stuff_synonyms=[["wall", "walls"], ["car"]],
        background_threshold=None,
    )
    names, has_background, threshold = class_names_from_metadata(meta)
    assert names == [["wall", "walls"], ["car"]]
    assert has_background is False and threshold is None


def test_class_names_from_metadata_errors():
    with pytest.raises(ValueError, match="stuff_synonyms has 1"):
        class_names_from_metadata(Metadata(name="a", stuff_classes=["x", "y"], stuff_synonyms=[["x"]]))
    with pytest.raises(ValueError, match="no stuff_classes"):
        class_names_from_metadata(Metadata(name="b"))
    with pytest.raises(ValueError, match="'c'.*index 1"):
        class_names_from_metadata(
            Metadata(name="c", stuff_classes=["background", "x", ""], background_threshold=0.5)
        )
