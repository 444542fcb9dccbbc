import nltk
import pytest

from groupvit_d2.data.text import nouns as nouns_module
from groupvit_d2.data.text.nouns import (
    OFFICIAL_WORD_TAGS,
    NltkTagger,
    NounExtractor,
    build_noun_extractor,
    find_wordnet_dir,
    tokenize,
)

WORDNET_DIR = find_wordnet_dir()
needs_wordnet = pytest.mark.skipif(
    WORDNET_DIR is None,
    reason="no WordNet 3.0 dict folder (apt-get install wordnet-base; tools/install_deps.sh does)",
)


class DictTagger:
    """Tags from a fixed word -> tag table (NN for unknown words)."""

    name = "dict"

    def __init__(self, table):
        self.table = table

    def __call__(self, tokens):
        return [(t, self.table.get(t.lower(), "NN")) for t in tokens]


@pytest.fixture
def fresh_extractors():
    build_noun_extractor.cache_clear()
    yield
    build_noun_extractor.cache_clear()


def test_tokenize_splits_sentences_and_punctuation():
    assert tokenize("A dog's ball, on the grass. It runs!") == [
        "A",
        "dog",
        "'s",
        "ball",
        ",",
        "on",
        "the",
        "grass",
        ".",
        "It",
        "runs",
        "!",
    ]
    assert tokenize("   ") == []


def test_nltk_path_uses_pos_tag_noun_tags(monkeypatch, fresh_extractors):
    table = {
        "a": "DT",
        "man": "NN",
        "riding": "VBG",
        "horses": "NNS",
        "near": "IN",
        "paris": "NNP",
        "the": "DT",
        "alps": "NNPS",
        ".": ".",
    }
    calls = []

    def fake_pos_tag(tokens):
        calls.append(list(tokens))
        return [(t, table.get(t.lower(), "NN")) for t in tokens]

    monkeypatch.setattr(nltk, "pos_tag", fake_pos_tag)
    extractor = build_noun_extractor("nltk")
    assert isinstance(extractor.tagger, NltkTagger)
    caption = "A man riding horses near Paris the Alps."
    assert extractor.nouns(caption) == ["man", "horses", "Paris", "Alps"]
    assert calls[-1] == tokenize(caption)
    # The official tag set also takes verbs but not NNPS.
    official = NounExtractor(NltkTagger(), OFFICIAL_WORD_TAGS)
    assert official.nouns(caption) == ["man", "riding", "horses", "Paris"]
    # auto picks the tagger when it works.
    assert isinstance(build_noun_extractor("auto").tagger, NltkTagger)


def test_nltk_kind_without_tagger_data_raises(monkeypatch, fresh_extractors):
    def missing(tokens):
        raise LookupError("Resource 'averaged_perceptron_tagger_eng' not found.")

    monkeypatch.setattr(nltk, "pos_tag", missing)
    with pytest.raises(RuntimeError, match="averaged_perceptron_tagger_eng"):
        build_noun_extractor("nltk")


def test_unknown_kind_and_bad_wordnet_dir(tmp_path, fresh_extractors):
    with pytest.raises(ValueError, match="NOUN_EXTRACTOR"):
        build_noun_extractor("spacy")
    with pytest.raises(FileNotFoundError, match="WORDNET_DIR"):
        find_wordnet_dir(str(tmp_path))


def test_noun_phrase_chunks():
    tagger = DictTagger(
        {
            "a": "DT",
            "big": "JJ",
            "red": "JJ",
            "ball": "NN",
            "and": "CC",
            "two": "CD",
            "dogs": "NNS",
            "running": "VBG",
            ".": ".",
            "the": "DT",
            "sky": "NN",
            "is": "VBZ",
            "blue": "JJ",
            "tennis": "NN",
            "court": "NN",
        }
    )
    extractor = NounExtractor(tagger)
    assert extractor.noun_phrases("a big red ball and two dogs running.") == [
        "big red ball",
        "dogs",
    ]
    # A trailing adjective is not part of a chunk; a repeated chunk is listed once.
    assert extractor.noun_phrases("the sky is blue and the sky") == ["sky"]
    assert extractor.noun_phrases("a tennis court.") == ["tennis court"]
    assert extractor.noun_phrases("") == []


@needs_wordnet
def test_wordnet_tagger_tags(fresh_extractors, monkeypatch):
    monkeypatch.setattr(nouns_module, "nltk_tagger_available", lambda: (False, "test"))
    extractor = build_noun_extractor("auto")
    assert extractor.name == "wordnet"
    tags = dict(extractor.tag("The children are riding big horses in Paris and it can rain."))
    assert (
        tags["The"] == "DT" and tags["are"] == "VBP" and tags["in"] == "IN" and tags["it"] == "PRP"
    )
    assert tags["can"] == "MD" and tags["and"] == "CC"
    assert tags["children"] == "NNS" and tags["horses"] == "NNS"
    assert tags["riding"] == "VBG"
    assert tags["big"] == "JJ"
    assert tags["Paris"] == "NNP"
    assert tags["rain"] == "VB"  # after a modal


@needs_wordnet
def test_wordnet_nouns_and_phrases(fresh_extractors):
    extractor = build_noun_extractor("wordnet")
    assert extractor.nouns("Two dogs playing with a red ball in the grass.") == [
        "dogs",
        "ball",
        "grass",
    ]
    assert extractor.nouns("A man riding a horse on a dirt road.") == [
        "man",
        "horse",
        "dirt",
        "road",
    ]
    assert extractor.nouns("There is a cat sitting on top of the table.") == ["cat", "top", "table"]
    # "a walk" is a noun after a determiner, "walk" a verb after "to".
    assert extractor.nouns("they like a walk") == ["walk"]
    assert extractor.nouns("they like to walk") == []
    assert extractor.noun_phrases(
        "a photo of a red ball next to a small house on a grassy field"
    ) == ["photo", "red ball", "small house", "grassy field"]
    # Words WordNet does not know default to nouns, as unseen words do for the perceptron tagger.
    assert extractor.nouns("a selfie") == ["selfie"]


def test_tagging_is_cached_per_text_and_bounded():
    calls = []

    class CountingTagger(DictTagger):
        def __call__(self, tokens):
            calls.append(list(tokens))
            return super().__call__(tokens)

    extractor = NounExtractor(CountingTagger({"a": "DT", "red": "JJ", "on": "IN", "the": "DT"}))
    caption = "a red ball on the grass"
    first = extractor.nouns(caption)
    assert first == ["ball", "grass"]
    # The caller may change what it gets back without touching the cache.
    first.append("intruder")
    assert extractor.nouns(caption) == ["ball", "grass"]
    assert extractor.noun_phrases(caption) == ["red ball", "grass"]
    assert len(calls) == 1

    extractor.CACHE_SIZE = 2
    extractor.nouns("a kite")
    extractor.nouns("a moon")
    assert len(extractor._tagged) <= 2
    assert extractor.nouns(caption) == ["ball", "grass"]
