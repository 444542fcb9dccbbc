import pickle

import torch
from open_clip.tokenizer import SimpleTokenizer

from groupvit_d2.data.text.tokenizer import CachingTokenizer, build_tokenizer

TEXTS = ["a photo of a dog.", "A Red  ball &amp; on the grass!", "", "ball " * 40, "a photo of a dog."]


def test_caching_tokenizer_matches_open_clip():
    reference = SimpleTokenizer(context_length=32)
    tokenizer = CachingTokenizer(context_length=32)
    for _ in range(2):  # the second pass reads the cache
        out = tokenizer(TEXTS)
        assert out.dtype == torch.long and out.shape == (len(TEXTS), 32)
        assert torch.equal(out, reference(TEXTS))
    # Truncated texts still end with EOT.
    assert out[3, -1].item() == reference.eot_token_id
    assert torch.equal(tokenizer("a photo of a dog."), reference(["a photo of a dog."]))
    assert torch.equal(tokenizer(TEXTS, context_length=8), reference(TEXTS, context_length=8))


def test_cache_is_bounded_and_returns_copies():
    tokenizer = CachingTokenizer(context_length=16, cache_size=3)
    ids = tokenizer.encode("a photo of a dog.")
    ids.append(0)
    assert tokenizer.encode("a photo of a dog.") == SimpleTokenizer().encode("a photo of a dog.")
    for text in ("one", "two", "three", "four", "five"):
        tokenizer.encode(text)
        assert len(tokenizer._ids) <= 3


def test_tokenizer_survives_pickling_for_spawned_workers():
    tokenizer = build_tokenizer(32)
    tokenizer(TEXTS)
    clone = pickle.loads(pickle.dumps(tokenizer))
    assert torch.equal(clone(TEXTS), tokenizer(TEXTS))
