"""Zero-shot vocabularies as people write them: `;` separates classes, `,` separates synonyms.

    "black pickup truck, pickup truck; blue sky, sky"  ->  [["black pickup truck", "pickup truck"],
                                                             ["blue sky", "sky"]]

This is ODISE's syntax. The same rules serve every place a vocabulary is written: the demo's
--vocabulary and --vocabulary-file, the browser demo's text box, the predictor and
MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY.

- A string with at least one `;` is a list of classes, each a comma-separated list of synonyms.
- A string of several lines (and a vocabulary file) holds one class a line, synonyms separated by
  commas; a line may itself hold several `;`-separated classes. Blank lines and lines starting
  with "#" are skipped.
- A single line without `;` but with commas is the older comma-only form: every comma-separated
  name is a class of its own. It still works, with a FutureWarning, because the same text means
  one class with synonyms under the new rule; add a `;` (or write one class a line) to say which.
- A list (the config key, the Python API) holds one class an element: a string (commas separate
  synonyms, `;` may split it into several classes) or a list of synonyms.

Empty classes or synonyms, a name given twice (within a class or across classes, case-insensitive)
and a class that is only the word "background" are errors: the background is not a text class,
it is predicted where no class reaches the background threshold.
"""
import os
import warnings
from typing import List, Sequence, Union

__all__ = [
    "BACKGROUND_WORD",
    "parse_vocabulary",
    "parse_vocabulary_entries",
    "read_vocabulary_file",
    "format_vocabulary",
]

BACKGROUND_WORD = "background"

Vocabulary = List[List[str]]


def _split_class(entry: str, where: str) -> List[str]:
    names = [name.strip() for name in entry.split(",")]
    if any(name == "" for name in names):
        raise ValueError(f"{where}: empty synonym in {entry.strip()!r}; expected names separated by ','")
    return names


def _split_classes(text: str, where: str) -> Vocabulary:
    parts = text.split(";")
    # One trailing ';' ("cat; dog;") is a common way to end a list and leaves nothing ambiguous.
    if len(parts) > 1 and parts[-1].strip() == "":
        parts = parts[:-1]
    classes = []
    for index, part in enumerate(parts):
        if part.strip() == "":
            raise ValueError(f"{where}: class {index + 1} of {text.strip()!r} is empty; expected 'name, synonym; name'")
        classes.append(_split_class(part, where))
    return classes


def _check(classes: Vocabulary, source: str, has_background: bool) -> Vocabulary:
    if not classes:
        raise ValueError(f"{source} names no class; expected e.g. 'black pickup truck, pickup truck; blue sky, sky'")
    owner = {}
    for index, names in enumerate(classes):
        if has_background and index == 0:
            continue  # the background entry is a placeholder: it is never embedded
        if [n.lower() for n in names] == [BACKGROUND_WORD]:
            raise ValueError(
                f"{source}: class {index + 1} is the lone word {BACKGROUND_WORD!r}. The background is not a "
                "text class: it is predicted where no class reaches the background threshold (demo --background, "
                "background_threshold=..., MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY_HAS_BACKGROUND). Remove it, or name "
                "what it stands for"
            )
        for name in names:
            key = name.lower()
            if key in owner:
                first = owner[key]
                where = "twice in that class" if first == index else f"in classes {first + 1} and {index + 1}"
                raise ValueError(f"{source}: {name!r} appears {where}; every name may stand for one class only")
            owner[key] = index
    return classes


def parse_vocabulary_entries(
    entries: Sequence[Union[str, Sequence[str]]], source: str = "vocabulary", has_background: bool = False
) -> Vocabulary:
    """Classes from a list: each element a string (',' synonyms, ';' classes) or a list of synonyms.

    Args:
        entries: the list (e.g. MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY).
        source: how errors name the list.
        has_background: the first class is the background placeholder (not checked, not embedded).

    Returns:
        list of C lists of synonyms, in order.
    """
    if isinstance(entries, str):
        raise ValueError(f"{source}: expected a list of classes, got the string {entries!r} (see parse_vocabulary)")
    classes = []
    for index, entry in enumerate(entries):
        where = f"{source} entry {index}"
        if isinstance(entry, str):
            if entry.strip() == "":
                raise ValueError(f"{where} is empty; expected a class name")
            classes += _split_classes(entry, where) if ";" in entry else [_split_class(entry, where)]
        elif isinstance(entry, (list, tuple)) and entry and all(isinstance(n, str) for n in entry):
            names = [n.strip() for n in entry]
            if any(n == "" for n in names):
                raise ValueError(f"{where}: empty synonym in {list(entry)!r}")
            classes.append(names)
        else:
            raise ValueError(f"{where} must be a string or a non-empty list of strings, got {entry!r}")
    return _check(classes, source, has_background)


def parse_vocabulary(text: str, source: str = "vocabulary", has_background: bool = False) -> Vocabulary:
    """Classes from one string in the `;`/`,` syntax (see the module docstring).

    Returns:
        list of C lists of synonyms, in order.
    Raises:
        ValueError naming `source` on an empty vocabulary, an empty class or synonym, a repeated
        name or a lone background word.
    """
    if not isinstance(text, str):
        raise ValueError(f"{source}: expected a string, got {type(text).__name__}")
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if len(lines) > 1:
        return parse_vocabulary_entries(lines, source, has_background)
    if not lines:
        return _check([], source, has_background)
    line = lines[0]
    if ";" in line:
        return _check(_split_classes(line, source), source, has_background)
    if "," in line:
        warnings.warn(
            f"{source}: {line!r} has commas but no ';', read in the older comma-only form as one class per "
            "name. Commas now separate synonyms of one class and ';' separates classes "
            "('black pickup truck, pickup truck; blue sky, sky'); write 'a; b; c' to keep one class per name",
            FutureWarning,
            stacklevel=2,
        )
        names = [name.strip() for name in line.split(",")]
        if any(name == "" for name in names):
            raise ValueError(f"{source}: empty class name in {line!r}")
        return _check([[name] for name in names], source, has_background)
    return _check([[line]], source, has_background)


def read_vocabulary_file(path: str, has_background: bool = False) -> Vocabulary:
    """Classes from a text file: one class a line, synonyms separated by ',', optional ';' between
    classes on a line; blank lines and "#" comments are skipped."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"vocabulary file {path!r}: no such file (expected one class a line)")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as error:
        raise ValueError(f"vocabulary file {path!r} is not UTF-8 text: {error}") from None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        return _check([], path, has_background)
    return parse_vocabulary_entries(lines, path, has_background)


def format_vocabulary(classes: Vocabulary) -> str:
    """The inverse of parse_vocabulary: "a, a2; b"."""
    return "; ".join(", ".join(names) for names in classes)
