"""The group-naming tally: which groups name the image's objects, on hand-made embeddings."""
import math

import numpy as np
import torch

from groupvit_d2.analysis.group_naming import NamingTally, tally_image


def test_tally_sorts_groups_by_what_they_hold():
    class_emb = torch.eye(4)  # classes 1..4 are the axes
    # 2 x 3 patches: class 2 on the left column, background elsewhere; groups 0 (object),
    # 1 (background); groups 2 and 3 hold no patch.
    patch_class = np.array([[2, 0, 0], [2, 0, 0]])
    patch_group = np.array([[0, 1, 1], [0, 1, 1]])
    groups = torch.stack([
        torch.tensor([0.0, 1.0, 0.1, 0.0]),  # object group names class 2: right
        torch.tensor([0.0, 0.9, 0.0, 1.0]),  # background group names class 4: not an object here
        torch.tensor([0.1, 2.0, 0.0, 0.0]),  # empty group names class 2: the image's object
        torch.tensor([3.0, 0.0, 0.0, 0.0]),  # empty group names class 1: not in the image
    ])
    tally = NamingTally()
    tally_image(tally, groups.mean(0), groups, patch_group, patch_class, class_emb)
    rates = tally.rates()
    assert rates["object_group"] == (100.0, 1)
    assert rates["background_group"] == (0.0, 1)
    assert rates["empty_group"] == (50.0, 2)
    assert rates["chance"] == (25.0, 1)
    # The mean of the four, (0.78, 0.98, 0.03, 0.25), points at class 2: the image's object.
    assert rates["pooled"] == (100.0, 1)
    tally_image(tally, groups[3], groups, patch_group, patch_class, class_emb)
    assert tally.rates()["pooled"] == (50.0, 2)


def test_images_without_objects_are_skipped():
    tally = NamingTally()
    tally_image(tally, torch.ones(3), torch.ones(2, 3), np.zeros((2, 2), int), np.zeros((2, 2), int), torch.eye(3))
    assert all(count == 0 and math.isnan(rate) for rate, count in tally.rates().values())
