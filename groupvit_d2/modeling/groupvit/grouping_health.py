"""Grouping health: is the learned grouping sharp, are its groups used, and are they named?

Training on captions alone can fail to group in two ways that no loss shows: a Grouping Block
stays undecided (its assignment logits barely spread, every patch is shared almost evenly by all
groups, and the evaluation's argmax follows hundredths of a logit), or the tokens collapse onto
one or two groups. Small models trained on few captions do both (docs/RESULTS.md, "Why grouping
failed at demo scale"), so these figures are measured where the user can see them:

- `grouping_health(vision)`: per grouping stage, from one forward pass,
    logit_std      the spread of the assignment logits over the groups (mean over tokens);
    logit_margin   the top-1 minus top-2 assignment logit (mean over tokens);
    groups_used    the groups that are some token's argmax, per image (mean);
    map_entropy    the entropy of the soft patch-to-group map of that stage, divided by its
                   maximum log(G): 1 is a uniform map, no grouping at all.
- `GroupingHealthHook`: writes the training batches' figures to the event storage (metrics.json,
  TensorBoard) every period, and warns when the grouping has collapsed.
- `GroupingHealthEvaluator`: the same figures on an evaluation split, plus the naming of the groups:
  for each sliding window (as the zero-shot segmentation cuts them), the best group-class score,
  how often it clears the dataset's background threshold, and how often each object's own group
  takes the object's class (`object_group_named`).
"""
import math
from typing import Dict, List, Optional

import torch

from .zero_shot import cumulative_group_maps

__all__ = ["grouping_health", "patch_majority", "object_group_named", "collapse_reason", "undecided_note", "undecided_stages", "COLLAPSE_ENTROPY", "COLLAPSE_GROUPS_USED"]

# Soft maps that keep 99.9% of the uniform entropy, or a final stage whose tokens all fall in (on
# average) at most 1.5 groups, do not group (docs/RESULTS.md has the figures of runs that
# grouped and of runs that did not).
COLLAPSE_ENTROPY = 0.999
COLLAPSE_GROUPS_USED = 1.5


@torch.no_grad()
def grouping_health(vision) -> Dict[str, float]:
    """Per-stage grouping figures of one encoder output (a GroupViTVisionOutput).

    Returns:
        {"stage{l}/logit_std", "stage{l}/logit_margin", "stage{l}/groups_used",
         "stage{l}/map_entropy"} for every grouping stage l = 1, 2, ...; empty for an encoder
        without grouping stages.
    """
    out = {}
    if not vision.soft_assignments:
        return out
    maps = cumulative_group_maps([a.float() for a in vision.soft_assignments])
    for stage, (logits, soft, patch_map) in enumerate(
        zip(vision.assignment_logits, vision.soft_assignments, maps), start=1
    ):
        logits = logits.float()  # (B, G, N): softmax over G
        num_groups = logits.shape[1]
        key = f"stage{stage}/"
        out[key + "logit_std"] = float(logits.std(dim=1, unbiased=False).mean())
        if num_groups > 1:
            top2 = logits.topk(2, dim=1).values
            out[key + "logit_margin"] = float((top2[:, 0] - top2[:, 1]).mean())
        else:
            out[key + "logit_margin"] = 0.0
        winners = soft.argmax(dim=1)  # (B, N)
        used = torch.zeros(soft.shape[0], num_groups, dtype=torch.bool, device=soft.device)
        used.scatter_(1, winners, True)
        out[key + "groups_used"] = float(used.sum(dim=1).float().mean())
        p = patch_map.clamp_min(1e-12)  # (B, N_0, G)
        entropy = -(p * p.log()).sum(dim=-1).mean()
        out[key + "map_entropy"] = float(entropy / math.log(num_groups)) if num_groups > 1 else 0.0
    return out


def patch_majority(label, patch, ignore_value=255):
    """(h, w) majority class of each `patch` x `patch` block of a (H, W) label map; `ignore_value`
    pixels count only where a block holds nothing else."""
    h, w = label.shape[0] // patch, label.shape[1] // patch
    blocks = label[: h * patch, : w * patch].reshape(h, patch, w, patch).permute(0, 2, 1, 3).reshape(h, w, -1)
    ids = blocks.long().clamp_min(0)
    counts = torch.zeros(h, w, int(ids.max()) + 1, dtype=torch.long, device=label.device)
    counts.scatter_add_(2, ids, torch.ones_like(ids))
    majority = counts.argmax(-1)
    if ignore_value < counts.shape[-1]:
        counts[..., ignore_value] = 0
        majority = torch.where(counts.sum(-1) > 0, counts.argmax(-1), majority)
    return majority


def object_group_named(patch_group, patch_class, group_class, skip=(255,)):
    """For each class of `patch_class` not in `skip`: does the group that holds most of its patches
    take it as its best class? The zero-shot rule paints an object right only through that group.

    Args:
        patch_group: (N,) each patch's final group; patch_class: (N,) each patch's label.
        group_class: (G,) each group's best class, in label ids.
    Returns:
        a list of bools, one per object class present.
    """
    hits = []
    for c in torch.unique(patch_class).tolist():
        if c in skip:
            continue
        owner = torch.bincount(patch_group[patch_class == c]).argmax()
        hits.append(bool(group_class[owner] == c))
    return hits


def collapse_reason(health: Dict[str, float]) -> Optional[str]:
    """Why the grouping counts as collapsed, or None when it does not.

    Collapsed: the final stage puts every token in about one group, or the soft maps are uniform
    from the first grouping stage on. A later stage whose maps alone are uniform only merges the
    earlier stage's groups by small logit differences, and the segments still follow the earlier
    stage (undecided_stages says so; docs/RESULTS.md, "Second round", has a recipe that segments
    that way).
    """
    stages = sorted({k.split("/")[0] for k in health if k.startswith("stage")})
    if not stages:
        return None
    last = stages[-1]
    used = health.get(f"{last}/groups_used")
    if used is not None and used <= COLLAPSE_GROUPS_USED:
        return f"{last}: every token falls in {used:.2f} group(s) on average"
    uniform = undecided_stages(health)
    if uniform and uniform[0] == stages[0]:
        first = stages[0]
        return (
            f"{first}: the soft patch-to-group maps are uniform (entropy {health[first + '/map_entropy']:.4f} of "
            f"its maximum; assignment logits spread {health.get(f'{first}/logit_std', float('nan')):.3f})"
        )
    return None


def undecided_note(health: Dict[str, float]) -> Optional[str]:
    """A sentence on the later stages whose maps are uniform when an earlier one groups; None
    when there are none (or when every stage is uniform: that is a collapse)."""
    uniform = undecided_stages(health)
    stages = sorted({k.split("/")[0] for k in health if k.startswith("stage")})
    if not uniform or uniform[0] == stages[0]:
        return None
    decided = [s for s in stages if s not in uniform][-1]
    spreads = ", ".join(f"{s} {health.get(s + '/logit_std', float('nan')):.3f}" for s in uniform)
    return (f"the soft maps of {', '.join(uniform)} are uniform (assignment logits spread {spreads}): "
            f"they merge the groups of {decided} by small logit differences, and the segments follow {decided}")


def undecided_stages(health: Dict[str, float]) -> List[str]:
    """The grouping stages whose soft patch-to-group maps are uniform (entropy at least
    COLLAPSE_ENTROPY of its maximum), in order."""
    stages = sorted({k.split("/")[0] for k in health if k.startswith("stage")})
    return [s for s in stages if health.get(f"{s}/map_entropy", 0.0) >= COLLAPSE_ENTROPY]
