"""Two processes with batch B each train exactly like one process with batch 2B."""
import multiprocessing
import os

import pytest
import torch
import torch.distributed as dist
from detectron2.modeling import build_model

from groupvit_d2.data.text import build_tokenizer

B = 3


def _batch(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    tok = build_tokenizer(32)
    words = ["ball", "box", "tree", "house", "fish", "star", "moon", "car"]
    out = []
    for i in range(n):
        texts = [f"a {words[i]} next to a {words[(i + 1) % 8]}", f"a photo of a {words[i]}.",
                 f"a photo of a {words[(i + 1) % 8]}."]
        mask = torch.tensor([True, i % 2 == 0])  # uneven PAD labels across ranks
        if not mask[1]:
            texts[2] = ""
        out.append({"image": torch.randint(0, 256, (3, 64, 64), generator=g, dtype=torch.uint8),
                    "text": tok(texts), "label_mask": mask})
    return out


def _loss_and_grads(model, batch):
    model.zero_grad()
    losses = model(batch)
    total = sum(losses.values())
    total.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


def _worker(rank, model, batch, rdzv, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rdzv}", rank=rank, world_size=2)
    try:
        losses, grads = _loss_and_grads(model, batch[rank * B:(rank + 1) * B])
        # What DistributedDataParallel does: average the gradients over processes.
        for g in grads.values():
            dist.all_reduce(g)
            g /= 2
        for v in losses.values():
            dist.all_reduce(v)
            v /= 2
        torch.save({"losses": losses, "grads": grads}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs torch.distributed and the fork start method")
def test_two_processes_match_one_process_with_the_global_batch(tiny_cfg, tmp_path):
    tiny_cfg.MODEL.GROUPVIT.GUMBEL = False
    tiny_cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    torch.manual_seed(0)
    model = build_model(tiny_cfg).double().train()
    batch = _batch(2 * B)
    ref_losses, ref_grads = _loss_and_grads(model, batch)

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(r, model, batch, tmp_path / "rdzv", tmp_path)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for k, v in ref_losses.items():
        assert torch.allclose(results[0]["losses"][k], v, atol=1e-5, rtol=0), k
    assert set(results[0]["grads"]) == set(ref_grads)
    for name, g in ref_grads.items():
        assert torch.allclose(results[0]["grads"][name], g, atol=1e-5, rtol=1e-5), name
        assert torch.equal(results[0]["grads"][name], results[1]["grads"][name])
