"""GroupFeatureBank: soft labels from pixel counts, per-class cap, background on/off, kNN vote."""
import pytest
import torch

from groupvit_d2.evaluation import GroupFeatureBank, group_class_counts


def test_group_class_counts_skip_ignored_pixels():
    groups = torch.tensor([[0, 0, 1], [1, 1, 2]])
    labels = torch.tensor([[3, 255, 1], [1, 0, 255]])
    counts = group_class_counts(groups, labels, num_groups=4, num_classes=4, ignore_label=255)
    expected = torch.zeros(4, 4, dtype=torch.int64)
    expected[0, 3] = 1
    expected[1, 1] = 2
    expected[1, 0] = 1
    assert torch.equal(counts, expected)  # group 2 only holds an ignored pixel, group 3 nothing


def test_group_class_counts_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        group_class_counts(torch.zeros(2, 2), torch.full((2, 2), 7), 1, 3, 255)
    with pytest.raises(ValueError, match="differ in size"):
        group_class_counts(torch.zeros(2, 2), torch.zeros(2, 3), 1, 3, 255)


def test_soft_labels_are_class_fractions_with_and_without_background():
    features = torch.eye(3)
    counts = torch.tensor([[30, 10, 0], [0, 0, 0], [75, 0, 25]])
    bank = GroupFeatureBank.from_counts(features, counts)
    # The group without labelled pixels is dropped.
    assert torch.allclose(bank.soft_labels, torch.tensor([[0.75, 0.25, 0.0], [0.75, 0.0, 0.25]]))
    assert bank.categories.tolist() == [0, 0]

    no_bg = GroupFeatureBank.from_counts(features, counts, ignore_classes=(0,))
    assert torch.allclose(no_bg.soft_labels, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert no_bg.categories.tolist() == [1, 2]
    assert torch.equal(no_bg.features, torch.eye(3)[[0, 2]])

    only_bg = GroupFeatureBank.from_counts(torch.eye(2), torch.tensor([[5, 0], [3, 0]]), ignore_classes=(0,))
    assert len(only_bg) == 0


def test_per_class_cap_of_1000_keeps_a_seeded_subset():
    torch.manual_seed(0)
    features = torch.randn(1510, 4)
    counts = torch.zeros(1510, 3, dtype=torch.int64)
    counts[:1500, 1] = 5  # 1500 groups of class 1
    counts[1500:, 2] = 5  # 10 of class 2
    counts[:, 0] = 1  # a little background everywhere: never the majority
    bank = GroupFeatureBank.from_counts(features, counts, max_per_class=1000, seed=3)
    assert torch.bincount(bank.categories, minlength=3).tolist() == [0, 1000, 10]
    # Kept rows are rows of the input, in input order, and the same seed keeps the same rows.
    normalized = torch.nn.functional.normalize(features, dim=-1)
    kept = torch.cdist(bank.features, normalized).argmin(dim=1)
    assert kept.tolist() == sorted(kept.tolist()) and len(set(kept.tolist())) == 1010
    assert set(range(1500, 1510)) <= set(kept.tolist())
    again = GroupFeatureBank.from_counts(features, counts, max_per_class=1000, seed=3)
    assert torch.equal(again.features, bank.features)
    assert len(GroupFeatureBank.from_counts(features, counts, max_per_class=0)) == 1510


def test_knn_with_k1_takes_the_nearest_features_label():
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    soft = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.2, 0.8], [1.0, 0.0, 0.0]])
    bank = GroupFeatureBank(features, soft)
    queries = torch.tensor([[2.0, 0.1], [0.3, 1.0], [-1.0, -0.2]])
    assert bank.predict(queries, k=1).tolist() == [1, 2, 0]
    assert torch.allclose(bank.vote(queries, k=1), soft)
    # k=2: mean of the two nearest soft labels; for the first query features 0 and 1.
    assert torch.allclose(bank.vote(queries[:1], k=2), torch.tensor([[0.0, 0.6, 0.4]]))
    # k above the bank size takes the whole bank.
    assert torch.allclose(bank.vote(queries[:1], k=10), soft.mean(dim=0, keepdim=True))


def test_vote_rejects_bad_input():
    bank = GroupFeatureBank(torch.eye(2), torch.eye(2))
    with pytest.raises(ValueError, match="KNN_K"):
        bank.vote(torch.ones(1, 2), k=0)
    with pytest.raises(ValueError, match="3 dimensions, the bank 2"):
        bank.vote(torch.ones(1, 3), k=1)
    with pytest.raises(ValueError, match="empty"):
        GroupFeatureBank(torch.zeros(0, 2), torch.zeros(0, 2)).vote(torch.ones(1, 2), k=1)


def test_bank_round_trips_through_a_file(tmp_path):
    bank = GroupFeatureBank(torch.randn(5, 3), torch.softmax(torch.randn(5, 4), dim=1))
    torch.save(bank.state_dict(), tmp_path / "bank.pth")
    loaded = GroupFeatureBank.load(tmp_path / "bank.pth")
    assert torch.equal(loaded.features, bank.features) and torch.equal(loaded.soft_labels, bank.soft_labels)
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a group feature bank"):
        GroupFeatureBank.load(tmp_path / "other.pth")


def test_keep_empty_groups_with_a_zero_soft_label_and_no_cap():
    features = torch.eye(4)
    counts = torch.tensor([[30, 10, 0], [0, 0, 0], [75, 0, 25], [5, 0, 0]])
    bank = GroupFeatureBank.from_counts(features, counts, keep_empty=True)
    assert len(bank) == 4  # every group, the empty one included
    assert torch.allclose(bank.soft_labels[1], torch.zeros(3))
    assert torch.allclose(bank.soft_labels[[0, 2, 3]].sum(dim=1), torch.ones(3))
    # Without background the background-only group is empty too, and kept.
    no_bg = GroupFeatureBank.from_counts(features, counts, ignore_classes=(0,), keep_empty=True)
    assert no_bg.soft_labels.sum(dim=1).tolist() == [1.0, 0.0, 1.0, 0.0]
    # The cap counts majority classes only: three background-majority groups capped at 1, the
    # empty one kept.
    capped = GroupFeatureBank.from_counts(features, counts, max_per_class=1, keep_empty=True)
    assert len(capped) == 2 and capped.soft_labels.sum(dim=1).tolist() == [1.0, 0.0]
    # An empty neighbour adds nothing to the vote but takes a place among the k.
    assert torch.allclose(bank.vote(torch.tensor([[0.0, 1.0, 0.0, 0.0]]), k=1), torch.zeros(1, 3))
