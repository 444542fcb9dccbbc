"""Train only selected parts of a model (thesis sec. 5.5.1, Table 3): SOLVER.TRAINABLE_PATTERNS.

Every parameter whose name matches none of the patterns gets `requires_grad=False`; Detectron2's
`get_default_optimizer_params` then leaves it out of the optimizer. A BatchNorm whose parameters
are all frozen also keeps its running statistics: `freeze_norm_statistics` puts it back in eval
mode whenever the model is switched to training (the GroupViT meta-architecture calls it from its
`train()`), so it normalises with the pretrained statistics and never updates them.
"""

import logging
import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import torch.nn as nn

__all__ = ["TRAINABLE_PRESETS", "FreezeSummary", "expand_trainable_patterns", "freeze_except",
           "freeze_norm_statistics"]

logger = logging.getLogger(__name__)

# Named parts of the released 2-stage GroupViT, for the rows of thesis Table 3. A pattern is a
# regular expression matched at the START of a parameter name (re.match).
TRAINABLE_PRESETS: Dict[str, Tuple[str, ...]] = {
    "first_grouping_block": (r"backbone\.layers\.0\.downsample\.",),
    "second_grouping_block": (r"backbone\.layers\.1\.downsample\.",),
    "both_grouping_blocks": (r"backbone\.layers\.0\.downsample\.", r"backbone\.layers\.1\.downsample\."),
    # Every stage's Grouping Block, whatever the number of stages.
    "grouping_blocks": (r"backbone\.layers\.\d+\.downsample\.",),
    "image_projector": (r"img_projector\.",),
    "text_projector": (r"text_projector\.",),
    "projectors": (r"img_projector\.", r"text_projector\."),
    "temperatures": (r"logit_scale$", r"multi_label_logit_scale$"),
}


@dataclass
class FreezeSummary:
    """What `freeze_except` did.

    patterns: the regular expressions after preset expansion.
    trainable / frozen: parameter names on each side.
    num_trainable / num_total: parameter (element) counts.
    frozen_norms: names of the BatchNorm modules whose statistics stay fixed.
    """

    patterns: List[str]
    trainable: List[str] = field(default_factory=list)
    frozen: List[str] = field(default_factory=list)
    num_trainable: int = 0
    num_total: int = 0
    frozen_norms: List[str] = field(default_factory=list)

    def __str__(self):
        share = 100.0 * self.num_trainable / max(self.num_total, 1)
        return (
            f"Training {self.num_trainable:,} of {self.num_total:,} parameters ({share:.2f}%) in "
            f"{len(self.trainable)} tensors matching {self.patterns}; {len(self.frozen)} tensors frozen; "
            f"{len(self.frozen_norms)} BatchNorm layers keep their running statistics"
        )


def expand_trainable_patterns(patterns: Sequence[str]) -> List[str]:
    """Replace every preset name (a key of TRAINABLE_PRESETS) by its patterns; other entries are
    regular expressions and are checked to compile. Order is kept, duplicates dropped."""
    out = []
    for entry in patterns:
        if not isinstance(entry, str) or not entry:
            raise ValueError(f"SOLVER.TRAINABLE_PATTERNS entries must be non-empty strings, got {entry!r}")
        for pattern in TRAINABLE_PRESETS.get(entry, (entry,)):
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(
                    f"SOLVER.TRAINABLE_PATTERNS entry {entry!r} is neither a preset ({sorted(TRAINABLE_PRESETS)}) "
                    f"nor a valid regular expression: {err}"
                ) from err
            if pattern not in out:
                out.append(pattern)
    return out


def _is_batch_norm(module):
    return isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats


def _frozen_batch_norms(model):
    for name, module in model.named_modules():
        params = list(module.parameters(recurse=False))
        if _is_batch_norm(module) and params and not any(p.requires_grad for p in params):
            yield name, module


def freeze_norm_statistics(model: nn.Module) -> List[str]:
    """Put every BatchNorm whose parameters are all frozen in eval mode (fixed running statistics).

    Call it after `model.train()`; returns the names of those modules.
    """
    names = []
    for name, module in _frozen_batch_norms(model):
        module.eval()
        names.append(name)
    return names


def freeze_except(model: nn.Module, patterns: Sequence[str]) -> FreezeSummary:
    """Freeze every parameter of `model` whose name matches none of `patterns`.

    Args:
        model: any module; parameter names are those of `model.named_parameters()`.
        patterns: preset names (TRAINABLE_PRESETS) and/or regular expressions matched at the start
            of a parameter name. Empty: nothing changes (everything stays as it is).

    Returns:
        FreezeSummary, also logged. The BatchNorm layers it freezes are put in eval mode; call
        `freeze_norm_statistics` after every later `model.train()`.

    Raises:
        ValueError: a pattern (named in the message, with the preset it came from) matches no
            parameter, e.g. a 2-stage preset on a 1-stage model.
    """
    summary = FreezeSummary(patterns=expand_trainable_patterns(patterns))
    if not summary.patterns:
        return summary
    compiled = [re.compile(p) for p in summary.patterns]
    used = set()
    for name, param in model.named_parameters():
        hits = [p.pattern for p in compiled if p.match(name)]
        used.update(hits)
        param.requires_grad_(bool(hits))
        (summary.trainable if hits else summary.frozen).append(name)
        summary.num_total += param.numel()
        summary.num_trainable += param.numel() if hits else 0
    unused = [p for p in summary.patterns if p not in used]
    if unused:
        origin = {p: entry for entry in patterns for p in TRAINABLE_PRESETS.get(entry, (entry,))}
        described = ", ".join(
            repr(p) + (f" (from preset {origin[p]!r})" if origin.get(p, p) != p else "") for p in unused
        )
        roots = sorted({n.rsplit(".", 1)[0] for n in summary.trainable + summary.frozen})[:12]
        raise ValueError(
            f"SOLVER.TRAINABLE_PATTERNS: {described} matches no parameter of {type(model).__name__}. Patterns "
            f"are regular expressions matched at the start of names such as {roots}; presets: "
            f"{sorted(TRAINABLE_PRESETS)}"
        )
    # Modules are built in training mode and Detectron2's trainer never calls train() before its
    # first step, so the statistics must be fixed now, not only at the next train().
    summary.frozen_norms = freeze_norm_statistics(model)
    logger.info("%s", summary)
    return summary
