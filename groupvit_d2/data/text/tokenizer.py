"""CLIP BPE tokenisation through open_clip, which ships the vocabulary (works offline)."""
import functools

from open_clip.tokenizer import SimpleTokenizer


@functools.lru_cache(maxsize=4)
def build_tokenizer(context_length=77):
    """A callable `list[str] -> LongTensor (N, context_length)`: SOT, BPE ids, EOT, zero padding.

    Longer texts are truncated and end with EOT, as in CLIP.
    """
    return SimpleTokenizer(context_length=context_length)
