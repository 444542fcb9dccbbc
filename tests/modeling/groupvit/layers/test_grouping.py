import pytest
import torch
import torch.nn as nn

from groupvit_d2.modeling.groupvit.layers.assignment import assign, straight_through_onehot
from groupvit_d2.modeling.groupvit.layers.grouping import AssignAttention, GroupingBlock


def test_straight_through_forward_is_onehot_and_gradient_is_soft():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7, requires_grad=True)
    weights = torch.randn(2, 5, 7)

    hard = assign(logits, dim=1, hard=True)
    expected = torch.zeros(2, 5, 7).scatter_(1, logits.argmax(1, keepdim=True), 1.0)
    assert torch.equal(hard.detach(), expected)
    (hard * weights).sum().backward()
    grad_hard = logits.grad.clone()

    logits.grad = None
    (torch.softmax(logits, dim=1) * weights).sum().backward()
    assert torch.allclose(grad_hard, logits.grad, atol=1e-7)


def test_straight_through_onehot_columns_sum_to_one():
    soft = torch.softmax(torch.randn(3, 4, 9), dim=1)
    hard = straight_through_onehot(soft, dim=1)
    assert torch.allclose(hard.sum(1), torch.ones(3, 9))


def test_gumbel_noise_only_in_training():
    torch.manual_seed(0)
    att = AssignAttention(16, hard=False, gumbel=True).eval()
    g, s = torch.randn(2, 4, 16), torch.randn(2, 10, 16)
    out1, a1 = att(g, s)
    out2, a2 = att(g, s)
    assert torch.equal(out1, out2)
    assert torch.allclose(a1["hard"], torch.softmax(a1["logits"], dim=1))
    att.train()
    _, b1 = att(g, s)
    _, b2 = att(g, s)
    assert not torch.allclose(b1["hard"], b2["hard"])
    # The plain soft map never sees the noise.
    assert torch.allclose(b1["soft"], torch.softmax(b1["logits"], dim=1))


def test_assignment_merge_matches_eq5_with_epsilon():
    torch.manual_seed(0)
    dim = 8
    att = AssignAttention(dim, hard=True, gumbel=False, assign_eps=1.0).eval()
    g, s = torch.randn(1, 3, dim), torch.randn(1, 6, dim)
    out, a = att(g, s)
    q, k, v = att.q_proj(g), att.k_proj(s), att.v_proj(s)
    logits = q @ k.transpose(1, 2) / dim ** 0.5
    onehot = torch.zeros_like(logits).scatter_(1, logits.argmax(1, keepdim=True), 1.0)
    merged = (onehot @ v) / (onehot.sum(-1, keepdim=True) + 1.0)
    assert torch.allclose(a["logits"], logits, atol=1e-6)
    assert torch.allclose(out, att.proj(merged), atol=1e-6)


def test_grouping_block_shapes_and_token_mixing():
    torch.manual_seed(0)
    block = GroupingBlock(dim=12, out_dim=12, num_heads=3, num_group_token=8, num_output_group=2,
                          norm_layer=nn.LayerNorm).eval()
    x, groups = torch.randn(2, 20, 12), torch.randn(2, 8, 12)
    new_x, a = block(x, groups)
    assert new_x.shape == (2, 2, 12)
    assert a["soft"].shape == (2, 2, 20)
    assert torch.allclose(a["soft"].sum(1), torch.ones(2, 20), atol=1e-6)
    assert block.mlp_inter.fc1.in_features == 8 and block.mlp_inter.fc1.out_features == 6
    assert block.mlp_inter.fc2.out_features == 2


def test_assign_rejects_nothing_silently_for_soft_without_gumbel():
    logits = torch.randn(1, 3, 4)
    assert torch.allclose(assign(logits, dim=1, hard=False, gumbel=False), torch.softmax(logits, 1))
    with pytest.raises(IndexError):
        assign(logits, dim=5)


def test_grouping_block_assigns_in_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    block = GroupingBlock(dim=48, out_dim=48, num_heads=3, num_group_token=16, num_output_group=8,
                          norm_layer=nn.LayerNorm).eval()
    x, groups = torch.randn(4, 196, 48), torch.randn(4, 16, 48)
    with torch.no_grad():
        ref_x, ref = block(x, groups)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low_x, low = block(x, groups)
            # The same block with the group side left to autocast: what the fp32 region prevents.
            g = block.pre_assign_attn(block.project_group_token(block.norm_tokens(groups)), block.norm_x(x))
            rounded = (block.assign.q_proj(g) @ block.assign.k_proj(block.norm_x(x)).transpose(1, 2))
    assert low["logits"].dtype == torch.float32
    # Same fp32 inputs, fp32 group side: the assignment is the fp32 one exactly.
    torch.testing.assert_close(low["logits"], ref["logits"], rtol=0, atol=0)
    assert torch.equal(low["hard"], ref["hard"])
    assert rounded.dtype == torch.bfloat16
    assert not torch.equal(rounded.float().argmax(1), ref["logits"].argmax(1))
    # The merged tokens' channel MLP runs in fp32 too: the block's output is the fp32 one exactly.
    assert low_x.dtype == torch.float32
    torch.testing.assert_close(low_x, ref_x, rtol=0, atol=0)


def test_grouping_block_keeps_the_model_dtype_without_autocast():
    torch.manual_seed(0)
    block = GroupingBlock(dim=12, out_dim=12, num_heads=3, num_group_token=4, num_output_group=2,
                          norm_layer=nn.LayerNorm).double().eval()
    new_x, a = block(torch.randn(2, 10, 12, dtype=torch.float64), torch.randn(2, 4, 12, dtype=torch.float64))
    assert new_x.dtype == a["logits"].dtype == torch.float64


def test_grouping_block_output_with_and_without_the_group_token_residual():
    torch.manual_seed(0)
    kwargs = dict(dim=12, out_dim=12, num_heads=3, num_group_token=6, num_output_group=8,
                  norm_layer=nn.LayerNorm, gumbel=False)
    official = GroupingBlock(**kwargs).eval()
    own_only = GroupingBlock(**kwargs, group_token_residual=False).eval()
    own_only.load_state_dict(official.state_dict())
    x, tokens = torch.randn(3, 10, 12), torch.randn(3, 6, 12)

    merged, groups, assignment = official._group_side(x, tokens)

    def tail(h):
        return official.reduction(h) + official.mlp_channels(official.norm_new_x(h))

    out_official, _ = official(x, tokens)
    out_own, a_own = own_only(x, tokens)
    assert torch.allclose(out_official, tail(merged + groups), atol=1e-6)
    assert torch.allclose(out_own, tail(merged), atol=1e-6)
    assert torch.equal(a_own["hard"], assignment["hard"])
    # Without the residual a group that holds no segment carries nothing of the image: every
    # empty group of every image has the same output.
    empty = a_own["hard"].sum(-1) == 0
    assert empty.sum() >= 2
    rows = out_own[empty]
    assert torch.allclose(rows, rows[:1].expand_as(rows), atol=1e-6)
    assert not torch.allclose(out_official[empty], out_official[empty][:1].expand_as(rows), atol=1e-3)


def test_group_token_fade_schedule_and_its_config_errors():
    from groupvit_d2.modeling.groupvit.layers.grouping import fade_weight, parse_fade

    assert [fade_weight(i, (100, 400)) for i in (0, 100, 175, 400, 900)] == [1.0, 1.0, 0.75, 0.0, 0.0]
    assert parse_fade([]) == () and parse_fade([300, 700]) == (300, 700)
    for bad in ([5], [3, 3], [7, 2], [-1, 4], [1.5, 3], [1, 2, 3]):
        with pytest.raises(ValueError, match="GROUP_TOKEN_RESIDUAL_FADE"):
            parse_fade(bad)


def test_grouping_block_token_residual_weight_scales_the_group_term():
    torch.manual_seed(0)
    block = GroupingBlock(dim=12, out_dim=12, num_heads=3, num_group_token=6, num_output_group=4,
                          norm_layer=nn.LayerNorm, gumbel=False).eval()
    x, tokens = torch.randn(2, 10, 12), torch.randn(2, 6, 12)
    merged, groups, _ = block._group_side(x, tokens)
    block.token_residual_weight = 0.25
    out, _ = block(x, tokens)
    expected = block.reduction(merged + 0.25 * groups) + block.mlp_channels(block.norm_new_x(merged + 0.25 * groups))
    assert torch.allclose(out, expected, atol=1e-6)
