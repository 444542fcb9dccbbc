from .labels import FILL_MODES, LABEL_SOURCES, Labels, build_labels, label_candidates, load_vocabulary
from .nouns import (
    NOUN_PHRASE_GRAMMAR,
    NOUN_TAGS,
    OFFICIAL_WORD_TAGS,
    NounExtractor,
    build_noun_extractor,
    find_wordnet_dir,
    tokenize,
)
from .templates import TEMPLATE_SETS, get_templates
from .tokenizer import build_tokenizer
from .vocabulary import format_vocabulary, parse_vocabulary, parse_vocabulary_entries, read_vocabulary_file

__all__ = [
    "TEMPLATE_SETS",
    "get_templates",
    "build_tokenizer",
    "FILL_MODES",
    "LABEL_SOURCES",
    "Labels",
    "build_labels",
    "label_candidates",
    "load_vocabulary",
    "NOUN_PHRASE_GRAMMAR",
    "NOUN_TAGS",
    "OFFICIAL_WORD_TAGS",
    "NounExtractor",
    "build_noun_extractor",
    "find_wordnet_dir",
    "tokenize",
    "parse_vocabulary",
    "parse_vocabulary_entries",
    "read_vocabulary_file",
    "format_vocabulary",
]
