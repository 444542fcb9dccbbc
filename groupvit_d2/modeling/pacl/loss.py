"""PACL's contrastive loss: CLIP's symmetric InfoNCE with the patch-level compatibility as the
image-text score, over the global batch (PACL paper, sec. 3)."""
import torch
import torch.nn.functional as F

from .compatibility import compatibility
from ..core.contrastive import check_logit_scale
from ..core.gather import all_gather_with_grad, global_batch_offset

__all__ = ["patch_text_contrastive_loss"]


def patch_text_contrastive_loss(patch_emb, text_emb, logit_scale, attention_scale=1.0):
    """`0.5 * (CE_image->text + CE_text->image)` over logits `logit_scale * phi(x_i, y_j)`.

    phi (see groupvit_d2.modeling.pacl.compatibility) pools each image's patches with weights that
    depend on the text, so it is not a product of fixed image and text embeddings and
    image_text_contrastive_loss cannot take it: here every image is scored against every caption
    of the global batch, and every caption against every image (the patch embeddings of all
    processes are gathered with gradients).

    Args:
        patch_emb: (B, N, D) vision-embedder outputs of this process's images.
        text_emb: (B, D) caption embeddings; row i is the caption of image i.
        logit_scale: scalar, 1/temperature, already exponentiated and clamped by the caller.
        attention_scale: factor inside the softmax over patches (see compatibility).

    Returns:
        Scalar loss of this process; averaged over processes it equals the loss of one process
        holding the global batch, as for image_text_contrastive_loss.
    """
    if patch_emb.dim() != 3 or text_emb.dim() != 2 or patch_emb.shape[0] != text_emb.shape[0]:
        raise ValueError(
            f"expected patch_emb (B, N, D) and text_emb (B, D) with the same B, got "
            f"{tuple(patch_emb.shape)} and {tuple(text_emb.shape)}"
        )
    logit_scale = check_logit_scale(logit_scale)
    batch_size = patch_emb.shape[0]
    logits_per_image = compatibility(patch_emb, all_gather_with_grad(text_emb), attention_scale) * logit_scale
    logits_per_text = compatibility(all_gather_with_grad(patch_emb), text_emb, attention_scale).t() * logit_scale
    labels = torch.arange(batch_size, device=patch_emb.device) + global_batch_offset(batch_size)
    return 0.5 * (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels))
