"""Non-parametric grouping of patch tokens, the zero-shot baselines of GroupViT's Table 4: every
patch its own group ("pixel"), K-means, mean-shift and spectral clustering (scikit-learn).

scikit-learn is imported where a clustering runs: it takes seconds to load, and only these
baselines need it.
"""

import warnings

import numpy as np
import torch

__all__ = ["GROUPING_METHODS", "CLUSTERING_METHODS", "cluster_patches", "cluster_mean_tokens"]

# MODEL.GROUPVIT.ZERO_SHOT.GROUPING values: the learned grouping, or one of the non-parametric ones.
CLUSTERING_METHODS = ("pixel", "kmeans", "meanshift", "spectral")
GROUPING_METHODS = ("groups",) + CLUSTERING_METHODS


def _kmeans(x, num_clusters, seed):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=num_clusters, n_init=3, random_state=seed).fit_predict(x)


def _spectral(x, num_clusters, seed):
    from sklearn.cluster import SpectralClustering
    from sklearn.metrics import pairwise_distances

    # An RBF affinity as wide as the median distance of a patch to its 7th nearest neighbour (the
    # local scale of Zelnik-Manor and Perona): scikit-learn's fixed gamma=1 fits no feature scale,
    # and a 10-nearest-neighbour graph ties every segment of fewer than 10 patches to its neighbours.
    sq_dist = pairwise_distances(x, metric="sqeuclidean")
    scale = np.median(np.sort(sq_dist, axis=1)[:, min(7, x.shape[0] - 1)])
    if not scale > 0:
        positive = sq_dist[sq_dist > 0]
        if positive.size == 0:
            return np.zeros(x.shape[0], np.int64)
        scale = np.median(positive)
    model = SpectralClustering(
        n_clusters=num_clusters, affinity="rbf", gamma=1.0 / scale, assign_labels="cluster_qr", random_state=seed
    )
    with warnings.catch_warnings():
        # Well separated clusters make a disconnected graph, which is what spectral clustering wants.
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        return model.fit_predict(x)


def _meanshift(x, seed):
    from sklearn.cluster import MeanShift, estimate_bandwidth

    bandwidth = estimate_bandwidth(x, random_state=seed)
    if not bandwidth > 0:
        # All tokens coincide: one cluster (MeanShift refuses a zero bandwidth).
        return np.zeros(x.shape[0], np.int64)
    return MeanShift(bandwidth=bandwidth).fit_predict(x)


def cluster_patches(features: torch.Tensor, method: str, num_clusters: int = 8, seed: int = 0) -> torch.Tensor:
    """Partition the patch tokens of one image (or window) into groups.

    Args:
        features: (N, C) patch tokens.
        method: "pixel" (every token its own group), "kmeans" or "spectral" (min(num_clusters, N)
            clusters), or "meanshift" (as many clusters as modes, bandwidth from scikit-learn's
            estimate_bandwidth).
        num_clusters: K for "kmeans" and "spectral".
        seed: random state of the clustering, for reproducible maps.

    Returns:
        (K, N) one-hot patch-to-cluster assignment in features' dtype and device: every column
        holds one 1, every row at least one; clusters keep the order of scikit-learn's labels.
    """
    if method not in CLUSTERING_METHODS:
        raise ValueError(f"cluster_patches: method must be one of {CLUSTERING_METHODS}, got {method!r}")
    if features.dim() != 2 or features.shape[0] == 0:
        raise ValueError(f"cluster_patches: features must have shape (N, C) with N >= 1, got {tuple(features.shape)}")
    if int(num_clusters) < 1:
        raise ValueError(f"cluster_patches: num_clusters must be >= 1, got {num_clusters}")
    num_patches = features.shape[0]
    num_clusters = min(int(num_clusters), num_patches)
    x = features.detach().to("cpu", torch.float64).numpy()
    if method == "pixel" or (method != "meanshift" and num_clusters == num_patches):
        labels = np.arange(num_patches)
    elif method == "meanshift":
        labels = _meanshift(x, seed)
    elif num_clusters == 1:
        labels = np.zeros(num_patches, np.int64)
    elif method == "kmeans":
        labels = _kmeans(x, num_clusters, seed)
    else:
        labels = _spectral(x, num_clusters, seed)
    # Contiguous ids without empty clusters, whatever the method returned.
    _, labels = np.unique(labels, return_inverse=True)
    labels = torch.as_tensor(labels.reshape(-1), device=features.device)
    onehot = torch.zeros(int(labels.max()) + 1, num_patches, dtype=features.dtype, device=features.device)
    return onehot.scatter_(0, labels[None], 1)


def cluster_mean_tokens(assignment: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The mean token of each cluster.

    Args:
        assignment: (K, N) one-hot patch-to-cluster assignment (see cluster_patches).
        tokens: (N, C) the tokens to average.

    Returns:
        (K, C) per-cluster means.
    """
    if assignment.dim() != 2 or tokens.dim() != 2 or assignment.shape[1] != tokens.shape[0]:
        raise ValueError(
            f"cluster_mean_tokens: expected assignment (K, N) and tokens (N, C), got "
            f"{tuple(assignment.shape)} and {tuple(tokens.shape)}"
        )
    assignment = assignment.to(tokens.dtype)
    return (assignment @ tokens) / assignment.sum(dim=1, keepdim=True).clamp(min=1)
