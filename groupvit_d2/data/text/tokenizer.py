"""CLIP BPE tokenisation through open_clip, which ships the vocabulary (works offline)."""
import functools

from open_clip.tokenizer import SimpleTokenizer

from .text_cache import remember

__all__ = ["CachingTokenizer", "build_tokenizer"]


class CachingTokenizer(SimpleTokenizer):
    """open_clip's SimpleTokenizer that remembers the BPE ids of the texts it has encoded.

    Training tokenises the same prompted labels ("a photo of a dog.") in almost every batch and
    every caption once an epoch; text cleaning and BPE were a quarter of the image-text mapper's
    time. A plain dict (not functools.lru_cache) keeps the tokenizer picklable for spawned
    DataLoader workers (see `remember`).
    """

    def __init__(self, context_length=77, cache_size=1 << 16):
        super().__init__(context_length=context_length)
        self.cache_size = int(cache_size)
        self._ids = {}

    def encode(self, text):
        return list(remember(self._ids, text, self.cache_size, self._encode_uncached))

    def _encode_uncached(self, text):
        return tuple(super().encode(text))


@functools.lru_cache(maxsize=4)
def build_tokenizer(context_length=77):
    """A callable `list[str] -> LongTensor (N, context_length)`: SOT, BPE ids, EOT, zero padding.

    Longer texts are truncated and end with EOT, as in CLIP.
    """
    return CachingTokenizer(context_length=context_length)
