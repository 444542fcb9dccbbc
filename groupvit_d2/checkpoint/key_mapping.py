"""Renaming state-dict keys with a table of format patterns, in both directions.

A rule is ``(ours, theirs, op)``: two key patterns whose ``{placeholders}`` match the same parts
of a key, and an optional tensor conversion that `op` names. The first rule that matches a key
wins, so specific rules come before general ones.
"""
import re

__all__ = ["KeyMap"]

# What each placeholder matches.
PLACEHOLDERS = {
    "s": r"\d+",  # stage index
    "b": r"\d+",  # block / layer index
    "p": r"[A-Za-z_]+",  # the tensor's own name: weight, bias, running_mean, ...
    "m": r"[A-Za-z0-9_.]+?",  # a dotted sub-module path, identical on both sides
    "fc": r"fc[12]",
    "qkv": r"[qkv]",  # one of the three split projections (the other side holds them fused)
    "rest": r".+",  # everything after a prefix
}
_FIELD = re.compile(r"\{(\w+)\}")


def _compile(pattern):
    parts, pos = [], 0
    for m in _FIELD.finditer(pattern):
        name = m.group(1)
        if name not in PLACEHOLDERS:
            raise ValueError(f"Unknown placeholder {{{name}}} in key pattern {pattern!r}")
        parts.append(re.escape(pattern[pos: m.start()]))
        parts.append(f"(?P<{name}>{PLACEHOLDERS[name]})")
        pos = m.end()
    parts.append(re.escape(pattern[pos:]))
    return re.compile("".join(parts) + r"\Z")


class KeyMap:
    """Compiled (ours, theirs, op) rules.

    `to_ours(key)` / `to_theirs(key)` return (renamed key, op, fields) for the first matching rule,
    or None. A side without a `{qkv}` field renders `{qkv}`-less; the caller fuses or splits.
    """

    def __init__(self, rules):
        self.rules = [(ours, theirs, op, _compile(ours), _compile(theirs)) for ours, theirs, op in rules]

    @staticmethod
    def _render(pattern, fields):
        return _FIELD.sub(lambda m: fields.get(m.group(1), m.group(0)), pattern)

    def to_ours(self, key):
        for ours, _, op, _, theirs_re in self.rules:
            m = theirs_re.match(key)
            if m:
                return self._render(ours, m.groupdict()), op, m.groupdict()
        return None

    def to_theirs(self, key):
        for _, theirs, op, ours_re, _ in self.rules:
            m = ours_re.match(key)
            if m:
                return self._render(theirs, m.groupdict()), op, m.groupdict()
        return None
