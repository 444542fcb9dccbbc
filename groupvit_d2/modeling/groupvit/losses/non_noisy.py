"""Positives of the "non-noisy" multi-label contrastive loss (thesis sec. 5.10).

Plain multi-label contrast treats a label of another image as a negative even when it names the
same thing ("dog" in two captions). The thesis counts such labels as positives: two labels are the
same when their raw strings (before prompting, so "a photo of a dog." and "a drawing of the dog."
both come from "dog") are equal. Raw strings are only known locally, so the thesis compares them
within each process's mini-batch and uses only that batch's labels as negatives
(`multi_label_contrastive_loss(..., global_negatives=False)`); the image-text contrastive loss keeps
its global negatives.
"""

from typing import Sequence

import torch

__all__ = ["same_label_positives"]


def same_label_positives(raw_labels: Sequence[Sequence[str]], label_mask=None, device=None):
    """Image-label positives where every label with the same raw string counts.

    Args:
        raw_labels: B lists of K strings (the mapper's "raw_labels"; "" for a PAD label).
        label_mask (Tensor or None): (B, K) bool, False on PAD labels (None: all real).
        device: where the result lives (default: label_mask's device, else CPU).

    Returns:
        (positives, text_positives): positives (B, B*K) bool, row i = image i, column j*K + k =
        label k of image j, True when image i has a real label with that label's raw string;
        text_positives (B*K, B) bool, its transpose (label j*K + k -> every image having its
        string). An image's own real labels are always positives; PAD labels never are. These are
        the `positives` / `text_positives` of `multi_label_contrastive_loss` with
        `global_negatives=False`.
    """
    batch = len(raw_labels)
    num_labels = len(raw_labels[0]) if batch else 0
    if any(len(labels) != num_labels for labels in raw_labels):
        raise ValueError(
            f"same_label_positives: every image needs the same number of raw labels, got "
            f"{[len(labels) for labels in raw_labels]}"
        )
    if device is None:
        device = label_mask.device if label_mask is not None else "cpu"
    if label_mask is None:
        label_mask = torch.ones(batch, num_labels, dtype=torch.bool)
    if tuple(label_mask.shape) != (batch, num_labels):
        raise ValueError(
            f"same_label_positives: label_mask must be ({batch}, {num_labels}), got {tuple(label_mask.shape)}"
        )
    index = {}
    ids = torch.tensor(
        [[index.setdefault(str(label), len(index)) for label in labels] for labels in raw_labels],
        dtype=torch.long,
    ).reshape(batch, num_labels).to(device)
    ids = ids.masked_fill(~label_mask.to(device), -1)
    # same[i, k', j, k]: label k' of image i and label k of image j are the same real string.
    same = (ids[:, :, None, None] == ids[None, None, :, :]) & (ids >= 0)[:, :, None, None]
    positives = same.any(dim=1).reshape(batch, batch * num_labels)
    return positives, positives.t().contiguous()
