import random

import pytest

from groupvit_d2.data.text import build_labels, get_templates, label_candidates, load_vocabulary

SIMPLE = get_templates("simple")  # "a photo of a {}."


class FixedExtractor:
    def __init__(self, nouns, phrases=()):
        self._nouns, self._phrases = list(nouns), list(phrases)

    def nouns(self, text):
        return list(self._nouns)

    def noun_phrases(self, text):
        return list(self._phrases)


def test_fill_caption_repeats_the_caption_unprompted():
    caption = " A dog on a sofa. "
    labels = build_labels(
        caption,
        3,
        fill="caption",
        rng=random.Random(0),
        templates=SIMPLE,
        extractor=FixedExtractor(["Dog"]),
    )
    assert labels.raw == ["dog", "A dog on a sofa.", "A dog on a sofa."]
    assert labels.texts == ["a photo of a dog.", "A dog on a sofa.", "A dog on a sofa."]
    assert labels.mask == [True, True, True]


def test_fill_pad_gives_empty_masked_labels():
    labels = build_labels(
        "a dog",
        3,
        fill="pad",
        rng=random.Random(0),
        templates=SIMPLE,
        extractor=FixedExtractor(["dog"]),
    )
    assert labels.raw == ["dog", "", ""]
    assert labels.texts == ["a photo of a dog.", "", ""]
    assert labels.mask == [True, False, False]
    empty = build_labels("no nouns here", 2, fill="pad", extractor=FixedExtractor([]))
    assert empty.raw == ["", ""] and empty.mask == [False, False]


def test_k_distinct_labels_each_with_one_template():
    templates = get_templates("full")
    outputs = {}
    nouns = ["dog", "ball", "grass", "tree", "dog"]
    for seed in range(30):
        labels = build_labels(
            "caption",
            3,
            rng=random.Random(seed),
            templates=templates,
            extractor=FixedExtractor(nouns),
        )
        assert len(labels.raw) == 3 and len(set(labels.raw)) == 3
        assert set(labels.raw) <= {"dog", "ball", "grass", "tree"}
        for raw, text in zip(labels.raw, labels.texts):
            assert text in {t(raw) for t in templates}
        outputs[seed] = labels
    # Sampling covers every candidate and varies the templates.
    assert {r for lab in outputs.values() for r in lab.raw} == {"dog", "ball", "grass", "tree"}
    assert len({lab.texts[0] for lab in outputs.values()}) > 5
    # Same generator state, same labels.
    again = build_labels(
        "caption", 3, rng=random.Random(7), templates=templates, extractor=FixedExtractor(nouns)
    )
    assert again == outputs[7]


def test_sources_are_pooled_without_duplicates():
    extractor = FixedExtractor(["dog", "ball"], ["red ball", "dog"])
    assert label_candidates(
        "a dog and a red ball", ("nouns", "noun_phrases", "caption"), extractor
    ) == [
        ("dog", "nouns"),
        ("ball", "nouns"),
        ("red ball", "noun_phrases"),
        ("a dog and a red ball", "caption"),
    ]
    labels = build_labels(
        "a dog and a red ball",
        5,
        sources=("noun_phrases", "nouns", "caption"),
        fill="pad",
        rng=random.Random(1),
        templates=SIMPLE,
        extractor=extractor,
    )
    assert sorted(r for r in labels.raw if r) == ["a dog and a red ball", "ball", "dog", "red ball"]
    assert labels.mask.count(True) == 4
    # The caption, picked as a label, is used as it is.
    i = labels.raw.index("a dog and a red ball")
    assert labels.texts[i] == "a dog and a red ball"


def test_vocabulary_labels_come_first():
    extractor = FixedExtractor(["photo", "dog", "field"], ["red ball"])
    vocabulary = {"dog", "ball"}
    for seed in range(10):
        one = build_labels(
            "c", 1, vocabulary=vocabulary, rng=random.Random(seed), extractor=extractor
        )
        assert one.raw == ["dog"]
        two = build_labels(
            "c",
            2,
            sources=("nouns", "noun_phrases"),
            vocabulary=vocabulary,
            rng=random.Random(seed),
            extractor=extractor,
        )
        assert sorted(two.raw) == ["dog", "red ball"]  # a phrase counts by its last word
        three = build_labels(
            "c", 3, vocabulary=vocabulary, rng=random.Random(seed), extractor=extractor
        )
        assert three.raw[0] == "dog" and set(three.raw[1:]) == {"photo", "field"}
    strict = build_labels(
        "c",
        3,
        fill="pad",
        vocabulary=vocabulary,
        strict_vocabulary=True,
        rng=random.Random(0),
        extractor=extractor,
    )
    assert strict.raw == ["dog", "", ""] and strict.mask == [True, False, False]


def test_bad_arguments():
    with pytest.raises(ValueError, match="LABEL_FILL"):
        build_labels("a dog", 3, fill="zeros", extractor=FixedExtractor(["dog"]))
    with pytest.raises(ValueError, match="LABEL_SOURCES"):
        build_labels("a dog", 3, sources=("verbs",), extractor=FixedExtractor(["dog"]))
    with pytest.raises(ValueError, match="noun extractor"):
        build_labels("a dog", 3, sources=("nouns",))
    # The caption alone needs no extractor.
    assert build_labels("a dog", 2, sources=("caption",), fill="pad").raw == ["a dog", ""]


def test_load_vocabulary(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("# curated\nDog\n  tennis   ball \n\ncat # pet\n")
    assert load_vocabulary(str(path)) == {"dog", "tennis ball", "cat"}
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="holds no label"):
        load_vocabulary(str(tmp_path / "empty.txt"))
    with pytest.raises(FileNotFoundError, match="LABEL_VOCABULARY"):
        load_vocabulary(str(tmp_path / "missing.txt"))


def test_stopwords_are_never_labels():
    extractor = FixedExtractor(["photo", "dog", "view"], ["a photo", "red dog", "nice view"])
    assert label_candidates("c", ("nouns", "noun_phrases"), extractor, stopwords={"photo", "view"}) == [
        ("dog", "nouns"), ("red dog", "noun_phrases"),
    ]
    for seed in range(10):
        labels = build_labels("a photo of a dog", 3, fill="pad", rng=random.Random(seed),
                              extractor=extractor, stopwords={"photo", "view"})
        assert labels.raw[0] == "dog" and labels.mask == [True, False, False]
