"""Symmetric image-text contrastive loss over the global batch (GroupViT paper, eq. 6)."""

import torch
import torch.nn.functional as F

from .gather import all_gather_with_grad, global_batch_offset

__all__ = ["image_text_contrastive_loss"]


def check_logit_scale(logit_scale):
    """Return `logit_scale` as a 0-d tensor, or raise if it is not a single number."""
    logit_scale = torch.as_tensor(logit_scale)
    if logit_scale.numel() != 1:
        raise ValueError(
            f"logit_scale must be a scalar (exp of the learnable temperature), got shape "
            f"{tuple(logit_scale.shape)}"
        )
    return logit_scale.reshape(())


def scaled_logits(queries, keys, logit_scale):
    """`logit_scale * queries @ keys^T`, (N, C) x (M, C) -> (N, M), in at least float32.

    With AMP the product runs in half precision; the softmax that follows should not.
    """
    logits = queries @ keys.t()
    return logits.to(torch.promote_types(logits.dtype, torch.float32)) * logit_scale


def image_text_contrastive_loss(image_emb, text_emb, logit_scale):
    """CLIP-style loss between each image and its caption; other captions/images are negatives.

    Negatives are the whole global batch: embeddings of every process are gathered with a gather
    that passes gradients back. The result is `0.5 * (CE_image->text + CE_text->image)`, i.e. half
    of the paper's eq. 6 (which is the plain sum), because the official implementation uses the
    half sum and its learning rates and loss weights were tuned with it.

    Args:
        image_emb (Tensor): (B, C) image embeddings, not necessarily normalised.
        text_emb (Tensor): (B, C) caption embeddings; row i is the caption of image i.
        logit_scale (Tensor): scalar, 1/temperature, already exponentiated and clamped (<= 100)
            by the caller.

    Returns:
        Tensor: scalar loss of this process. Averaged over processes (as DDP does with the
        gradients) it equals the loss of one process holding the whole global batch.
    """
    if image_emb.dim() != 2 or text_emb.dim() != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(
            f"image_emb and text_emb must both be (B, C) with the same shape, got "
            f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}"
        )
    logit_scale = check_logit_scale(logit_scale)
    batch_size = image_emb.shape[0]

    image_emb = F.normalize(image_emb, dim=-1)
    text_emb = F.normalize(text_emb, dim=-1)
    logits_per_image = scaled_logits(image_emb, all_gather_with_grad(text_emb), logit_scale)
    logits_per_text = scaled_logits(text_emb, all_gather_with_grad(image_emb), logit_scale)

    labels = torch.arange(batch_size, device=image_emb.device) + global_batch_offset(batch_size)
    loss_image = F.cross_entropy(logits_per_image, labels)
    loss_text = F.cross_entropy(logits_per_text, labels)
    return 0.5 * (loss_image + loss_text)
