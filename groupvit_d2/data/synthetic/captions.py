"""Captions for synthetic images: varied sentences that name some (not always all) of the objects,
with words that name no class (adjectives, scenes, verbs, picture words), as web captions do."""

TEMPLATES = (
    "a photo of {objs}{scene}.",
    "{objs}{scene}.",
    "there is {objs}{scene}.",
    "a picture of {objs}{scene}{time}.",
    "an illustration showing {objs}{scene}.",
    "{objs} {verb}{scene}.",
    "look at {objs}{scene}!",
    "my drawing of {objs}{scene}",
    "a simple cartoon of {objs}{scene}",
    "close-up of {objs}{scene}{time}",
    "a colorful image with {objs}{scene}.",
    "i really like {objs}{scene}",
    "a toy scene with {objs}{scene}.",
    "someone painted {objs}{scene}.",
    "a sticker of {objs}",
    "{objs} {verb}{scene}{time}.",
    "this is {objs}{scene}.",
    "an old postcard of {objs}{scene}",
    "we saw {objs}{scene}{time}.",
    "a view of {objs}{scene}, nothing else",
)
VERBS = ("sitting", "resting", "floating", "lying", "standing", "waiting", "shown")
TIMES = (
    " in the morning",
    " at sunset",
    " on a sunny day",
    " yesterday",
    " last summer",
    " at night",
)
DISTRACTOR_ADJECTIVES = ("cute", "lovely", "shiny", "old", "funny", "nice", "beautiful", "strange")
SMALL_WORDS = ("small", "little", "tiny")
BIG_WORDS = ("big", "large", "huge")
PAIR_PATTERNS = ("{a} and {b}", "{a} next to {b}", "{a} with {b}", "{a} {rel} {b}", "{a} near {b}")
TRIPLE_PATTERNS = ("{a}, {b} and {c}", "{a} {rel} {b}, and {c}", "{a}, {b} and {c} together")


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _article(rng, word):
    r = rng.random()
    if r < 0.7:
        return "an" if word[0] in "aeiou" else "a"
    if r < 0.9:
        return "the"
    return "one" if r < 0.95 else "my"


def object_phrase(rng, obj, image_side):
    """e.g. "a small red ball": a determiner, optional words, then the category noun."""
    words = []
    if rng.random() < 0.15:
        words.append(_pick(rng, DISTRACTOR_ADJECTIVES))
    relative = obj["size"] / image_side
    if rng.random() < 0.4 and (relative < 0.17 or relative > 0.26):
        words.append(_pick(rng, SMALL_WORDS if relative < 0.17 else BIG_WORDS))
    if rng.random() < 0.5:
        words.append(obj["colour_word"])
    words.append(obj["category"])
    return _article(rng, words[0]) + " " + " ".join(words)


def relation(a, b):
    """Where object `a` is relative to `b`, from their centres (y grows downwards)."""
    dx, dy = b["center"][0] - a["center"][0], b["center"][1] - a["center"][1]
    if abs(dx) >= abs(dy):
        return "to the left of" if dx > 0 else "to the right of"
    return "above" if dy > 0 else "below"


# Share of multi-object captions that leave some objects unnamed, as web captions often do.
PARTIAL_CAPTION_PROB = 0.4


def make_caption(rng, objects, background, image_side, partial_prob=PARTIAL_CAPTION_PROB):
    """A caption naming at least one of `objects` (dicts with "category", "colour_word", "size",
    "center"); each mentioned object gets "mentioned": True. With probability `partial_prob` a
    caption of several objects names only some of them."""
    n = len(objects)
    if n > 1 and rng.random() < partial_prob:
        m = int(rng.integers(1, n))
    else:
        m = n
    order = [int(i) for i in rng.permutation(n)[:m]]
    chosen = [objects[i] for i in order]
    for obj in chosen:
        obj["mentioned"] = True
    phrases = [object_phrase(rng, o, image_side) for o in chosen]
    if m == 1:
        objs = phrases[0]
    elif m == 2:
        objs = _pick(rng, PAIR_PATTERNS).format(
            a=phrases[0], b=phrases[1], rel=relation(chosen[0], chosen[1])
        )
    else:
        objs = _pick(rng, TRIPLE_PATTERNS).format(
            a=phrases[0], b=phrases[1], c=phrases[2], rel=relation(chosen[0], chosen[1])
        )
    scene = " " + _pick(rng, background.phrases) if rng.random() < 0.6 else ""
    time = _pick(rng, TIMES) if rng.random() < 0.2 else ""
    caption = _pick(rng, TEMPLATES).format(
        objs=objs, scene=scene, time=time, verb=_pick(rng, VERBS)
    )
    if rng.random() < 0.5:
        caption = caption[0].upper() + caption[1:]
    return caption
