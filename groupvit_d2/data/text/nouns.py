"""Nouns and noun phrases of a caption, from Penn Treebank part-of-speech tags.

Two taggers produce the tags:

- ``"nltk"``: NLTK's averaged perceptron tagger (``nltk.pos_tag``), what the official GroupViT code
  uses. It needs the NLTK data package ``averaged_perceptron_tagger_eng``; library code never
  downloads it (``tools/install_deps.sh`` tries to, best effort).
- ``"wordnet"``: an offline lexicon tagger over the WordNet 3.0 database (Debian's ``wordnet-base``
  folder ``/usr/share/wordnet``, ``$WNSEARCHDIR``, or NLTK's ``wordnet`` corpus), read with NLTK's
  ``WordNetCorpusReader``. A token is tagged from
  1. an explicit list of English function words (determiners, pronouns, prepositions, conjunctions,
     auxiliaries, modals, number words), which WordNet does not cover or covers wrongly
     ("a" is vitamin A, "in" is inch);
  2. the parts of speech WordNet knows for the token (through ``morphy``, so plurals and
     inflections are found), choosing the one with the most sense-tagged occurrences
     (``cntlist.rev``), except that a verb or adverb reading is ruled out right after a
     determiner, possessive, number or adjective, and a noun reading is demoted right after
     "to", a modal or a personal pronoun;
  3. suffix rules for words WordNet does not know, which otherwise default to NN (NNP when
     capitalised inside a sentence), as the perceptron tagger does for unseen words.
  A noun whose WordNet base form differs from the token is NNS (dogs, children).
  It picks the same kind of words as the perceptron tagger on captions, without context beyond
  the previous token.

Both paths tokenise with NLTK's Treebank word tokenizer after a regular-expression sentence
split, which matches ``nltk.word_tokenize`` on captions without needing the ``punkt_tab`` data.
Noun phrases are chunks of the thesis grammar ``NBAR: {<NN.*|JJ>*<NN.*>}`` (nltk.RegexpParser).
"""

import functools
import io
import logging
import os
import re
import warnings

import nltk
from nltk.tokenize import NLTKWordTokenizer

from .text_cache import remember

logger = logging.getLogger(__name__)

# The tags the GroupViT paper and the thesis describe as nouns.
NOUN_TAGS = ("NN", "NNS", "NNP", "NNPS")
# The official code (datasets/builder.py, WordAugTokenizeWrapper) also takes verbs (and not NNPS).
OFFICIAL_WORD_TAGS = ("NN", "NNS", "NNP", "VBG", "VB", "VBD", "VBN", "VBP", "VBZ")
NOUN_PHRASE_GRAMMAR = "NBAR: {<NN.*|JJ>*<NN.*>}"
EXTRACTOR_KINDS = ("auto", "nltk", "wordnet")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,:/]\d+)*(?:st|nd|rd|th|s)?$")
_WORD_TOKENIZER = NLTKWordTokenizer()


def tokenize(text):
    """Split `text` into word tokens (NLTK Treebank rules, one pass per sentence)."""
    tokens = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if sentence:
            tokens.extend(_WORD_TOKENIZER.tokenize(sentence))
    return tokens


def _closed_class_lexicon():
    groups = {
        "DT": "a an the this that these those each every some any no all both either neither another "
        "such half",
        "WDT": "which whatever whichever",
        "WP": "who whom what whoever",
        "WP$": "whose",
        "WRB": "when where why how whenever wherever",
        "PRP": "i me you he him she it we us they them myself yourself himself herself itself "
        "ourselves yourselves themselves",
        "PRP$": "my your his her its our their",
        # Penn Treebank tags indefinite pronouns as nouns.
        "NN": "someone something anyone anything everyone everything nobody nothing somebody "
        "anybody everybody",
        "IN": "about above across after against along amid among amongst around at atop before behind "
        "below beneath beside besides between beyond by despite down during except for from in "
        "inside into like near of off on onto out outside over past per since than through "
        "throughout till toward towards under underneath unlike until up upon via with within "
        "without because although though while if unless whereas whether as",
        "TO": "to",
        "CC": "and or but nor yet & plus",
        "MD": "can could may might must shall should will would 'll 'd ca wo",
        "VBP": "am 'm are 're have 've do",
        "VBZ": "is has does",
        "VBD": "was were had did",
        "VB": "be",
        "VBN": "been",
        "VBG": "being having",
        "RB": "not n't very too also just only here then now quite rather almost really so even still "
        "ever never always often sometimes together away back again else",
        "CD": "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
        "ninety hundred thousand million billion",
        "UH": "yes oh wow hello hi hey please ok okay",
    }
    return {word: tag for tag, words in groups.items() for word in words.split()}


CLOSED_CLASS = _closed_class_lexicon()
_BE_FORMS = {"is", "are", "was", "were", "be", "been", "being", "am", "'s", "'re", "'m"}
_HAVE_FORMS = {"has", "have", "had", "having", "'ve"}
_PUNCT_TAGS = {
    ".": ".",
    "!": ".",
    "?": ".",
    ",": ",",
    ":": ":",
    ";": ":",
    "--": ":",
    "...": ":",
    "``": "``",
    "''": "''",
    "(": "(",
    ")": ")",
    "[": "(",
    "]": ")",
    "$": "$",
    "#": "#",
}
# After these tags a word is not a verb or adverb ("a walk", "the play", "two runs").
_NOMINAL_CONTEXT = {"DT", "PRP$", "CD", "POS", "JJ", "JJR", "JJS"}
# After these a word is rarely a noun ("to walk", "can play", "they run").
_VERBAL_CONTEXT = {"TO", "MD", "PRP"}
_ADJECTIVE_SUFFIXES = (
    "ous",
    "ful",
    "ive",
    "able",
    "ible",
    "ical",
    "ish",
    "less",
    "ic",
    "al",
    "ary",
)


class NltkTagger:
    """`list[str] -> list[(token, tag)]` with NLTK's averaged perceptron tagger (needs its data)."""

    name = "nltk"

    def __call__(self, tokens):
        return nltk.pos_tag(tokens)


def _wordnet_reader_class():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class FolderWordNetReader(WordNetCorpusReader):
        """WordNetCorpusReader for a plain WordNet 3.0 ``dict`` folder.

        Debian's wordnet-base leaves out ``lexnames`` (the fixed list of the 45 lexicographer file
        names, WordNet's lexnames(5WN)); it is served from memory when absent. The WordNet-version
        mapping for Open Multilingual Wordnet data is not needed and would look for NLTK's own
        wordnet corpus, so it is skipped.
        """

        def open(self, file):
            if file == "lexnames" and not os.path.exists(os.path.join(self._root.path, file)):
                return io.StringIO(_LEXNAMES)
            return super().open(file)

        def map_wn(self, version="wordnet"):
            return None

    return FolderWordNetReader


def _lexnames_text():
    noun_files = (
        "Tops act animal artifact attribute body cognition communication event feeling food "
        "group location motive object person phenomenon plant possession process quantity "
        "relation shape state substance time"
    ).split()
    verb_files = (
        "body change cognition communication competition consumption contact creation "
        "emotion motion perception possession social stative weather"
    ).split()
    names = [("adj.all", 3), ("adj.pert", 3), ("adv.all", 4)]
    names += [(f"noun.{n}", 1) for n in noun_files] + [(f"verb.{v}", 2) for v in verb_files]
    names += [("adj.ppl", 3)]
    return "".join(f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in enumerate(names))


_LEXNAMES = _lexnames_text()


def _is_wordnet_dir(path):
    return bool(path) and all(
        os.path.isfile(os.path.join(path, f))
        for f in ("index.noun", "data.noun", "index.verb", "data.adj")
    )


def find_wordnet_dir(wordnet_dir=""):
    """The WordNet 3.0 dict folder to read: `wordnet_dir` when given (an error if it is not one),
    else the first of $WNSEARCHDIR, /usr/share/wordnet, /usr/local/WordNet-3.0/dict and NLTK's
    unpacked ``corpora/wordnet``; None when there is none."""
    if wordnet_dir:
        if not _is_wordnet_dir(wordnet_dir):
            raise FileNotFoundError(
                f"INPUT.IMAGE_TEXT.WORDNET_DIR={wordnet_dir!r} is not a WordNet 3.0 dict folder "
                "(expected index.noun, data.noun, index.verb, data.adj in it)"
            )
        return os.path.abspath(wordnet_dir)
    candidates = [
        os.environ.get("WNSEARCHDIR", ""),
        "/usr/share/wordnet",
        "/usr/local/WordNet-3.0/dict",
    ]
    try:
        candidates.append(str(nltk.data.find("corpora/wordnet")))
    except (LookupError, OSError, ValueError):
        pass
    for path in candidates:
        if _is_wordnet_dir(path):
            return os.path.abspath(path)
    return None


@functools.lru_cache(maxsize=2)
def load_wordnet(wordnet_dir):
    """Open the WordNet dict folder `wordnet_dir` with NLTK (cached; takes a few seconds)."""
    # NLTK only reads corpora below its data path: adding the folder is how it is authorised.
    if wordnet_dir not in nltk.data.path:
        nltk.data.path.append(wordnet_dir)
    with warnings.catch_warnings():
        # "The multilingual functions are not available": no Open Multilingual Wordnet is needed.
        warnings.simplefilter("ignore", UserWarning)
        return _wordnet_reader_class()(wordnet_dir, None)


class WordNetTagger:
    """`list[str] -> list[(token, tag)]`: the offline lexicon tagger described in the module doc.

    Args:
        wordnet: an NLTK WordNetCorpusReader (see `load_wordnet`).
    """

    name = "wordnet"

    def __init__(self, wordnet):
        self.wordnet = wordnet
        self.counts = _sense_counts(wordnet)
        self._entries = {}

    def entry(self, word):
        """{pos: (base form, sense-tagged count)} for the lower-case `word`, pos in "n", "v", "a", "r"."""
        cached = self._entries.get(word)
        if cached is not None:
            return cached
        out = {}
        for pos in "nvar":
            base = self.wordnet.morphy(word, pos)
            if base is not None:
                out[pos] = (base, self.counts.get((base, pos), 0))
        if len(self._entries) < 200000:
            self._entries[word] = out
        return out

    def __call__(self, tokens):
        tagged = []
        sentence_start = True
        for i, token in enumerate(tokens):
            prev_tag = tagged[-1][1] if tagged else None
            prev_low = tokens[i - 1].lower() if i > 0 else ""
            next_low = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
            tag = self._tag(token, prev_tag, prev_low, next_low, sentence_start)
            tagged.append((token, tag))
            sentence_start = tag == "."
        return tagged

    def _tag(self, token, prev_tag, prev_low, next_low, sentence_start):
        low = token.lower()
        if low in _PUNCT_TAGS:
            return _PUNCT_TAGS[low]
        if not any(ch.isalnum() for ch in token):
            return "SYM"
        if _NUMBER.match(low):
            return "CD"
        if low in ("'s", "'"):
            return "VBZ" if prev_tag in ("PRP", "EX", "WP") and low == "'s" else "POS"
        if low == "there":
            return "EX" if next_low in _BE_FORMS else "RB"
        if low in CLOSED_CLASS:
            return CLOSED_CLASS[low]
        capitalised = token[:1].isupper() and not sentence_start
        entry = self.entry(low)
        if not entry:
            return "NNP" if capitalised else _suffix_tag(low)
        if capitalised and "n" in entry:
            return "NNPS" if entry["n"][0] != low and low.endswith("s") else "NNP"

        scores = {pos: count + 1.0 for pos, (_, count) in entry.items()}
        if prev_tag in _NOMINAL_CONTEXT:
            for pos in ("v", "r"):
                if pos in scores and len(scores) > 1:
                    scores[pos] = 0.0
        elif prev_tag in _VERBAL_CONTEXT and "n" in scores and "v" in scores:
            scores["n"] *= 0.1
        # Ties go to the noun, then adjective, verb, adverb.
        pos = max("narv", key=lambda p: (scores.get(p, -1.0), -"narv".index(p)))
        base = entry[pos][0]
        if pos == "n":
            return "NNS" if base != low else "NN"
        if pos == "a":
            if base != low and low.endswith("est"):
                return "JJS"
            if base != low and low.endswith("er"):
                return "JJR"
            return "JJ"
        if pos == "r":
            return "RB"
        if low.endswith("ing"):
            return "VBG"
        if base == low:
            return "VB"
        if low.endswith("s") and not low.endswith("ss"):
            return "VBZ"
        return "VBN" if prev_low in _BE_FORMS or prev_low in _HAVE_FORMS else "VBD"


def _sense_counts(wordnet):
    """{(lemma, pos): occurrences in the sense-tagged corpus} from WordNet's cntlist.rev.

    Its lines are "sense_key sense_number tag_cnt", a sense key being "lemma%ss_type:...". One pass
    here replaces a file search per lemma through NLTK (tens of milliseconds per new word).
    """
    pos_of_ss_type = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}
    counts = {}
    try:
        fp = wordnet.open("cntlist.rev")
    except OSError:
        logger.warning(
            "WordNet folder %s has no cntlist.rev: parts of speech are chosen without "
            "frequencies",
            wordnet.root,
        )
        return counts
    with fp:
        for line in fp:
            fields = line.split()
            if len(fields) != 3 or "%" not in fields[0]:
                continue
            lemma, _, rest = fields[0].partition("%")
            pos = pos_of_ss_type.get(rest[:1])
            if pos is not None and fields[2].isdigit():
                key = (lemma.lower(), pos)
                counts[key] = counts.get(key, 0) + int(fields[2])
    return counts


def _suffix_tag(low):
    if low.endswith("ly"):
        return "RB"
    if low.endswith("ing"):
        return "VBG"
    if low.endswith("ed"):
        return "VBN"
    if low.endswith(_ADJECTIVE_SUFFIXES):
        return "JJ"
    if low.endswith("s") and not low.endswith("ss") and len(low) > 3:
        return "NNS"
    return "NN"


class NounExtractor:
    """Nouns and noun phrases of a text, from a tagger `list[str] -> list[(token, tag)]`.

    Args:
        tagger: NltkTagger or WordNetTagger (anything with that call signature).
        tags: the tags that count as nouns for `nouns` (default: the noun tags NN, NNS, NNP, NNPS).
    """

    # Captions come back every epoch; tagging them again cost a sixth of the mapper's time.
    CACHE_SIZE = 1 << 16

    def __init__(self, tagger, tags=NOUN_TAGS):
        self.tagger = tagger
        self.tags = frozenset(tags)
        self._chunker = nltk.RegexpParser(NOUN_PHRASE_GRAMMAR)
        self._tagged = {}

    @property
    def name(self):
        return getattr(self.tagger, "name", type(self.tagger).__name__)

    def tag(self, text):
        """[(token, Penn tag)] for `text`."""
        return list(remember(self._tagged, text, self.CACHE_SIZE, self._tag_uncached))

    def _tag_uncached(self, text):
        tokens = tokenize(text)
        return tuple(self.tagger(tokens)) if tokens else ()

    def nouns(self, text):
        """Tokens of `text` whose tag is in `tags`, in order, duplicates kept (as in the caption)."""
        return [
            tok for tok, tag in self.tag(text) if tag in self.tags and any(c.isalpha() for c in tok)
        ]

    def noun_phrases(self, text):
        """Chunks of NOUN_PHRASE_GRAMMAR in `text` (adjectives and nouns ending with a noun), in order,
        each once."""
        tagged = self.tag(text)
        if not tagged:
            return []
        phrases = []
        for subtree in self._chunker.parse(tagged):
            if isinstance(subtree, nltk.Tree) and subtree.label() == "NBAR":
                phrase = " ".join(tok for tok, _ in subtree.leaves())
                if phrase not in phrases:
                    phrases.append(phrase)
        return phrases


def nltk_tagger_available():
    """(True, "") when nltk.pos_tag works here, else (False, why)."""
    try:
        nltk.pos_tag(["a", "dog"])
    except (LookupError, OSError, ValueError) as e:
        lines = [ln.strip() for ln in str(e).splitlines() if any(c.isalpha() for c in ln)]
        return False, f"{type(e).__name__}: {lines[0] if lines else ''}".strip()
    return True, ""


@functools.lru_cache(maxsize=8)
def build_noun_extractor(kind="auto", wordnet_dir="", tags=NOUN_TAGS):
    """Build (once per arguments) the NounExtractor the config asks for.

    Args:
        kind: "nltk" (NLTK perceptron tagger, needs its data), "wordnet" (offline lexicon tagger,
            needs a WordNet 3.0 dict folder) or "auto" (nltk when its tagger data is installed,
            else wordnet). Config key INPUT.IMAGE_TEXT.NOUN_EXTRACTOR.
        wordnet_dir: WordNet dict folder; "" searches the usual places (`find_wordnet_dir`).
        tags: tuple of tags that count as nouns.
    """
    if kind not in EXTRACTOR_KINDS:
        raise ValueError(
            f"INPUT.IMAGE_TEXT.NOUN_EXTRACTOR={kind!r}; expected one of {EXTRACTOR_KINDS}"
        )
    tags = tuple(tags)
    why_not_nltk = ""
    if kind in ("auto", "nltk"):
        ok, why_not_nltk = nltk_tagger_available()
        if ok:
            logger.info(
                "Noun extraction: NLTK averaged perceptron tagger, noun tags %s", list(tags)
            )
            return NounExtractor(NltkTagger(), tags)
        if kind == "nltk":
            raise RuntimeError(
                f"INPUT.IMAGE_TEXT.NOUN_EXTRACTOR='nltk' but nltk.pos_tag fails ({why_not_nltk}). Install "
                "its data with: python -c \"import nltk; nltk.download('averaged_perceptron_tagger_eng')\", "
                "or set NOUN_EXTRACTOR to 'wordnet' or 'auto'."
            )
    folder = find_wordnet_dir(wordnet_dir)
    if folder is None:
        raise RuntimeError(
            "No noun tagger is available: the NLTK tagger data is missing"
            + (f" ({why_not_nltk})" if why_not_nltk else "")
            + " and no WordNet 3.0 dict folder was found (INPUT.IMAGE_TEXT.WORDNET_DIR, $WNSEARCHDIR, "
            "/usr/share/wordnet). Install one of them: `apt-get install wordnet-base`, or "
            "python -c \"import nltk; nltk.download('averaged_perceptron_tagger_eng')\"."
        )
    logger.info(
        "Noun extraction: WordNet lexicon tagger over %s%s, noun tags %s",
        folder,
        f" (NLTK tagger unavailable: {why_not_nltk})" if why_not_nltk else "",
        list(tags),
    )
    return NounExtractor(WordNetTagger(load_wordnet(folder)), tags)
