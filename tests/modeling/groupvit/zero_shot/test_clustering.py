import pytest
import torch

from groupvit_d2.modeling.groupvit.zero_shot import CLUSTERING_METHODS, cluster_mean_tokens, cluster_patches


def blobs(sizes=(5, 10, 15), dim=16, seed=0):
    """Shuffled points around `len(sizes)` far-apart centres: (N, dim) features and (N,) true ids."""
    g = torch.Generator().manual_seed(seed)
    centres = 10.0 * torch.eye(dim)[: len(sizes)]
    truth = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    truth = truth[torch.randperm(truth.numel(), generator=g)]
    return centres[truth] + 0.1 * torch.randn(truth.numel(), dim, generator=g), truth


def same_cluster(assignment):
    """(N, N) bool: whether two patches share a cluster, whatever the cluster ids."""
    a = assignment.float()
    return (a.t() @ a) > 0


def check_one_hot(assignment, num_patches):
    assert assignment.shape[1] == num_patches
    assert torch.equal(assignment.sum(0), torch.ones(num_patches))
    assert bool((assignment.sum(1) >= 1).all()) and set(assignment.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("method", ["kmeans", "spectral", "meanshift"])
def test_obvious_clusters_are_found(method):
    features, truth = blobs()
    assignment = cluster_patches(features, method, num_clusters=3)
    check_one_hot(assignment, 30)
    assert assignment.shape[0] == 3 and assignment.dtype == features.dtype
    assert torch.equal(same_cluster(assignment), truth[:, None] == truth[None, :])


def test_pixel_is_one_group_a_patch_and_clusters_never_exceed_patches():
    features, _ = blobs(sizes=(2, 2))
    assert torch.equal(cluster_patches(features, "pixel"), torch.eye(4))
    for method in ("kmeans", "spectral"):
        assignment = cluster_patches(features, method, num_clusters=8)
        check_one_hot(assignment, 4)
        assert assignment.shape[0] == 4
        one = cluster_patches(features, method, num_clusters=1)
        assert torch.equal(one, torch.ones(1, 4))


def test_identical_tokens_make_one_cluster():
    assert torch.equal(cluster_patches(torch.ones(6, 3), "meanshift"), torch.ones(1, 6))
    assert torch.equal(cluster_patches(torch.ones(6, 3), "spectral", num_clusters=3), torch.ones(1, 6))


def test_same_seed_same_partition():
    features, _ = blobs(sizes=(8, 8, 8, 8), seed=3)
    for method in CLUSTERING_METHODS:
        assert torch.equal(cluster_patches(features, method, 4), cluster_patches(features, method, 4))


def test_cluster_mean_tokens_hand_computed():
    assignment = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    tokens = torch.tensor([[1.0, 2.0], [5.0, 5.0], [3.0, 4.0]])
    assert torch.equal(cluster_mean_tokens(assignment, tokens), torch.tensor([[2.0, 3.0], [5.0, 5.0]]))
    with pytest.raises(ValueError, match=r"\(K, N\)"):
        cluster_mean_tokens(assignment, tokens[:2])


def test_bad_input():
    features, _ = blobs()
    with pytest.raises(ValueError, match="'dbscan'"):
        cluster_patches(features, "dbscan")
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        cluster_patches(features[None], "kmeans")
    with pytest.raises(ValueError, match="num_clusters"):
        cluster_patches(features, "kmeans", num_clusters=0)
