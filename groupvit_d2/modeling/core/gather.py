"""Cross-process plumbing for the contrastive losses: negatives come from the global batch.

Every function here degrades to a no-op in a single process, so that training and tests never need
`torch.distributed` to be available or initialised.
"""

import warnings

import torch
from detectron2.utils import comm

__all__ = ["all_gather_with_grad", "global_batch_offset", "global_mean_share"]


def all_gather_with_grad(x):
    """Concatenate `x` from every process along dim 0, keeping the autograd graph.

    Args:
        x (Tensor): (B, ...), the same shape on every process.

    Returns:
        Tensor: (W * B, ...), process `r`'s rows at `[r * B, (r + 1) * B)`; `x` itself when the
        world size is 1. In backward each process receives the sum of the gradients that all
        processes computed for its rows, so a loss on one process trains the embeddings of all.
    """
    if comm.get_world_size() == 1:
        return x
    # Imported here: `torch.distributed.nn` cannot be imported where torch.distributed is absent.
    import torch.distributed.nn.functional as dist_fn

    with warnings.catch_warnings():
        # Newer torch marks this autograd-aware gather deprecated in favour of a private API that
        # older torch lacks; it still works on every backend (gloo included), so keep it quiet.
        warnings.filterwarnings(
            "ignore", message=".*all_gather is deprecated", category=FutureWarning
        )
        parts = dist_fn.all_gather(x.contiguous())
    return torch.cat(parts, dim=0)


def global_batch_offset(local_batch_size):
    """Index of this process's first row in a tensor gathered by `all_gather_with_grad`.

    Args:
        local_batch_size (int): rows per process (B); every process must have the same B.

    Returns:
        int: `rank * B` (0 in a single process).
    """
    return comm.get_rank() * int(local_batch_size)


def global_mean_share(values):
    """This process's share of the mean of `values` over ALL processes' rows.

    DDP averages gradients over processes, so each process returns
    `sum(local values) * W / (number of rows on all processes)`; their average over processes is
    exactly the mean over the global batch, even when processes hold different numbers of rows
    (e.g. after dropping padded labels). A plain per-process mean would weight rows unequally.

    Args:
        values (Tensor): (N,) per-row losses on this process; N may be 0 or differ between
            processes.

    Returns:
        Tensor: scalar; 0 (still attached to the graph) when no process has any row.
    """
    world_size = comm.get_world_size()
    count = torch.tensor([float(values.numel())], device=values.device)
    with torch.no_grad():
        total = all_gather_with_grad(count).sum()
    return values.sum() * world_size / total.clamp(min=1.0)
