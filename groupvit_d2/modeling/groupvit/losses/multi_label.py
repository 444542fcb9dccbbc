"""Multi-label image-text contrastive loss (GroupViT paper, eq. 7), with PAD labels and a seam for
custom positives (e.g. labels with the same raw string across the batch)."""

import torch
import torch.nn.functional as F

from ...core.contrastive import check_logit_scale, scaled_logits
from ...core.gather import all_gather_with_grad, global_batch_offset, global_mean_share

__all__ = ["multi_label_contrastive_loss", "image_label_logits", "MULTI_LABEL_FORMS", "MULTI_LABEL_MATCHES"]

MULTI_LABEL_FORMS = ("paper", "official")
# What a label is compared with (MODEL.GROUPVIT.LOSS.MULTI_LABEL_MATCH).
MULTI_LABEL_MATCHES = ("image", "best_group")


def image_label_logits(image_emb, label_emb, logit_scale, group_mask=None):
    """Scaled cosine similarities between L2-normalised images and labels (M, C), (N, M).

    image_emb (N, C): one feature per image, `logit_scale * cos(image, label)`.
    image_emb (N, G, C) with group_mask (N, G) bool: an image's similarity to a label is that of its
    best group among those the mask keeps (docs/DESIGN.md section 2, "labels matched to groups").
    Only that group receives the label's gradient, so each noun is written into the group that
    already resembles it most, which is the group zero-shot inference names it with.
    """
    if image_emb.dim() == 2:
        return scaled_logits(image_emb, label_emb, logit_scale)
    logits = scaled_logits(image_emb.flatten(0, 1), label_emb, logit_scale).unflatten(0, image_emb.shape[:2])
    return logits.masked_fill(~group_mask[..., None], float("-inf")).amax(dim=1)


def _multi_positive_nll(logits, positives, form):
    """Per-row loss of rows that have several positives.

    Args:
        logits (Tensor): (N, M) float logits, -inf where a column does not exist for that row.
        positives (Tensor): (N, M) bool, at least one True per row, only on finite logits.
        form (str): "paper": -log(sum of the positives' softmax probabilities);
            "official": soft-target cross-entropy, -mean over positives of log-probability.

    Returns:
        Tensor: (N,)
    """
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    if form == "paper":
        return -torch.logsumexp(log_prob.masked_fill(~positives, float("-inf")), dim=1)
    # masked_fill before the product: log_prob is -inf on absent columns and -inf * 0 is nan.
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
    return -pos_log_prob / positives.sum(dim=1)


def _check_bool_matrix(name, matrix, shape):
    if matrix.dtype != torch.bool or tuple(matrix.shape) != shape:
        raise ValueError(
            f"{name} must be a bool tensor of shape {shape}, got {matrix.dtype} "
            f"{tuple(matrix.shape)}"
        )


def multi_label_contrastive_loss(
    image_emb,
    label_emb,
    logit_scale,
    label_mask=None,
    form="paper",
    positives=None,
    text_positives=None,
    global_negatives=True,
    group_mask=None,
    own_group_negatives=False,
):
    """Contrastive loss between each image and its K prompted labels (paper eq. 7, halved).

    Image->texts: for image i, the positives are its own valid labels and the negatives are every
    other valid label of the batch. `form="paper"` is eq. 7:
    `-1/B sum_i log( sum_k exp(s(i, i_k)) / sum_{j,k} exp(s(i, j_k)) )`.
    `form="official"` is the official code's soft-target cross-entropy with target `1/K_i` on each
    of image i's `K_i` valid labels: `-1/B sum_i 1/K_i sum_k log( exp(s(i, i_k)) / sum_{j,k'}
    exp(s(i, j_k')) )`. The official code has no PAD, so there `K_i = K`.
    Texts->image: each valid label is a query whose positive is its image (same in both forms):
    `-1/(sum_i K_i) sum_{i,k} log( exp(s(i_k, i)) / sum_j exp(s(i_k, j)) )`.
    The result is `0.5 * (image->texts + texts->image)`, the official half sum (eq. 7 is the sum).

    PAD labels (`label_mask` False) carry no loss: they are neither positives nor negatives of any
    image, their rows are dropped from texts->image, and averages are over the labels (images) that
    remain. An image without any valid label adds nothing to image->texts but is still a negative
    for the labels of other images.

    Custom positives (the seam for the "non-noisy" variant, where a label counts as a positive of
    every image that has a label with the same raw string) replace the default ones; they are
    intersected with the valid labels. Rows without any positive carry no loss.

    Args:
        image_emb (Tensor): (B, C) image embeddings, not necessarily normalised; or (B, G, C) group
            embeddings with `group_mask`, where s(i, j_k) is the similarity of label j_k to image
            i's best kept group (image_label_logits).
        label_emb (Tensor): (B, K, C) embeddings of each image's K prompted labels.
        logit_scale (Tensor): scalar, 1/temperature, already exponentiated and clamped by the
            caller (the official code gives this loss its own learnable scale).
        label_mask (Tensor or None): (B, K) bool, False on PAD labels; None means all valid.
        form (str): "paper" or "official", how image->texts combines the K positives.
        positives (Tensor or None): (B, W*B*K) bool; row i = local image i, column
            `(w*B + j)*K + k` = label k of image j on process w (the order of
            `all_gather_with_grad(label_emb.flatten(0, 1))`). Default: each image's own labels.
        text_positives (Tensor or None): (B*K, W*B) bool; row `i*K + k` = local label k of image
            i, column `w*B + j` = image j on process w. Default: each label's own image.
        global_negatives (bool): gather negatives from all processes (the paper, official code).
            False uses only this process's batch (the thesis's non-noisy variant); then W = 1 in
            the shapes above and the loss is this process's own batch mean.
        group_mask (Tensor or None): (B, G) bool, the groups of each image that may match a label
            (at least one per image); required with (B, G, C) image_emb, refused with (B, C).
        own_group_negatives (bool): with group embeddings, texts->image contrasts each label with
            every kept group of the batch instead of every image: its positives are the best kept
            group of each positive image, and the other groups of those images become negatives
            (_label_group_logits).

    Returns:
        Tensor: scalar loss of this process. With `global_negatives`, its average over processes
        equals the loss of one process holding the global batch.
    """
    if image_emb.dim() not in (2, 3) or label_emb.dim() != 3:
        raise ValueError(
            f"image_emb must be (B, C) or (B, G, C) and label_emb (B, K, C), got {tuple(image_emb.shape)} "
            f"and {tuple(label_emb.shape)}"
        )
    batch_size, num_labels, dim = label_emb.shape
    if image_emb.shape[0] != batch_size or image_emb.shape[-1] != dim:
        raise ValueError(
            f"image_emb {tuple(image_emb.shape)} does not match label_emb "
            f"{tuple(label_emb.shape)}: expected ({batch_size}, [G,] {dim})"
        )
    if image_emb.dim() == 3:
        if group_mask is None:
            raise ValueError("multi_label_contrastive_loss: (B, G, C) group embeddings need a (B, G) group_mask")
        _check_bool_matrix("group_mask", group_mask, tuple(image_emb.shape[:2]))
        if not bool(group_mask.any(dim=1).all()):
            raise ValueError("multi_label_contrastive_loss: every image needs at least one group in group_mask")
    elif group_mask is not None or own_group_negatives:
        raise ValueError("multi_label_contrastive_loss: group_mask and own_group_negatives are for (B, G, C) group embeddings, "
                         f"got image_emb {tuple(image_emb.shape)}")
    if form not in MULTI_LABEL_FORMS:
        raise ValueError(f"form must be one of {MULTI_LABEL_FORMS}, got {form!r}")
    logit_scale = check_logit_scale(logit_scale)
    device = image_emb.device
    if label_mask is None:
        label_mask = torch.ones(batch_size, num_labels, dtype=torch.bool, device=device)
    _check_bool_matrix("label_mask", label_mask, (batch_size, num_labels))

    if global_negatives:
        gather, offset = all_gather_with_grad, global_batch_offset(batch_size)
    else:
        gather, offset = (lambda x: x), 0

    image_emb = F.normalize(image_emb, dim=-1)
    label_emb = F.normalize(label_emb, dim=-1).flatten(0, 1)  # (B*K, C)
    all_image_emb = gather(image_emb)  # (W*B, [G,] C)
    all_label_emb = gather(label_emb)  # (W*B*K, C)
    with torch.no_grad():
        all_label_mask = gather(label_mask.flatten().to(torch.uint8)).bool()  # (W*B*K,)
        all_group_mask = None if group_mask is None else gather(group_mask.to(torch.uint8)).bool()
    num_images_all = all_image_emb.shape[0]
    rows = torch.arange(batch_size, device=device)

    # Image -> texts: (B, W*B*K).
    if positives is None:
        positives = torch.zeros(
            batch_size, num_images_all, num_labels, dtype=torch.bool, device=device
        )
        positives[rows, rows + offset] = label_mask
        positives = positives.flatten(1)
    else:
        _check_bool_matrix("positives", positives, (batch_size, num_images_all * num_labels))
    positives = positives & all_label_mask
    logits = image_label_logits(image_emb, all_label_emb, logit_scale, group_mask)
    logits = logits.masked_fill(~all_label_mask, float("-inf"))
    # Select rows before the loss: a row without positives would give nan gradients.
    keep = positives.any(dim=1)
    loss_image = _multi_positive_nll(logits[keep], positives[keep], form)

    # Texts -> image: (B*K, W*B).
    if text_positives is None:
        text_positives = torch.zeros(
            batch_size, num_labels, num_images_all, dtype=torch.bool, device=device
        )
        text_positives[rows, :, rows + offset] = True
        text_positives = text_positives.flatten(0, 1)
    else:
        _check_bool_matrix(
            "text_positives", text_positives, (batch_size * num_labels, num_images_all)
        )
    text_positives = text_positives & label_mask.flatten()[:, None]
    if own_group_negatives:
        logits, text_positives = _label_group_logits(label_emb, all_image_emb, all_group_mask, text_positives, logit_scale)
    else:
        logits = image_label_logits(all_image_emb, label_emb, logit_scale, all_group_mask).t()
    keep = text_positives.any(dim=1)
    loss_text = _multi_positive_nll(logits[keep], text_positives[keep], form)

    mean = global_mean_share if global_negatives else _local_mean
    return 0.5 * (mean(loss_image) + mean(loss_text))


def _label_group_logits(label_emb, group_emb, group_mask, text_positives, logit_scale):
    """Texts->groups logits and positives, for own_group_negatives.

    Args:
        label_emb: (N, C) normalised labels; group_emb: (M, G, C) normalised groups of M images;
        group_mask: (M, G) bool kept groups; text_positives: (N, M) bool positive images of each label.

    Returns:
        logits (N, M*G), -inf on groups outside the mask, and positives (N, M*G): of each positive
        image, only the group that matches the label best. The choice is not differentiated; the
        image's other groups are negatives, so a label is taken from every group but the one that
        names it, the background's group included.
    """
    logits = scaled_logits(label_emb, group_emb.flatten(0, 1), logit_scale).unflatten(1, group_emb.shape[:2])
    logits = logits.masked_fill(~group_mask[None], float("-inf"))
    best = logits.detach().argmax(dim=2)  # (N, M)
    groups = torch.arange(group_emb.shape[1], device=logits.device)
    positives = text_positives[..., None] & (groups == best[..., None])
    return logits.flatten(1), positives.flatten(1)


def _local_mean(values):
    # Not `values.mean()`: that is nan when every row was dropped; an empty sum is 0, in the graph.
    return values.sum() / max(values.numel(), 1)
