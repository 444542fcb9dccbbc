"""The grouping-health figures tell a collapsed grouping from a sharp one."""
import math

import pytest
import torch

from groupvit_d2.modeling.groupvit import GroupViTImageEncoder, GroupViTVisionOutput
from groupvit_d2.modeling.groupvit.grouping_health import collapse_reason, grouping_health, undecided_note, undecided_stages


def _vision(logits_per_stage):
    """A vision output whose stages carry the given (B, G, N) assignment logits."""
    soft = [l.softmax(dim=1) for l in logits_per_stage]
    g = logits_per_stage[-1].shape[1]
    tokens = torch.zeros(logits_per_stage[0].shape[0], g, 4)
    return GroupViTVisionOutput(tokens=tokens, pooled=tokens.mean(1), grid=(2, 2), soft_assignments=soft,
                                hard_assignments=soft, assignment_logits=list(logits_per_stage))


def test_every_token_in_one_group_is_collapsed():
    logits = torch.full((2, 4, 8), -10.0)
    logits[:, 1] = 10.0  # every token's best group is group 1
    health = grouping_health(_vision([logits]))
    assert health["stage1/groups_used"] == 1.0
    assert health["stage1/logit_margin"] == pytest.approx(20.0)
    assert health["stage1/map_entropy"] < 1e-6
    assert "1.00 group(s)" in collapse_reason(health)


def test_uniform_maps_are_collapsed_even_when_many_groups_win():
    # Tiny random logits: each token's argmax differs, yet every soft map is near uniform, as in a
    # tiny model whose assignment never sharpened.
    torch.manual_seed(0)
    logits = 1e-3 * torch.randn(2, 8, 36)
    health = grouping_health(_vision([logits]))
    assert health["stage1/groups_used"] > 4
    assert health["stage1/map_entropy"] > 0.999
    assert health["stage1/logit_std"] == pytest.approx(float(logits.std(dim=1, unbiased=False).mean()))
    assert "uniform" in collapse_reason(health)


def test_sharp_grouping_over_several_groups_is_healthy():
    # Two stages: 8 patches -> 4 groups (two patches each, sharp), 4 -> 2 groups (sharp).
    first = torch.full((1, 4, 8), -5.0)
    for n in range(8):
        first[0, n // 2, n] = 5.0
    second = torch.full((1, 2, 4), -5.0)
    for n in range(4):
        second[0, n // 2, n] = 5.0
    health = grouping_health(_vision([first, second]))
    assert health["stage1/groups_used"] == 4.0 and health["stage2/groups_used"] == 2.0
    # The stage-2 map chains both assignments: each patch is nearly certain of its final group.
    assert health["stage2/map_entropy"] < 0.01
    assert collapse_reason(health) is None


def test_map_entropy_is_normalised_by_log_groups():
    # Each token split evenly over 2 of 4 groups: entropy log 2 of a maximum log 4.
    logits = torch.full((1, 4, 2), -math.inf)
    logits[0, :2] = 0.0
    health = grouping_health(_vision([logits]))
    assert health["stage1/map_entropy"] == pytest.approx(0.5, abs=1e-6)


def test_a_plain_vit_has_no_figures():
    torch.manual_seed(0)
    encoder = GroupViTImageEncoder(img_size=32, patch_size=16, embed_dim=12, depths=(1,), num_heads=(2,),
                                   num_group_tokens=(0,), num_output_groups=())
    vision = encoder.encode(torch.randn(1, 3, 32, 32))
    assert grouping_health(vision) == {}
    assert collapse_reason({}) is None


def test_a_randomly_initialised_encoder_starts_uniform():
    # Freshly initialised assignment projections give logits far below the Gumbel noise's scale:
    # the figures must show it from the first step.
    torch.manual_seed(0)
    encoder = GroupViTImageEncoder(img_size=64, patch_size=16, embed_dim=48, depths=(1, 1, 1), num_heads=(3, 3, 3),
                                   num_group_tokens=(8, 4, 0), num_output_groups=(8, 4)).eval()
    health = grouping_health(encoder.encode(torch.randn(2, 3, 64, 64)))
    assert set(health) == {f"stage{s}/{k}" for s in (1, 2)
                           for k in ("logit_std", "logit_margin", "groups_used", "map_entropy")}
    assert health["stage2/map_entropy"] > 0.99
    assert collapse_reason(health) is not None


def test_a_uniform_later_stage_over_a_sharp_first_stage_is_undecided_not_collapsed():
    # Stage 1 sharp (8 patches -> 4 groups, two each); stage 2 near uniform over 2 groups: its
    # argmax merges the stage-1 groups by tiny differences, and the segments follow stage 1.
    first = torch.full((1, 4, 8), -5.0)
    for n in range(8):
        first[0, n // 2, n] = 5.0
    second = torch.tensor([[[1e-3, -1e-3, 1e-3, -1e-3], [-1e-3, 1e-3, -1e-3, 1e-3]]])
    health = grouping_health(_vision([first, second]))
    assert health["stage1/map_entropy"] < 0.01 and health["stage2/map_entropy"] > 0.999
    assert health["stage2/groups_used"] == 2.0
    assert collapse_reason(health) is None
    assert undecided_stages(health) == ["stage2"]
    assert "follow stage1" in undecided_note(health)
    # Uniform from the first stage on is a collapse, with the first stage named.
    torch.manual_seed(0)
    flat = grouping_health(_vision([1e-3 * torch.randn(1, 4, 8), second]))
    assert collapse_reason(flat).startswith("stage1: the soft patch-to-group maps are uniform")
    assert undecided_note(flat) is None


def test_patch_majority_counts_each_block_and_ignores_255_unless_alone():
    from groupvit_d2.modeling.groupvit.grouping_health import patch_majority

    label = torch.zeros(4, 6, dtype=torch.long)
    label[0:2, 2:4] = 3          # block (0, 1): all 3
    label[0, 4:6] = 5            # block (0, 2): three 5, one 0
    label[1, 4] = 5
    label[2:4, 0:2] = 255        # block (1, 0): only ignore
    label[2:4, 2:4] = 255        # block (1, 1): three ignore, one 7
    label[3, 3] = 7
    label[2:4, 4:6] = 2          # block (1, 2): 2, plus an extra row that is cut off below
    majority = patch_majority(torch.cat([label, torch.full((1, 6), 9)]), 2)
    assert majority.tolist() == [[0, 3, 5], [255, 7, 2]]


def test_object_group_named_asks_the_group_holding_most_of_each_object():
    from groupvit_d2.modeling.groupvit.grouping_health import object_group_named

    # Class 1 sits mostly in group 2, class 4 wholly in group 0; 0 is the background.
    patch_class = torch.tensor([0, 0, 0, 1, 1, 1, 4, 4, 255])
    patch_group = torch.tensor([1, 1, 2, 2, 2, 0, 0, 0, 1])
    group_class = torch.tensor([4, 1, 3])  # group 2 calls itself class 3: class 1 is not named
    assert object_group_named(patch_group, patch_class, group_class, skip=(0, 255)) == [False, True]
    group_class = torch.tensor([4, 4, 1])
    assert object_group_named(patch_group, patch_class, group_class, skip=(0, 255)) == [True, True]
    # The background is a class like any other when it is not skipped: group 1 holds it and names it 4.
    assert object_group_named(patch_group, patch_class, group_class, skip=(255,)) == [False, True, True]
