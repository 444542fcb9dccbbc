"""Non-noisy multi-label contrast (thesis sec. 5.10): same raw label string => positive."""
import math

import pytest
import torch

from groupvit_d2.modeling.groupvit.losses import multi_label_contrastive_loss, same_label_positives


def test_positives_follow_raw_strings_and_skip_pad():
    raw = [["dog", "ball", ""], ["dog", "cat", "ball"]]
    mask = torch.tensor([[True, True, False], [True, True, True]])
    positives, text_positives = same_label_positives(raw, mask)
    # Columns: (image 0: dog, ball, PAD), (image 1: dog, cat, ball).
    assert positives.tolist() == [
        [True, True, False, True, False, True],
        [True, True, False, True, True, True],
    ]
    assert torch.equal(text_positives, positives.t())


def test_a_pad_string_never_matches_even_if_equal():
    raw = [["", ""], ["", "tree"]]
    mask = torch.tensor([[False, False], [False, True]])
    positives, _ = same_label_positives(raw, mask)
    assert positives.tolist() == [[False] * 4, [False, False, False, True]]


def test_ragged_labels_and_bad_mask_are_rejected():
    with pytest.raises(ValueError, match="same number of raw labels"):
        same_label_positives([["a"], ["a", "b"]])
    with pytest.raises(ValueError, match=r"label_mask must be \(2, 1\)"):
        same_label_positives([["a"], ["b"]], torch.ones(2, 2, dtype=torch.bool))


def _two_images():
    # Orthogonal images, each label equal to its image's embedding; logit scale 1.
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    labels = images[:, None, :].clone()
    return images, labels


def test_same_string_different_template_is_a_positive_by_hand():
    images, labels = _two_images()
    # Both labels are "dog" before prompting (e.g. "a photo of a dog." and "a drawing of the dog.").
    positives, text_positives = same_label_positives([["dog"], ["dog"]])
    loss = multi_label_contrastive_loss(images, labels, 1.0, positives=positives, text_positives=text_positives,
                                        global_negatives=False)
    # Every label is a positive of every image and vice versa: -log(sum of all probabilities) = 0.
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    # The plain loss treats the other "dog" as a negative: each row is -log(e / (e + 1)).
    plain = multi_label_contrastive_loss(images, labels, 1.0)
    assert plain.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
    # Different strings: the non-noisy loss is the plain one.
    positives, text_positives = same_label_positives([["dog"], ["cat"]])
    other = multi_label_contrastive_loss(images, labels, 1.0, positives=positives, text_positives=text_positives,
                                         global_negatives=False)
    assert other.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
