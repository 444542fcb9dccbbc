import pytest
import torch
import torch.nn.functional as F

from groupvit_d2.modeling.groupvit import GroupViTImageEncoder
from groupvit_d2.modeling.groupvit.image_encoder import GroupViTVisionOutput
from groupvit_d2.modeling.core.pos_embed import resize_pos_embed

TINY = dict(img_size=64, patch_size=16, embed_dim=24, depths=(1, 1, 1), num_heads=(2, 2, 2),
            num_group_tokens=(8, 4, 0), num_output_groups=(8, 2), drop_path_rate=0.0)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return GroupViTImageEncoder(**TINY, out_features=("stage1", "grouped")).eval()


def test_shapes_and_assignments(encoder):
    out = encoder.encode(torch.randn(2, 3, 64, 96))
    assert out.grid == (4, 6)
    assert out.tokens.shape == (2, 2, 24) and out.pooled.shape == (2, 24)
    assert [a.shape for a in out.soft_assignments] == [(2, 8, 24), (2, 2, 8)]
    for soft, hard in zip(out.soft_assignments, out.hard_assignments):
        assert torch.allclose(soft.sum(1), torch.ones_like(soft[:, 0]), atol=1e-5)
        assert torch.equal(hard.argmax(1), soft.argmax(1))
    p2g = out.patch_to_group()
    assert torch.allclose(p2g, out.soft_assignments[0].transpose(1, 2) @ out.soft_assignments[1].transpose(1, 2))
    assert torch.allclose(p2g.sum(-1), torch.ones(2, 24), atol=1e-5)


def test_detectron2_backbone_interface(encoder):
    feats = encoder(torch.randn(1, 3, 64, 64))
    shapes = encoder.output_shape()
    assert set(feats) == {"stage1", "grouped"}
    for name, f in feats.items():
        assert f.shape == (1, shapes[name].channels, 4, 4) and shapes[name].stride == 16


def test_bf16_autocast_ends_with_the_first_stage(encoder):
    """Under autocast only the patch-level first stage computes in bf16; from its Grouping Block on,
    the encoder computes in fp32 exactly what the fp32 stages compute from the first stage's blocks."""
    images = torch.randn(2, 3, 64, 96)
    first = []
    hook = encoder.layers[0].register_forward_hook(lambda mod, args, out: first.append(out))
    try:
        with torch.no_grad():
            full = encoder.encode(images)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = encoder.encode(images)
    finally:
        hook.remove()
    _, group_token, segments, _ = first[1]
    # The expensive blocks keep the autocast: their output is not the fp32 one.
    assert not torch.equal(segments.float(), first[0][2])
    with torch.no_grad():
        x, _ = encoder.layers[0].downsample(segments.float(), group_token.float())
        group_token = group_token.float()
        for layer in encoder.layers[1:]:
            x, group_token, _, _ = layer(x, group_token)
        ref = encoder.norm(x)
    assert low.tokens.dtype == torch.float32
    assert all(a.dtype == torch.float32 for a in low.soft_assignments)
    torch.testing.assert_close(low.tokens, ref, rtol=0, atol=0)
    torch.testing.assert_close(low.tokens, full.tokens, rtol=0.05, atol=0.05)


def test_1stage_variant():
    m = GroupViTImageEncoder(img_size=64, embed_dim=24, depths=(1, 1), num_heads=(2, 2),
                             num_group_tokens=(8, 0), num_output_groups=(2,)).eval()
    out = m.encode(torch.randn(1, 3, 64, 64))
    assert out.tokens.shape == (1, 2, 24) and len(out.soft_assignments) == 1


def test_position_embedding_is_interpolated_bicubically():
    pos = torch.randn(1, 16, 5)
    assert resize_pos_embed(pos, (4, 4)) is pos
    resized = resize_pos_embed(pos, (6, 8))
    expected = F.interpolate(pos.reshape(1, 4, 4, 5).permute(0, 3, 1, 2), size=(6, 8), mode="bicubic",
                             align_corners=False).permute(0, 2, 3, 1).reshape(1, 48, 5)
    assert torch.allclose(resized, expected)


def test_bad_inputs_have_clear_errors(encoder):
    with pytest.raises(ValueError, match="not divisible by the patch size 16"):
        encoder.encode(torch.randn(1, 3, 64, 70))
    with pytest.raises(ValueError, match="3-channel"):
        encoder.encode(torch.randn(1, 4, 64, 64))
    with pytest.raises(ValueError, match="3-channel"):
        encoder.encode(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="num_output_groups"):
        GroupViTImageEncoder(depths=(1, 1, 1), num_heads=(2, 2, 2), num_group_tokens=(8, 4, 0), num_output_groups=(8,))


def test_gradient_checkpointing_matches():
    torch.manual_seed(0)
    a = GroupViTImageEncoder(**TINY, gumbel=False)
    b = GroupViTImageEncoder(**TINY, gumbel=False, gradient_checkpointing=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 64, 64)
    ya, yb = a.encode(x).pooled, b.encode(x).pooled
    assert torch.allclose(ya, yb, atol=1e-6)
    ya.sum().backward()
    yb.sum().backward()
    assert torch.allclose(a.pos_embed.grad, b.pos_embed.grad, atol=1e-6)


def test_assignment_init_std_scales_only_the_assignment_projections():
    def build(std):
        torch.manual_seed(0)
        return GroupViTImageEncoder(img_size=64, patch_size=16, embed_dim=96, depths=(1, 1, 1), num_heads=(3, 3, 3),
                                    num_group_tokens=(16, 8, 0), num_output_groups=(16, 8), assign_init_std=std)

    official, wide = build(0.02), build(0.1)
    for a, b in zip(official.layers[:2], wide.layers[:2]):
        for name in ("q_proj", "k_proj"):
            w_official = getattr(a.downsample.assign, name).weight
            w_wide = getattr(b.downsample.assign, name).weight
            assert abs(float(w_official.std()) - 0.02) < 0.002
            assert abs(float(w_wide.std()) - 0.1) < 0.005
        # Everything else keeps the official initialisation.
        assert abs(float(b.downsample.assign.v_proj.weight.std()) - 0.02) < 0.002
    # The assignment logits start with a spread of about std^2 x width: 0.04 at 0.02, near 1 at 0.1.
    x = torch.randn(2, 3, 64, 64)
    std_official = float(official.eval().encode(x).assignment_logits[0].std(dim=1).mean())
    std_wide = float(wide.eval().encode(x).assignment_logits[0].std(dim=1).mean())
    assert std_official < 0.1 < 0.5 < std_wide


def _patch_counts(out):
    """Patches per final group, chaining the argmax of every stage by hand."""
    owner = None
    for hard in out.hard_assignments:
        choice = hard.argmax(1)  # (B, N_l): each token's group
        owner = choice if owner is None else torch.gather(choice, 1, owner)
    return torch.stack([torch.bincount(o, minlength=out.tokens.shape[1]) for o in owner])


@pytest.mark.parametrize("training", [False, True])
def test_occupied_pooling_averages_the_groups_that_hold_patches(training):
    torch.manual_seed(0)
    wide = dict(TINY, num_group_tokens=(8, 8, 0), num_output_groups=(8, 8))
    encoder = GroupViTImageEncoder(**wide, pooling="occupied").train(training)
    out = encoder.encode(torch.randn(4, 3, 64, 64))
    counts = _patch_counts(out)
    assert counts.sum(1).tolist() == [16] * 4  # 4 x 4 patches, each in one final group
    occupied = out.occupied_groups()
    assert torch.equal(occupied, counts > 0) and not occupied.all()
    expected = torch.stack([out.tokens[b, occupied[b]].mean(0) for b in range(4)])
    torch.testing.assert_close(out.pooled, expected)
    # The official mean keeps every group, occupied or not.
    mean = GroupViTImageEncoder(**wide).eval()
    mean.load_state_dict(encoder.state_dict())
    ref = mean.encode(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(ref.pooled, ref.tokens.mean(1))


def test_patches_pooling_is_the_normed_mean_of_the_first_stage_and_skips_the_groups():
    torch.manual_seed(0)
    encoder = GroupViTImageEncoder(**TINY, pooling="patches", out_features=("stage1",)).train()
    images = torch.randn(2, 3, 64, 64)
    out = encoder.encode(images)
    stage1 = encoder.dense_features(out)["stage1"].flatten(2).transpose(1, 2)  # (B, 16, C)
    torch.testing.assert_close(out.pooled, F.layer_norm(stage1.mean(1), (24,), encoder.norm.weight,
                                                        encoder.norm.bias, encoder.norm.eps))
    # A loss on the image feature trains the first stage's blocks and nothing that makes or
    # carries the groups. (A plain sum would be flat through the LayerNorm, hence the weights.)
    (out.pooled * torch.randn(24)).sum().backward()
    trained = {n for n, p in encoder.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(n.startswith("layers.0.blocks.") for n in trained) and "patch_embed.proj.weight" in trained
    assert not any(n.startswith(("layers.0.downsample", "layers.1.", "layers.2.")) for n in trained)


def test_occupied_groups_of_a_collapsed_grouping_is_its_one_group():
    # Every patch in stage-1 group 3, and every stage-1 group in final group 1.
    hard1 = torch.zeros(2, 8, 16)
    hard1[:, 3] = 1.0
    hard2 = torch.zeros(2, 2, 8)
    hard2[:, 1] = 1.0
    out = GroupViTVisionOutput(tokens=torch.randn(2, 2, 24), pooled=None, grid=(4, 4),
                               hard_assignments=[hard1, hard2])
    assert out.occupied_groups().tolist() == [[False, True], [False, True]]


def test_unknown_pooling_is_an_error():
    with pytest.raises(ValueError, match="MODEL.GROUPVIT.POOLING.*'max'"):
        GroupViTImageEncoder(**TINY, pooling="max")


def test_bf16_inference_reads_weight_copies_and_training_keeps_fp32_weights():
    torch.manual_seed(0)
    encoder = GroupViTImageEncoder(**TINY).eval()
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = encoder.encode(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = encoder.encode(images)
    # Inference made bf16 copies of the first stage's Linear weights, outside the state dict.
    assert len(encoder._weight_copies) > 0
    assert list(encoder.state_dict()) == list(state)
    assert all(v.dtype == torch.float32 and torch.equal(v, state[k]) for k, v in encoder.state_dict().items())
    torch.testing.assert_close(low.tokens, ref.tokens, rtol=0.05, atol=0.05)
    assert torch.equal(low.hard_assignments[-1].argmax(1), ref.hard_assignments[-1].argmax(1))

    # Weights changed in place after the copies were made: the next call uses the new ones.
    with torch.no_grad():
        for p in encoder.layers[0].blocks.parameters():
            p.mul_(1.5)
        fresh = GroupViTImageEncoder(**TINY).eval()
        fresh.load_state_dict(encoder.state_dict())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            again, expected = encoder.encode(images), fresh.encode(images)
    torch.testing.assert_close(again.tokens, expected.tokens, rtol=0, atol=0)

    # Training under autocast: gradients reach the fp32 weights, and train() drops the copies.
    encoder.train()
    assert len(encoder._weight_copies) == 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        encoder.encode(images).pooled.float().square().sum().backward()
    qkv = encoder.layers[0].blocks[0].attn.qkv.weight
    assert qkv.dtype == torch.float32 and qkv.grad is not None and qkv.grad.dtype == torch.float32
    assert qkv.grad.abs().sum() > 0
    assert len(encoder._weight_copies) == 0


def test_training_under_bf16_autocast_keeps_it_past_the_first_stage():
    """In training every stage's blocks and the Grouping Blocks' products run under the autocast;
    the assignments stay fp32 and the hard ones one-hot."""
    torch.manual_seed(0)
    encoder = GroupViTImageEncoder(**TINY).train()
    seen = {}
    hooks = [layer.blocks[0].mlp.fc1.register_forward_hook(
        lambda mod, args, out, i=i: seen.__setitem__(i, out.dtype)) for i, layer in enumerate(encoder.layers)]
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = encoder.encode(torch.randn(2, 3, 64, 64))
        assert seen == {0: torch.bfloat16, 1: torch.bfloat16, 2: torch.bfloat16}
        for hard in out.hard_assignments:
            assert hard.dtype == torch.float32
            onehot = F.one_hot(hard.detach().argmax(1), hard.shape[1]).transpose(1, 2).float()
            # fp32's rounding of hard - soft + soft, not bf16's (about 4e-3).
            torch.testing.assert_close(hard.detach(), onehot, rtol=0, atol=1e-6)
        out.pooled.float().sum().backward()
        assert all(p.grad is not None and p.grad.dtype == torch.float32
                   for p in encoder.layers[1].blocks.parameters())
        # At inference the later stages leave the autocast.
        seen.clear()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            encoder.eval().encode(torch.randn(2, 3, 64, 64))
        assert seen == {0: torch.bfloat16, 1: torch.float32, 2: torch.float32}
    finally:
        for h in hooks:
            h.remove()
