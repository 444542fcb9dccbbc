"""Class embeddings from prompt templates, cached per vocabulary (docs/DESIGN.md section 3,
step 6)."""

import itertools
import warnings
from collections import defaultdict
from typing import Callable, Hashable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from ...data.datasets.prompt_protocols import PROMPT_PROTOCOLS
from .embedding_cache import prompts_key

__all__ = ["TextClassifier", "split_class_names", "class_names_from_metadata"]

ClassNames = Sequence[Union[str, Sequence[str]]]
Template = Union[Callable[[str], str], str]


def split_class_names(class_names: ClassNames) -> List[List[str]]:
    """Each class's names for the text encoder.

    A string entry is split on commas ("car, cars" -> ["car", "cars"]); a list entry is taken as
    the class's synonyms as they are. Names are stripped of surrounding whitespace.

    Returns:
        list of C lists of names.
    Raises:
        ValueError on an empty vocabulary or an empty name (naming its index).
    """
    if isinstance(class_names, str):
        raise ValueError(f"class names must be a list of names, got the string {class_names!r}")
    if len(class_names) == 0:
        raise ValueError("the vocabulary is empty: expected at least one class name")
    parsed = []
    for index, entry in enumerate(class_names):
        if isinstance(entry, str):
            names = [part.strip() for part in entry.split(",")]
        elif isinstance(entry, (list, tuple)) and all(isinstance(name, str) for name in entry):
            names = [name.strip() for name in entry]
        else:
            raise ValueError(
                f"class name at index {index} must be a string or a list of strings, got {entry!r}"
            )
        if len(names) == 0 or any(name == "" for name in names):
            raise ValueError(f"class name at index {index} is empty (or has an empty synonym): {entry!r}")
        parsed.append(names)
    return parsed


def _warn_duplicates(parsed: List[List[str]]) -> None:
    classes_of = defaultdict(set)
    for index, names in enumerate(parsed):
        for name in names:
            classes_of[name.lower()].add(index)
    shared = {name: sorted(owners) for name, owners in classes_of.items() if len(owners) > 1}
    if shared:
        details = ", ".join(f"{name!r} (classes {owners})" for name, owners in sorted(shared.items()))
        warnings.warn(
            f"duplicate class names in the vocabulary: {details}; these classes get the same or "
            "overlapping text embeddings and compete for the same pixels",
            UserWarning,
            stacklevel=3,
        )


def _render(template: Template, name: str) -> str:
    text = template.format(name) if isinstance(template, str) else template(name)
    if not isinstance(text, str):
        raise ValueError(f"prompt template {template!r} returned {type(text).__name__}, expected str")
    return text


def _template_key(template: Template):
    # Callables are keyed by identity; the cache entry holds a reference to them, so an id cannot
    # be reused by another object while the entry lives.
    return template if isinstance(template, str) else id(template)


class TextClassifier:
    """Builds class embeddings with the model's text tower and caches them.

    A class embedding is the mean of the UN-normalised projected embeddings of all its prompts,
    L2-normalised afterwards (the official build_text_embedding). When a class has synonyms,
    every synonym x template prompt enters that one mean, so each synonym weighs equally and the
    result is still a single direction per class.

    The in-memory cache is keyed by (key, templates). A hit with a different class list
    re-encodes. Call clear() whenever the text tower's weights change.

    With a `store` (a ClassEmbeddingStore) and a `fingerprint` passed to get(), a miss in memory
    looks on disk next, under the fingerprint and the exact prompts, and what is encoded is written
    there for later processes.

    A prompt that several classes share (a synonym listed twice, a template that ignores the name)
    is encoded once and enters every mean it belongs to.

    Attributes:
        num_encodings: how many times texts were actually encoded (misses in memory and on disk).
        num_texts_encoded: total prompts sent through encode_text.
        num_disk_hits: vocabularies read back from the store.
    """

    def __init__(self, chunk_size: int = 256, store=None):
        if int(chunk_size) < 1:
            raise ValueError(f"TextClassifier: chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = int(chunk_size)
        self.store = store
        self._cache = {}
        self.num_encodings = 0
        self.num_texts_encoded = 0
        self.num_disk_hits = 0

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Forget every cached embedding (the counters are kept)."""
        self._cache.clear()

    def get(
        self,
        key: Hashable,
        class_names: ClassNames,
        templates: Sequence[Template],
        encode_text: Callable[[torch.Tensor], torch.Tensor],
        tokenizer: Callable[[List[str]], torch.Tensor],
        device: Optional[Union[str, torch.device]] = None,
        fingerprint: Optional[Callable[[], str]] = None,
    ) -> torch.Tensor:
        """Class embeddings for a vocabulary, from the cache when possible.

        Args:
            key: hashable name of the vocabulary, e.g. the dataset name.
            class_names: C entries, each a name, a comma-separated list of synonyms, or a list of
                synonyms (see split_class_names).
            templates: prompt templates, callables `str -> str` or "{}" format strings.
            encode_text: LongTensor (N, L) token ids -> (N, D) un-normalised projected text
                embeddings. Its module should be in eval mode (the projector has BatchNorm).
            tokenizer: list of N strings -> LongTensor (N, L).
            device: where to move the token ids before encode_text (None: leave them).
            fingerprint: () -> str identifying the text tower (see text_tower_fingerprint);
                called on a miss in memory, and only then is the store used.

        Returns:
            (C, D) L2-normalised class embeddings on encode_text's output device, in at least float32.
        """
        try:
            hash(key)
        except TypeError:
            raise ValueError(f"TextClassifier: the cache key must be hashable, got {key!r}") from None
        templates = tuple(templates)
        if len(templates) == 0:
            raise ValueError("TextClassifier: expected at least one prompt template, got none")
        cache_key = (key, tuple(_template_key(t) for t in templates))
        try:
            frozen = tuple(name if isinstance(name, str) else tuple(name) for name in class_names)
        except TypeError:
            frozen = None  # split_class_names below says what is wrong
        entry = self._cache.get(cache_key)
        if entry is not None and frozen is not None and entry[0] == frozen:
            return entry[2]

        parsed = split_class_names(class_names)
        _warn_duplicates(parsed)
        prompts = [(index, _render(template, name))
                   for index, names in enumerate(parsed) for name in names for template in templates]
        disk_key = None
        if self.store is not None and fingerprint is not None:
            disk_key = prompts_key(fingerprint(), prompts)
            stored = self.store.load(disk_key, len(parsed))
            if stored is not None:
                self.num_disk_hits += 1
                embeddings = stored.to(self._output_device(encode_text, tokenizer, device, prompts[0][1]))
                self._cache[cache_key] = (frozen, templates, embeddings)
                return embeddings
        embeddings = self._encode(len(parsed), prompts, encode_text, tokenizer, device)
        if disk_key is not None:
            self.store.save(disk_key, embeddings)
        self._cache[cache_key] = (frozen, templates, embeddings)
        return embeddings

    @staticmethod
    def _output_device(encode_text, tokenizer, device, text):
        # A stored entry goes where encode_text's outputs would: the model's device, found without
        # running the tower (encode_text of one prompt costs what a disk hit saves, on a GPU little).
        owner = getattr(encode_text, "__self__", None)
        if isinstance(owner, torch.nn.Module):
            tensor = next(itertools.chain(owner.parameters(), owner.buffers()), None)
            if tensor is not None:
                return tensor.device
        if device is not None:
            return torch.device(device)
        with torch.no_grad():
            return encode_text(tokenizer([text])).device

    def _encode(self, num_classes, prompts, encode_text, tokenizer, device) -> torch.Tensor:
        unique = list(dict.fromkeys(text for _, text in prompts))
        row_of = {text: row for row, text in enumerate(unique)}
        rows_of_class = [[] for _ in range(num_classes)]
        for index, text in prompts:
            rows_of_class[index].append(row_of[text])

        chunks = []
        with torch.no_grad():
            for start in range(0, len(unique), self.chunk_size):
                batch = unique[start : start + self.chunk_size]
                tokens = tokenizer(batch)
                if device is not None:
                    tokens = tokens.to(device)
                embedded = encode_text(tokens)
                if embedded.dim() != 2 or embedded.shape[0] != len(batch):
                    raise ValueError(
                        f"TextClassifier: encode_text returned {tuple(embedded.shape)} for {len(batch)} "
                        "texts; expected (N, D)"
                    )
                chunks.append(embedded.to(torch.promote_types(embedded.dtype, torch.float32)))
        embedded = torch.cat(chunks)
        # One sum a class, over its rows in prompt order: deterministic on every device
        # (index_add_ uses atomics on GPUs).
        sums = torch.stack([embedded[torch.tensor(rows, device=embedded.device)].sum(dim=0)
                            for rows in rows_of_class])
        self.num_encodings += 1
        self.num_texts_encoded += len(unique)
        counts = torch.tensor([len(rows) for rows in rows_of_class], device=sums.device)
        return F.normalize(sums / counts.unsqueeze(1).to(sums.dtype), dim=-1)


def class_names_from_metadata(metadata, protocol="official") -> Tuple[List[List[str]], bool, Optional[float]]:
    """The names to embed for a dataset, following the metadata contract.

    Uses the dataset's names for `protocol` when its `prompt_classes` has them, else
    `stuff_synonyms` when present, else each `stuff_classes` entry split on ",". When
    `background_threshold` is not None, class 0 is the background: it is predicted by
    thresholding and is not embedded.

    Args:
        metadata: a Detectron2 Metadata (or any object with those attributes).
        protocol: the prompt protocol, one of PROMPT_PROTOCOLS ("official", "tcl").

    Returns:
        (names_for_text, has_background, background_threshold): names_for_text lists, for each
        embedded class in label order, its names; background_threshold is a float or None.
    """
    name = getattr(metadata, "name", "<unnamed>")
    classes = getattr(metadata, "stuff_classes", None)
    if not classes:
        raise ValueError(f"metadata of dataset {name!r} has no stuff_classes; expected a list of class names")
    if protocol not in PROMPT_PROTOCOLS:
        raise ValueError(f"TEST.PROMPT_PROTOCOL must be one of {PROMPT_PROTOCOLS}, got {protocol!r}")
    synonyms = getattr(metadata, "stuff_synonyms", None)
    protocol_names = (getattr(metadata, "prompt_classes", None) or {}).get(protocol)
    # The protocol's own names win over the synonyms, which win over the class names.
    for field, entries, expected in ((f"prompt_classes[{protocol!r}]", protocol_names, "one name per class"),
                                     ("stuff_synonyms", synonyms, "one list of names per class"),
                                     ("stuff_classes", classes, None)):
        if entries is None:
            continue
        if len(entries) != len(classes):
            raise ValueError(
                f"metadata of dataset {name!r}: {field} has {len(entries)} entries but stuff_classes has "
                f"{len(classes)}; expected {expected}"
            )
        entries = list(entries)
        break
    threshold = getattr(metadata, "background_threshold", None)
    has_background = threshold is not None
    if has_background:
        threshold = float(threshold)
        entries = entries[1:]
        if not entries:
            raise ValueError(f"metadata of dataset {name!r} holds only the background class")
    try:
        names = split_class_names(entries)
    except ValueError as error:
        counted = " (indices counted after the background class)" if has_background else ""
        raise ValueError(f"metadata of dataset {name!r}{counted}: {error}") from None
    return names, has_background, threshold
