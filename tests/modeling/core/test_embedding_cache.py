import os

import pytest
import torch
from detectron2.modeling import build_model

from groupvit_d2.modeling.core import TextClassifier
from groupvit_d2.modeling.core import embedding_cache
from groupvit_d2.modeling.core.embedding_cache import (
    CACHE_DIR_ENV,
    default_cache_dir,
    prompts_key,
    text_tower_fingerprint,
)
from groupvit_d2.modeling.core import ClassEmbeddingStore, clear_cache

TEMPLATES = ("a photo of a {}.", "a {}.")


class CountingTower(torch.nn.Module):
    """A small text tower: bag of token embeddings. Records every text it encodes."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = torch.nn.Embedding(64, 8)
        self.texts = []

    def tokenizer(self, texts):
        self.texts.extend(texts)
        ids = [[sum(map(ord, word)) % 63 + 1 for word in text.split()][:6] for text in texts]
        return torch.tensor([row + [0] * (6 - len(row)) for row in ids])

    def encode_text(self, tokens):
        return self.embedding(tokens).sum(dim=1)


def _embed(store, names, templates=TEMPLATES, tower=None, fingerprint="weights-a"):
    tower = tower or CountingTower()
    classifier = TextClassifier(store=store)
    emb = classifier.get("voc", names, templates, tower.encode_text, tower.tokenizer, fingerprint=lambda: fingerprint)
    return emb, classifier, tower


def test_a_second_process_spends_no_text_encoder_call(tmp_path):
    store = ClassEmbeddingStore(str(tmp_path))
    first, classifier, tower = _embed(store, ["cat", "dog, puppy"])
    assert classifier.num_encodings == 1 and len(store.entries()) == 1
    # A fresh classifier (as in a new process) with the same tower: read back, nothing encoded.
    again, classifier2, tower2 = _embed(store, ["cat", "dog, puppy"])
    assert classifier2.num_encodings == 0 and classifier2.num_disk_hits == 1 and tower2.texts == []
    torch.testing.assert_close(again, first)


def test_another_checkpoint_templates_or_name_order_is_another_entry(tmp_path):
    store = ClassEmbeddingStore(str(tmp_path))
    base, _, _ = _embed(store, ["cat", "dog"])
    for kwargs in ({"fingerprint": "weights-b"}, {"templates": TEMPLATES[:1]}, {"names": ["dog", "cat"]},
                   {"names": ["cat", "dog, puppy"]}):
        names = kwargs.pop("names", ["cat", "dog"])
        emb, classifier, _ = _embed(store, names, **kwargs)
        assert classifier.num_encodings == 1, kwargs
    assert len(store.entries()) == 5
    # Swapped names give the swapped rows, not the stale entry.
    swapped, _, _ = _embed(store, ["dog", "cat"])
    torch.testing.assert_close(swapped, base.flip(0))


def test_keys_follow_weights_and_prompts():
    tower, other = CountingTower(seed=0), CountingTower(seed=1)
    fp = text_tower_fingerprint([tower])
    assert fp == text_tower_fingerprint([CountingTower(seed=0)])
    assert fp != text_tower_fingerprint([other])
    assert fp != text_tower_fingerprint([tower], extra="context_length=16")
    prompts = [(0, "a cat."), (1, "a dog.")]
    assert prompts_key(fp, prompts) != prompts_key(fp, prompts[::-1])
    assert prompts_key(fp, prompts) != prompts_key(fp, [(0, "a cat."), (0, "a dog.")])


def test_a_crash_while_writing_leaves_no_entry(tmp_path, monkeypatch):
    import safetensors.torch

    store = ClassEmbeddingStore(str(tmp_path))

    def crash(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"\x00" * 7)  # half a file
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.warns(UserWarning, match="cannot write"):
        _, classifier, _ = _embed(store, ["cat"])
    assert classifier.num_encodings == 1
    assert store.entries() == [] and os.listdir(store.folder) == []
    monkeypatch.undo()
    # Nothing half-written is read back: the next process encodes and writes a whole entry.
    _, classifier, _ = _embed(store, ["cat"])
    assert classifier.num_encodings == 1 and len(store.entries()) == 1


def test_an_unreadable_entry_is_a_miss_and_is_replaced(tmp_path):
    store = ClassEmbeddingStore(str(tmp_path))
    first, _, _ = _embed(store, ["cat", "dog"])
    (path,) = store.entries()
    with open(path, "wb") as f:
        f.write(b"not a safetensors file")
    with pytest.warns(UserWarning, match="cannot read"):
        emb, classifier, _ = _embed(store, ["cat", "dog"])
    assert classifier.num_encodings == 1
    torch.testing.assert_close(emb, first)
    assert _embed(store, ["cat", "dog"])[1].num_disk_hits == 1


def test_shared_prompts_are_encoded_once(tmp_path):
    store = ClassEmbeddingStore(str(tmp_path))
    # "car" is a synonym of two classes and the template "{}" of "car" equals the plain name.
    with pytest.warns(UserWarning, match="duplicate class names"):
        emb, classifier, tower = _embed(store, ["car, automobile", "vehicle, car"], templates=("{}", "a {}."))
    assert sorted(tower.texts) == sorted(["car", "a car.", "automobile", "a automobile.", "vehicle", "a vehicle."])
    assert classifier.num_texts_encoded == 6
    # Same means as encoding every prompt of every class.
    tower = CountingTower()
    embedded = tower.encode_text(tower.tokenizer(["car", "a car.", "automobile", "a automobile.", "vehicle",
                                                  "a vehicle."])).detach()
    means = torch.stack([embedded[:4].mean(0), embedded[[4, 5, 0, 1]].mean(0)])
    reference = torch.nn.functional.normalize(means, dim=-1)
    torch.testing.assert_close(emb, reference)


def test_cache_folder_is_configurable_and_clearable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "env"))
    assert default_cache_dir() == str(tmp_path / "env")
    _embed(ClassEmbeddingStore(), ["cat"])
    assert len(ClassEmbeddingStore().entries()) == 1
    embedding_cache.main(["--clear"])
    assert "deleted 1" in capsys.readouterr().out
    assert ClassEmbeddingStore().entries() == []
    _embed(ClassEmbeddingStore(str(tmp_path / "own")), ["cat"])
    assert clear_cache(str(tmp_path / "own")) == 1
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == str(tmp_path / "home" / ".cache" / "groupvit_d2")


def test_model_reads_its_entries_back_after_a_rebuild(tiny_cfg, tmp_path):
    tiny_cfg.TEST.CLASS_EMBEDDING_CACHE.DIR = str(tmp_path / "cfg")
    names = ["ball", "box, crate"]
    torch.manual_seed(0)
    first = build_model(tiny_cfg).eval()
    emb, _ = first.class_embeddings(class_names=names)
    torch.manual_seed(0)
    second = build_model(tiny_cfg).eval()
    again, _ = second.class_embeddings(class_names=names)
    assert second.text_classifier.num_encodings == 0 and second.text_classifier.num_disk_hits == 1
    torch.testing.assert_close(again, emb)
    assert len(ClassEmbeddingStore(str(tmp_path / "cfg")).entries()) == 1
    # Loading other text weights is another entry.
    state = {k: v + 0.01 if k.startswith("text_encoder.") and v.is_floating_point() else v
             for k, v in first.state_dict().items()}
    second.load_state_dict(state)
    second.class_embeddings(class_names=names)
    assert second.text_classifier.num_encodings == 1
    tiny_cfg.TEST.CLASS_EMBEDDING_CACHE.ENABLED = False
    assert build_model(tiny_cfg).text_classifier.store is None
