"""Bottom-up grouping by PCA over patch features (CLIPpy paper, sec. 2.4, after the DINO demos)."""
import torch
import torch.nn.functional as F

__all__ = ["pca_group_scores", "pca_grouping"]


def pca_group_scores(features, num_groups=8):
    """Cosine similarity of every centred feature to each of the top principal directions.

    The top `num_groups` principal components of one image's patch features are the cluster
    centres. A principal direction has no sign of its own; each is oriented so that the feature
    with the largest absolute projection on it projects positively (the convention of
    scikit-learn's svd_flip), which makes the grouping deterministic.

    Args:
        features: (N, C) patch features of one image.
        num_groups: n, at most min(N, C) centres are used.

    Returns:
        (N, n') cosine similarities, n' = min(num_groups, N, C).
    """
    if features.dim() != 2:
        raise ValueError(f"pca_group_scores: expected (N, C) features, got {tuple(features.shape)}")
    if int(num_groups) < 1:
        raise ValueError(f"pca_group_scores: num_groups must be >= 1, got {num_groups}")
    x = features.double()
    x = x - x.mean(dim=0, keepdim=True)
    u, _, vh = torch.linalg.svd(x, full_matrices=False)
    n = min(int(num_groups), vh.shape[0])
    u, centres = u[:, :n], vh[:n]
    rows = u.abs().argmax(dim=0)
    signs = torch.sign(u[rows, torch.arange(n)])
    centres = centres * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]
    return (F.normalize(x, dim=-1) @ centres.t()).to(torch.promote_types(features.dtype, torch.float32))


def pca_grouping(features, num_groups=8):
    """(N, C) patch features -> (N,) group ids in [0, n): each feature's most similar centre."""
    return pca_group_scores(features, num_groups).argmax(dim=1)
