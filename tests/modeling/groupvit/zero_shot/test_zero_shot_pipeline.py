"""The batched functions chained together against a per-image transcription of docs/DESIGN.md section 3."""

import pytest
import torch
import torch.nn.functional as F

from groupvit_d2.modeling.groupvit.zero_shot import (
    cumulative_group_maps,
    group_class_affinity,
    onehot_argmax,
    pixel_class_scores,
    upsample_group_maps,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _reference_one_image(a1, a2, groups, image, classes, scale, topk, bg_thresh, grid, size):
    """One image, step by step: a1 (G1, N), a2 (G2, G1), groups (G2, D), image (D,)."""
    patch_to_group = a1.t() @ a2.t()  # (N, G2)
    maps = patch_to_group.t().reshape(1, -1, *grid)
    maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[0]  # (G2, H, W)
    labels = maps.argmax(dim=0)
    z = F.normalize(groups, dim=-1) @ classes.t() * scale
    image_affinity = (F.normalize(image, dim=-1) @ classes.t() * scale).softmax(dim=-1)
    keep = image_affinity.topk(min(topk, classes.shape[0])).indices
    masked = torch.full_like(z, float("-inf"))
    masked[:, keep] = z[:, keep]
    affinity = masked.softmax(dim=-1) * z.softmax(dim=-1)  # (G2, C)
    scores = affinity[labels].permute(2, 0, 1)  # (C, H, W)
    if bg_thresh is None:
        return scores
    thr = min(bg_thresh, affinity.max().item())
    background = (scores.max(dim=0).values < thr).to(scores.dtype)
    return torch.cat([background[None], scores])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bg_thresh", [None, 0.9, 0.2])
def test_batched_pipeline_matches_per_image_reference(device, bg_thresh):
    torch.manual_seed(1)
    batch, grid, size = 3, (4, 4), (8, 8)
    a1 = torch.randn(batch, 8, 16).softmax(dim=1).to(device)
    a2 = torch.randn(batch, 4, 8).softmax(dim=1).to(device)
    groups = torch.randn(batch, 4, 6, device=device)
    images = torch.randn(batch, 6, device=device)
    classes = F.normalize(torch.randn(5, 6), dim=-1).to(device)
    scale = torch.tensor(10.0, device=device)

    maps = cumulative_group_maps([a1, a2])[-1]
    onehot = onehot_argmax(upsample_group_maps(maps, grid, size))
    affinity = group_class_affinity(groups, images, classes, scale, topk=3)
    scores = pixel_class_scores(onehot, affinity, bg_thresh)

    assert scores.shape == (batch, 5 if bg_thresh is None else 6, *size)
    assert scores.device.type == device
    for b in range(batch):
        expected = _reference_one_image(
            a1[b], a2[b], groups[b], images[b], classes, scale, 3, bg_thresh, grid, size
        )
        torch.testing.assert_close(scores[b], expected)
