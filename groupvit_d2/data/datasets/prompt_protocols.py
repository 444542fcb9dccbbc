"""Class names to prompt with under each evaluation protocol.

"official": the names of the official GroupViT evaluation, which renamed some VOC / Context classes
("table", "plant", "monitor"; "airplane" in Context); the published GroupViT numbers use them.
"tcl": the 8-benchmark protocol of later papers (TCL and its successors), which prompt with
mmsegmentation's names ("diningtable", "pottedplant", "tvmonitor", "aeroplane").

A dataset whose prompts differ under a protocol carries them in its metadata as
`prompt_classes = {protocol: names}`, one name per entry of `stuff_classes`; its labels and
`stuff_classes` (what results are reported under) do not change.
"""

__all__ = ["PROMPT_PROTOCOLS", "renamed"]

PROMPT_PROTOCOLS = ("official", "tcl")


def renamed(classes, renames):
    """`classes` with each name found in `renames` replaced; raises if a rename matches nothing."""
    unused = set(renames) - set(classes)
    if unused:
        raise ValueError(f"renames {sorted(unused)} match no class of {list(classes)}")
    return tuple(renames.get(c, c) for c in classes)
