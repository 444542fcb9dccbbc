"""PACL's patch-level alignment and compatibility function (PACL paper, sec. 3)."""
import torch
import torch.nn.functional as F

__all__ = ["patch_text_similarity", "compatibility"]


def patch_text_similarity(patch_emb, text_emb):
    """Cosine similarity s(x_i, y) of every patch embedding to every text embedding.

    Args:
        patch_emb: (B, N, D) vision-embedder outputs e_v(x_i).
        text_emb: (T, D) text embeddings e_t(y).

    Returns:
        (B, T, N), in at least float32.
    """
    if patch_emb.dim() != 3 or text_emb.dim() != 2 or patch_emb.shape[-1] != text_emb.shape[-1]:
        raise ValueError(
            f"expected patch_emb (B, N, D) and text_emb (T, D), got {tuple(patch_emb.shape)} and "
            f"{tuple(text_emb.shape)}"
        )
    dtype = torch.promote_types(patch_emb.dtype, torch.float32)
    patches = F.normalize(patch_emb.to(dtype), dim=-1)
    texts = F.normalize(text_emb.to(dtype), dim=-1)
    return torch.einsum("bnd,td->btn", patches, texts)


def compatibility(patch_emb, text_emb, attention_scale=1.0):
    """PACL's image-text compatibility phi(x, y) for every image-text pair.

    With s_i = cos(e_v(x_i), e_t(y)) and a = softmax over the patches of `attention_scale * s`,
    phi(x, y) = sum_i a_i s_i, i.e. the cosine between the text and the patch embeddings pooled
    with the text's own attention weights (normalised patches, normalised text). Each text attends
    to the patches of each image separately, so phi is not a product of fixed image and text
    embeddings.

    Args:
        patch_emb: (B, N, D) vision-embedder outputs.
        text_emb: (T, D) text embeddings.
        attention_scale: factor on s inside the softmax over patches (1 in the paper).

    Returns:
        (B, T) compatibilities in [-1, 1].
    """
    sims = patch_text_similarity(patch_emb, text_emb)
    weights = (sims * attention_scale).softmax(dim=-1)
    return (weights * sims).sum(dim=-1)
