import pytest
import torch

from groupvit_d2.modeling.groupvit.zero_shot import cumulative_group_maps, onehot_argmax, upsample_group_maps

# Two stages on a 1x2 patch grid: 2 patches -> 2 groups -> 3 groups. A[b, g, n] is the share of
# token n that goes to group g (columns sum to 1, the softmax over groups).
A1 = torch.tensor([[[0.9, 0.1], [0.1, 0.9]]], dtype=torch.float64)
A2 = torch.tensor([[[0.55, 0.0], [0.4, 0.4], [0.05, 0.6]]], dtype=torch.float64)
# By hand: P1 = A1^T, P2 = A1^T @ A2^T.
#   patch 0: 0.9 * (0.55, 0.4, 0.05) + 0.1 * (0.0, 0.4, 0.6) = (0.495, 0.4, 0.105)
#   patch 1: 0.1 * (0.55, 0.4, 0.05) + 0.9 * (0.0, 0.4, 0.6) = (0.055, 0.4, 0.545)
P1 = torch.tensor([[[0.9, 0.1], [0.1, 0.9]]], dtype=torch.float64)
P2 = torch.tensor([[[0.495, 0.4, 0.105], [0.055, 0.4, 0.545]]], dtype=torch.float64)


def test_stage_maps_are_the_product_of_soft_assignments():
    maps = cumulative_group_maps([A1, A2])
    assert len(maps) == 2
    torch.testing.assert_close(maps[0], P1)
    torch.testing.assert_close(maps[1], P2)


def test_stage_maps_rows_sum_to_one_and_shapes():
    torch.manual_seed(0)
    stages = [
        torch.randn(2, 6, 12).softmax(dim=1),
        torch.randn(2, 4, 6).softmax(dim=1),
        torch.randn(2, 3, 4).softmax(dim=1),
    ]
    maps = cumulative_group_maps(stages)
    assert [tuple(m.shape) for m in maps] == [(2, 12, 6), (2, 12, 4), (2, 12, 3)]
    for m in maps:
        torch.testing.assert_close(m.sum(dim=-1), torch.ones(2, 12))


def test_stage_maps_reject_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        cumulative_group_maps([])
    with pytest.raises(ValueError, match="stage 1"):
        cumulative_group_maps([torch.rand(1, 4, 9), torch.rand(1, 2, 5)])
    with pytest.raises(ValueError, match=r"\(B, G, N\)"):
        cumulative_group_maps([torch.rand(4, 9)])


def test_upsample_before_argmax_differs_from_argmax_before_upsample():
    # 1x2 grid -> 1x4 pixels, bilinear with align_corners=False: the pixel weights on
    # (patch 0, patch 1) are (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1).
    up = upsample_group_maps(P2, grid=(1, 2), size=(1, 4))
    expected = torch.tensor(
        [
            [0.495, 0.385, 0.165, 0.055],  # group 0
            [0.4, 0.4, 0.4, 0.4],  # group 1
            [0.105, 0.215, 0.435, 0.545],  # group 2
        ],
        dtype=torch.float64,
    ).view(1, 3, 1, 4)
    torch.testing.assert_close(up, expected)

    onehot = onehot_argmax(up)
    assert onehot.argmax(dim=1).flatten().tolist() == [0, 1, 2, 2]
    # Group 1 never wins at a patch, so argmax-then-upsample (nearest labels) cannot pick it.
    labels_first = P2.argmax(dim=-1).view(1, 1, 1, 2).double()
    nearest = torch.nn.functional.interpolate(labels_first, size=(1, 4), mode="nearest")
    assert nearest.flatten().long().tolist() == [0, 0, 2, 2]


def test_upsample_uses_row_major_grid():
    # One group whose value is the patch index on a 2x3 grid (row-major), upsampled to 4x6.
    maps = torch.arange(6, dtype=torch.float64).view(1, 6, 1)
    up = upsample_group_maps(maps, grid=(2, 3), size=(4, 6))
    rows = torch.tensor([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]], dtype=torch.float64)
    cols = torch.tensor(
        [[1, 0, 0], [0.75, 0.25, 0], [0.25, 0.75, 0], [0, 0.75, 0.25], [0, 0.25, 0.75], [0, 0, 1]],
        dtype=torch.float64,
    )
    grid = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.float64)
    torch.testing.assert_close(up[0, 0], rows @ grid @ cols.T)
    # One pixel by hand: row weights (0.75, 0.25), column weights (0, 0.75, 0.25).
    assert up[0, 0, 1, 3].item() == pytest.approx(0.75 * (0.75 * 1 + 0.25 * 2) + 0.25 * (0.75 * 4 + 0.25 * 5))


def test_upsample_rejects_wrong_grid():
    with pytest.raises(ValueError, match="grid"):
        upsample_group_maps(torch.rand(1, 6, 2), grid=(2, 2), size=(4, 4))


def test_onehot_argmax_ties_and_dtype():
    maps = torch.tensor([[0.3, 0.5], [0.3, 0.5], [0.1, 0.0]], dtype=torch.float64).view(1, 3, 1, 2)
    onehot = onehot_argmax(maps)
    assert onehot.dtype == torch.float64
    # Pixel 0: groups 0 and 1 tie at 0.3 -> the first; pixel 1: tie at 0.5 -> the first.
    expected = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64).view(1, 3, 1, 2)
    assert torch.equal(onehot, expected)
    assert torch.equal(onehot.sum(dim=1), torch.ones(1, 1, 2, dtype=torch.float64))
