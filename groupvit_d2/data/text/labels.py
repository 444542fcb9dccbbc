"""Labels of the multi-label contrastive loss: K texts drawn from a caption (GroupViT sec. 3.2).

As in the official code (WordAugTokenizeWrapper in datasets/builder.py), the candidates are sampled
without replacement and each picked word gets its own random prompt template; when the caption
yields fewer than K, the caption itself fills the rest unprompted. The thesis alternative pads with
empty labels that carry no loss (mask False).
"""

import logging
import os
import random
from typing import List, NamedTuple

logger = logging.getLogger(__name__)

LABEL_SOURCES = ("nouns", "noun_phrases", "caption")
FILL_MODES = ("caption", "pad")
PAD_LABEL = ""


class Labels(NamedTuple):
    """K labels of one caption.

    raw: the label strings before prompting (lower case; the caption itself for a caption label;
        "" for a pad). Equal raw strings in different images name the same thing, which the
        non-noisy loss treats as positives.
    texts: what the text encoder reads: a prompted label, the caption as is, or "" for a pad.
    mask: True for a real label, False for a pad.
    """

    raw: List[str]
    texts: List[str]
    mask: List[bool]


def _normalise(label):
    return " ".join(label.lower().split())


def label_candidates(caption, sources=("nouns",), extractor=None, stopwords=()):
    """The distinct candidate labels of `caption`, source by source in the order of `sources`.

    Nouns in `stopwords` (lower case), and noun phrases whose last word is one, are left out.

    Returns a list of (raw label, source) pairs; nouns and noun phrases are lower-cased.
    """
    caption = caption.strip()
    out, seen = [], set()
    for source in sources:
        if source not in LABEL_SOURCES:
            raise ValueError(
                f"INPUT.IMAGE_TEXT.LABEL_SOURCES has {source!r}; expected a subset of {LABEL_SOURCES}"
            )
        if source == "caption":
            words = [caption] if caption else []
        else:
            if extractor is None:
                raise ValueError(f"label source {source!r} needs a noun extractor")
            words = (
                extractor.nouns(caption) if source == "nouns" else extractor.noun_phrases(caption)
            )
            words = [_normalise(w) for w in words]
            if stopwords:
                words = [w for w in words if w.split(" ")[-1] not in stopwords]
        for word in words:
            if word and word not in seen:
                seen.add(word)
                out.append((word, source))
    return out


def _in_vocabulary(label, source, vocabulary):
    if source == "caption":
        return False
    return label in vocabulary or label.rsplit(" ", 1)[-1] in vocabulary


def build_labels(
    caption,
    k,
    sources=("nouns",),
    fill="caption",
    vocabulary=None,
    rng=None,
    *,
    templates=None,
    extractor=None,
    strict_vocabulary=False,
    stopwords=(),
):
    """Draw `k` labels from `caption` and prompt them.

    Args:
        caption (str): the caption.
        k (int): number of labels (K; 3 in the paper, 5 in the thesis).
        sources: label sources among "nouns", "noun_phrases" and "caption"; their distinct candidates
            are pooled and `k` of them sampled without replacement.
        fill: "caption" repeats the caption when there are fewer than `k` candidates (official
            code); "pad" leaves empty labels with mask False (thesis).
        vocabulary: optional set of allowed lower-case labels (a curated vocabulary). Candidates in it
            (a phrase counts when it or its last word is in it) are drawn first; the others only
            fill the remaining places (thesis), or never when `strict_vocabulary`.
        rng: a `random.Random` (default: the module-level `random`, which DataLoader workers seed).
        templates: sequence of callables `str -> str` (`get_templates(name)`); one is drawn per
            noun / noun phrase label. None leaves labels unprompted.
        extractor: a NounExtractor (needed for the "nouns" and "noun_phrases" sources).
        strict_vocabulary: drop candidates outside `vocabulary` instead of using them last.
        stopwords: lower-case words never used as labels (see `label_candidates`).

    Returns:
        Labels(raw, texts, mask), each a list of length `k`.
    """
    if fill not in FILL_MODES:
        raise ValueError(f"INPUT.IMAGE_TEXT.LABEL_FILL={fill!r}; expected one of {FILL_MODES}")
    if k < 0:
        raise ValueError(f"the number of labels must be >= 0, got {k}")
    rng = rng or random
    candidates = label_candidates(caption, sources, extractor, frozenset(stopwords))
    if vocabulary:
        preferred = [c for c in candidates if _in_vocabulary(c[0], c[1], vocabulary)]
        others = (
            []
            if strict_vocabulary
            else [c for c in candidates if not _in_vocabulary(c[0], c[1], vocabulary)]
        )
    else:
        preferred, others = candidates, []
    picked = rng.sample(preferred, min(k, len(preferred)))
    if len(picked) < k and others:
        picked += rng.sample(others, min(k - len(picked), len(others)))

    raw, texts, mask = [], [], []
    for label, source in picked:
        raw.append(label)
        # The caption is a sentence already: the official code never prompts it.
        texts.append(
            label if source == "caption" or not templates else rng.choice(templates)(label)
        )
        mask.append(True)
    missing = k - len(picked)
    if fill == "caption":
        caption = caption.strip()
        raw += [caption] * missing
        texts += [caption] * missing
        mask += [True] * missing
    else:
        raw += [PAD_LABEL] * missing
        texts += [PAD_LABEL] * missing
        mask += [False] * missing
    return Labels(raw, texts, mask)


def load_vocabulary(path):
    """Read a curated label vocabulary: one label a line, '#' starts a comment; lower-cased."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"INPUT.IMAGE_TEXT.LABEL_VOCABULARY={path!r}: no such file (expected one label a line)"
        )
    vocabulary = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            label = _normalise(line.split("#", 1)[0])
            if label:
                vocabulary.add(label)
    if not vocabulary:
        raise ValueError(f"INPUT.IMAGE_TEXT.LABEL_VOCABULARY={path!r} holds no label")
    logger.info("Label vocabulary: %d labels from %s", len(vocabulary), path)
    return frozenset(vocabulary)
