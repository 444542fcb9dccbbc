"""A bounded memo of per-text results for the data path's text processing."""

__all__ = ["remember"]


def remember(cache, text, limit, compute):
    """`cache[text]`, computed by `compute(text)` on first sight.

    A plain dict (unlike functools.lru_cache) pickles with its owner, which spawned DataLoader
    workers need; it is emptied when it holds `limit` entries, which bounds memory on corpora whose
    captions never repeat. Results must be immutable (tuples): callers copy what they hand out.
    """
    value = cache.get(text)
    if value is None:
        if len(cache) >= limit:
            cache.clear()
        value = cache[text] = compute(text)
    return value
