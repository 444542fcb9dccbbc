import datetime

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from groupvit_d2.modeling.core import (
    all_gather_with_grad,
    global_batch_offset,
    global_mean_share,
    image_text_contrastive_loss,
)
from groupvit_d2.modeling.groupvit.losses import multi_label_contrastive_loss

WORLD, BATCH, NUM_LABELS, DIM = 2, 3, 3, 6


def test_single_process_needs_no_distributed():
    assert not dist.is_initialized()
    x = torch.randn(4, 3)
    assert all_gather_with_grad(x) is x
    assert global_batch_offset(4) == 0
    values = torch.tensor([1.0, 2.0, 6.0])
    assert global_mean_share(values).item() == pytest.approx(3.0)


def test_global_mean_share_of_nothing_is_zero_and_differentiable():
    x = torch.randn(3, requires_grad=True)
    share = global_mean_share(x[torch.zeros(3, dtype=torch.bool)])
    share.backward()
    assert share.item() == 0.0 and (x.grad == 0).all()


def _global_batch():
    """The whole global batch, identical in every process (a fixed seed)."""
    gen = torch.Generator().manual_seed(123)
    n = WORLD * BATCH
    image = torch.randn(n, DIM, generator=gen, dtype=torch.float64)
    text = torch.randn(n, DIM, generator=gen, dtype=torch.float64)
    labels = torch.randn(n, NUM_LABELS, DIM, generator=gen, dtype=torch.float64)
    # Uneven padding: rank 0 keeps 4 labels (one image has none), rank 1 keeps 8.
    mask = torch.ones(n, NUM_LABELS, dtype=torch.bool)
    mask[0, 1:] = False
    mask[1, :] = False
    mask[4, 2] = False
    return image, text, labels, mask


def _groups(image):
    """Three differentiable "groups" an image, so that the best one differs from row to row."""
    return torch.stack([image, image.flip(-1), image.roll(1, dims=-1) * -0.5], dim=1)


def _group_mask(n):
    mask = torch.ones(n, 3, dtype=torch.bool)
    mask[::3, 0] = False
    mask[1::4, 2] = False
    return mask


def _losses_and_grads(image, text, labels, mask, shard):
    """Each loss on rows `shard` of the replicated leaves, with its gradients on the full leaves."""
    image, text, labels = (t.clone().requires_grad_(True) for t in (image, text, labels))
    scale = torch.tensor(9.0, dtype=torch.float64)
    losses = {
        "contrastive": image_text_contrastive_loss(image[shard], text[shard], scale),
        "paper": multi_label_contrastive_loss(
            image[shard], labels[shard], scale, mask[shard], "paper"
        ),
        "official": multi_label_contrastive_loss(
            image[shard], labels[shard], scale, mask[shard], "official"
        ),
        "local": multi_label_contrastive_loss(
            image[shard], labels[shard], scale, mask[shard], "paper", global_negatives=False
        ),
        # Labels matched to each image's best kept group: the group masks are gathered too.
        "best_group": multi_label_contrastive_loss(
            _groups(image)[shard], labels[shard], scale, mask[shard], "paper", group_mask=_group_mask(len(image))[shard]
        ),
        "own_group_negatives": multi_label_contrastive_loss(
            _groups(image)[shard], labels[shard], scale, mask[shard], "official",
            group_mask=_group_mask(len(image))[shard], own_group_negatives=True,
        ),
    }
    out = {}
    for name, loss in losses.items():
        grads = torch.autograd.grad(loss, (image, text, labels), allow_unused=True)
        grads = [
            torch.zeros_like(t) if g is None else g for g, t in zip(grads, (image, text, labels))
        ]
        out[name] = (loss.detach(), *grads)
    return out


def _worker(rank, init_file, result_file):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=WORLD,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        image, text, labels, mask = _global_batch()
        shard = slice(rank * BATCH, (rank + 1) * BATCH)
        assert global_batch_offset(BATCH) == rank * BATCH
        assert torch.equal(all_gather_with_grad(image[shard]), image)

        results = _losses_and_grads(image, text, labels, mask, shard)
        reduced = {}
        for name, tensors in results.items():
            rank_losses = all_gather_with_grad(tensors[0].reshape(1))
            grads = []
            for grad in tensors[1:]:
                dist.all_reduce(grad)  # what DDP does with gradients: the average over ranks
                grads.append(grad / WORLD)
            reduced[name] = (rank_losses, *grads)
        if rank == 0:
            torch.save(reduced, result_file)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(
    not dist.is_available() or "fork" not in mp.get_all_start_methods(),
    reason="needs torch.distributed with gloo and the fork start method",
)
def test_two_processes_match_one_process_with_the_global_batch(tmp_path):
    result_file = tmp_path / "result.pt"
    # Fork, as PyTorch's own gloo tests do: spawned children would re-import the whole package
    # (seconds each on two cores); the forked ones only run tiny single-threaded ops.
    mp.start_processes(
        _worker, args=(str(tmp_path / "init"), str(result_file)), nprocs=WORLD, start_method="fork"
    )
    distributed = torch.load(result_file, weights_only=True)

    image, text, labels, mask = _global_batch()
    single = _losses_and_grads(image, text, labels, mask, slice(None))
    for name in ("contrastive", "paper", "official", "best_group", "own_group_negatives"):
        rank_losses, *grads = distributed[name]
        loss, *expected_grads = single[name]
        torch.testing.assert_close(rank_losses.mean(), loss, atol=1e-5, rtol=0)
        for grad, expected in zip(grads, expected_grads):
            torch.testing.assert_close(grad, expected, atol=1e-5, rtol=0)
        assert sum(g.abs().sum() for g in grads) > 0

    # Local negatives: each rank's loss is the one-process loss of its own shard alone.
    for rank in range(WORLD):
        rows = slice(rank * BATCH, (rank + 1) * BATCH)
        alone = _losses_and_grads(image[rows], text[rows], labels[rows], mask[rows], slice(None))
        torch.testing.assert_close(
            distributed["local"][0][rank], alone["local"][0], atol=1e-5, rtol=0
        )
