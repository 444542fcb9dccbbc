import numpy as np
import pytest
import torch

from groupvit_d2.modeling.core import image_text_contrastive_loss
from groupvit_d2.modeling.groupvit.losses import multi_label_contrastive_loss


def _unit(v):
    return v / np.linalg.norm(v)


def reference_loss(images, labels, scale, form, image_positives=None, label_positives=None):
    """Paper eq. 7 written out term by term over ragged label lists, halved as in the official code.

    images: list of B vectors. labels: list of B lists of label vectors (a label left out of a
    list is what a PAD label must amount to). image_positives[i]: set of (j, k) positives of image
    i (default: its own labels). label_positives[(i, k)]: set of image indices (default: {i}).
    """
    images = [_unit(v) for v in images]
    labels = [[_unit(v) for v in labs] for labs in labels]
    all_labels = [(j, k) for j, labs in enumerate(labels) for k in range(len(labs))]
    if image_positives is None:
        image_positives = {i: {(i, k) for k in range(len(labs))} for i, labs in enumerate(labels)}
    if label_positives is None:
        label_positives = {(i, k): {i} for i, k in all_labels}

    def s(a, b):
        return np.exp(a @ b * scale)

    image_terms = []
    for i, image in enumerate(images):
        pos = image_positives[i]
        if not pos:
            continue
        den = sum(s(image, labels[j][k]) for j, k in all_labels)
        if form == "paper":
            image_terms.append(-np.log(sum(s(image, labels[j][k]) for j, k in pos) / den))
        else:
            image_terms.append(-np.mean([np.log(s(image, labels[j][k]) / den) for j, k in pos]))
    text_terms = []
    for i, k in all_labels:
        label = labels[i][k]
        den = sum(s(label, image) for image in images)
        pos = label_positives[(i, k)]
        if form == "paper":
            text_terms.append(-np.log(sum(s(label, images[j]) for j in pos) / den))
        else:
            text_terms.append(-np.mean([np.log(s(label, images[j]) / den) for j in pos]))
    return 0.5 * (np.mean(image_terms) + np.mean(text_terms))


def _data(batch, num_labels, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, dim)), rng.normal(size=(batch, num_labels, dim))


def _loss(image, labels, scale, **kwargs):
    return multi_label_contrastive_loss(
        torch.tensor(image),
        torch.tensor(labels),
        torch.tensor(scale, dtype=torch.float64),
        **kwargs
    )


@pytest.mark.parametrize("form", ["paper", "official"])
@pytest.mark.parametrize("batch, num_labels, scale", [(3, 2, 1.0), (4, 3, 5.0)])
def test_matches_hand_computed_reference(form, batch, num_labels, scale):
    image, labels = _data(batch, num_labels, seed=batch)
    loss = _loss(image, labels, scale, form=form)
    assert loss.shape == ()
    expected = reference_loss(list(image), [list(labs) for labs in labels], scale, form)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-9)


def test_paper_and_official_forms_differ_but_agree_on_text_side():
    image, labels = _data(3, 3, seed=7)
    paper = _loss(image, labels, 4.0, form="paper").item()
    official = _loss(image, labels, 4.0, form="official").item()
    # -log(sum of K probabilities) = -log K - log(their mean) <= -mean(log p) (Jensen).
    assert paper < official
    assert abs(paper - official) > 1e-3


@pytest.mark.parametrize("form", ["paper", "official"])
def test_pad_labels_are_removed_everywhere(form):
    image, labels = _data(4, 3, seed=3)
    mask = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 0], [1, 0, 0]], dtype=bool)
    loss = _loss(image, labels, 3.0, label_mask=torch.tensor(mask), form=form)
    # The same batch with the padded labels simply absent (image 2 has no label at all).
    ragged = [[labels[i, k] for k in range(3) if mask[i, k]] for i in range(4)]
    np.testing.assert_allclose(
        loss.item(), reference_loss(list(image), ragged, 3.0, form), rtol=1e-9
    )

    # Whatever a PAD embedding holds changes nothing, and it receives no gradient.
    labels_t = torch.tensor(labels)
    labels_t[~torch.tensor(mask)] = torch.randn(int((~mask).sum()), 4, dtype=torch.float64) * 5
    labels_t.requires_grad_(True)
    image_t = torch.tensor(image, requires_grad=True)
    again = multi_label_contrastive_loss(
        image_t, labels_t, torch.tensor(3.0), label_mask=torch.tensor(mask), form=form
    )
    torch.testing.assert_close(again, loss)
    again.backward()
    assert (labels_t.grad[~torch.tensor(mask)] == 0).all()
    assert (labels_t.grad[torch.tensor(mask)].abs().sum(-1) > 0).all()
    # Image 2 has no label: no image->texts term, but it is still a negative for other labels.
    assert image_t.grad[2].abs().sum() > 0


@pytest.mark.parametrize("form", ["paper", "official"])
def test_padded_column_equals_batch_without_it(form):
    image, labels = _data(3, 3, seed=11)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[:, 1] = False
    padded = _loss(image, labels, 2.0, label_mask=mask, form=form)
    without = _loss(image, labels[:, [0, 2]], 2.0, form=form)
    torch.testing.assert_close(padded, without)


def test_all_pad_gives_zero_loss_and_zero_gradients():
    image = torch.randn(3, 4, requires_grad=True)
    labels = torch.randn(3, 2, 4, requires_grad=True)
    loss = multi_label_contrastive_loss(
        image, labels, torch.tensor(10.0), label_mask=torch.zeros(3, 2, dtype=torch.bool)
    )
    loss.backward()
    assert loss.item() == 0.0
    assert (image.grad == 0).all() and (labels.grad == 0).all()


@pytest.mark.parametrize("form", ["paper", "official"])
def test_single_label_equals_image_text_loss(form):
    torch.manual_seed(5)
    image, text = torch.randn(4, 6), torch.randn(4, 6)
    scale = torch.tensor(8.0)
    multi = multi_label_contrastive_loss(image, text[:, None], scale, form=form)
    torch.testing.assert_close(multi, image_text_contrastive_loss(image, text, scale))


@pytest.mark.parametrize("form", ["paper", "official"])
def test_gradients_are_finite_and_nonzero(form):
    torch.manual_seed(2)
    image = torch.randn(3, 5, requires_grad=True)
    labels = torch.randn(3, 2, 5, requires_grad=True)
    log_scale = torch.tensor(2.6, requires_grad=True)
    mask = torch.tensor([[True, True], [True, False], [False, False]])
    loss = multi_label_contrastive_loss(image, labels, log_scale.exp(), label_mask=mask, form=form)
    loss.backward()
    for grad in (image.grad, labels.grad[mask], log_scale.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("form", ["paper", "official"])
def test_default_positive_matrices_passed_explicitly_change_nothing(form):
    image, labels = _data(3, 2, seed=4)
    mask = torch.tensor([[True, False], [True, True], [False, True]])
    positives = torch.zeros(3, 3, 2, dtype=torch.bool)
    text_positives = torch.zeros(3, 2, 3, dtype=torch.bool)
    for i in range(3):
        positives[i, i] = True  # PAD entries must be dropped by the loss itself
        text_positives[i, :, i] = True
    explicit = _loss(
        image,
        labels,
        3.0,
        label_mask=mask,
        form=form,
        positives=positives.flatten(1),
        text_positives=text_positives.flatten(0, 1),
    )
    torch.testing.assert_close(explicit, _loss(image, labels, 3.0, label_mask=mask, form=form))


@pytest.mark.parametrize("form", ["paper", "official"])
def test_custom_positives_same_string_labels(form):
    # Raw label strings; "dog" appears for images 0 and 2, so it is a positive of both.
    words = [["dog", "grass"], ["car", "road"], ["dog", "sofa"]]
    image, labels = _data(3, 2, seed=9)
    flat = [w for ws in words for w in ws]
    positives = torch.tensor([[w in words[i] for w in flat] for i in range(3)])
    text_positives = torch.tensor([[w in words[j] for j in range(3)] for w in flat])
    loss = _loss(image, labels, 4.0, form=form, positives=positives, text_positives=text_positives)

    image_pos = {
        i: {(j, k) for j in range(3) for k in range(2) if words[j][k] in words[i]} for i in range(3)
    }
    label_pos = {
        (i, k): {j for j in range(3) if words[i][k] in words[j]} for i in range(3) for k in range(2)
    }
    expected = reference_loss(
        list(image), [list(l) for l in labels], 4.0, form, image_pos, label_pos
    )
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-9)
    assert abs(loss.item() - _loss(image, labels, 4.0, form=form).item()) > 1e-4


def test_local_negatives_match_global_in_one_process():
    image, labels = _data(3, 2, seed=6)
    torch.testing.assert_close(
        _loss(image, labels, 3.0, global_negatives=False), _loss(image, labels, 3.0)
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(label_emb=torch.randn(3, 4)), "label_emb"),
        (dict(label_emb=torch.randn(2, 2, 4)), "does not match"),
        (dict(label_emb=torch.randn(3, 2, 5)), "does not match"),
        (dict(form="sum"), "form"),
        (dict(label_mask=torch.ones(3, 2)), "label_mask"),
        (dict(label_mask=torch.ones(3, 3, dtype=torch.bool)), "label_mask"),
        (dict(positives=torch.ones(3, 5, dtype=torch.bool)), "positives"),
        (dict(text_positives=torch.ones(6, 2, dtype=torch.bool)), "text_positives"),
        (dict(logit_scale=torch.ones(2)), "logit_scale"),
    ],
)
def test_bad_input_raises(kwargs, match):
    args = dict(
        image_emb=torch.randn(3, 4), label_emb=torch.randn(3, 2, 4), logit_scale=torch.tensor(1.0)
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        multi_label_contrastive_loss(**args)


def _best_group_reference(groups, group_masks, labels, scale, form, own_group_negatives=False):
    """Eq. 7 with s(i, j_k) the cosine of label j_k to image i's best kept group, written out.
    With own_group_negatives, a label's texts->image term is a softmax over every kept group of the
    batch whose positive is its own image's best group."""
    cos = lambda a, b: _unit(a) @ _unit(b)  # noqa: E731
    all_labels = [(j, k) for j in range(len(labels)) for k in range(len(labels[j]))]
    sim = {(i, j, k): scale * max(cos(g, labels[j][k]) for g, keep in zip(groups[i], group_masks[i]) if keep)
           for i in range(len(groups)) for j, k in all_labels}
    image_terms = []
    for i in range(len(groups)):
        log_den = np.log(sum(np.exp(sim[i, j, k]) for j, k in all_labels))
        pos = [sim[i, i, k] for k in range(len(labels[i]))]
        if form == "paper":
            image_terms.append(log_den - np.log(sum(np.exp(p) for p in pos)))
        else:
            image_terms.append(np.mean([log_den - p for p in pos]))
    if own_group_negatives:
        kept = [(j, g) for j in range(len(groups)) for g in range(len(groups[j])) if group_masks[j][g]]
        text_terms = [np.log(sum(np.exp(scale * cos(groups[j][g], labels[i][k])) for j, g in kept)) - sim[i, i, k]
                      for i, k in all_labels]
    else:
        text_terms = [np.log(sum(np.exp(sim[j, i, k]) for j in range(len(groups)))) - sim[i, i, k] for i, k in all_labels]
    return 0.5 * (np.mean(image_terms) + np.mean(text_terms))


@pytest.mark.parametrize("own_group_negatives", [False, True])
@pytest.mark.parametrize("form", ["paper", "official"])
def test_best_group_match_against_a_written_out_reference(form, own_group_negatives):
    rng = np.random.default_rng(3)
    groups, labels = rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 2, 5))
    masks = np.array([[1, 1, 1], [1, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=bool)
    loss = multi_label_contrastive_loss(torch.tensor(groups), torch.tensor(labels), torch.tensor(3.0, dtype=torch.float64),
                                        form=form, group_mask=torch.tensor(masks), own_group_negatives=own_group_negatives)
    expected = _best_group_reference(groups, masks, labels, 3.0, form, own_group_negatives)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-9)


def test_best_group_with_one_group_equals_the_image_match():
    image, labels = _data(4, 3, seed=11)
    one_group = multi_label_contrastive_loss(torch.tensor(image)[:, None], torch.tensor(labels), 4.0,
                                             group_mask=torch.ones(4, 1, dtype=torch.bool))
    torch.testing.assert_close(one_group, _loss(image, labels, 4.0), rtol=1e-12, atol=0)


def test_best_group_trains_only_each_labels_best_kept_group():
    rng = np.random.default_rng(5)
    groups = torch.tensor(rng.normal(size=(3, 4, 6)), requires_grad=True)
    labels = torch.tensor(rng.normal(size=(3, 1, 6)))
    masks = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=torch.bool)
    multi_label_contrastive_loss(groups, labels, 2.0, group_mask=masks).backward()
    touched = groups.grad.abs().sum(-1) > 0
    # Groups outside the mask never take a label's gradient...
    assert not touched[~masks].any()
    # ...and within it only the best group of some (image, label) pair does.
    cos = torch.nn.functional.normalize(groups.detach(), dim=-1) @ torch.nn.functional.normalize(labels.flatten(0, 1), dim=-1).t()
    best = cos.masked_fill(~masks[..., None], -2).argmax(1)  # (images, labels)
    winners = torch.zeros_like(masks)
    for i in range(3):
        winners[i, best[i]] = True
    assert torch.equal(touched, winners)


def test_best_group_refuses_inconsistent_masks():
    groups, labels = torch.randn(2, 3, 4), torch.randn(2, 1, 4)
    with pytest.raises(ValueError, match="need a \\(B, G\\) group_mask"):
        multi_label_contrastive_loss(groups, labels, 1.0)
    with pytest.raises(ValueError, match="at least one group"):
        multi_label_contrastive_loss(groups, labels, 1.0, group_mask=torch.tensor([[1, 0, 0], [0, 0, 0]], dtype=torch.bool))
    with pytest.raises(ValueError, match="group_mask must be a bool tensor of shape \\(2, 3\\)"):
        multi_label_contrastive_loss(groups, labels, 1.0, group_mask=torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="group_mask and own_group_negatives are for"):
        multi_label_contrastive_loss(groups[:, 0], labels, 1.0, group_mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="group_mask and own_group_negatives are for"):
        multi_label_contrastive_loss(groups[:, 0], labels, 1.0, own_group_negatives=True)


def test_own_group_negatives_push_the_other_groups_of_the_image_away():
    # Image 0's first group is its best for every label, so without own-group negatives its second
    # group takes no gradient at all; with them, it is pushed away from image 0's own label.
    e = torch.eye(6, dtype=torch.float64)
    labels = torch.stack([e[0], e[1]])[:, None]  # image 0 is labelled e0, image 1 e1
    groups = torch.stack([torch.stack([e[0] + e[1], e[2] + 0.5 * e[0]]), torch.stack([e[1], e[3]])])
    mask = torch.ones(2, 2, dtype=torch.bool)
    moved = {}
    for own in (False, True):
        g = groups.clone().requires_grad_(True)
        multi_label_contrastive_loss(g, labels, 5.0, group_mask=mask, own_group_negatives=own).backward()
        cos = lambda x: torch.nn.functional.cosine_similarity(x[0, 1], e[0], dim=0)  # noqa: E731
        moved[own] = (cos(groups - 0.1 * g.grad) - cos(groups)).item()
    assert moved[False] == 0.0
    assert moved[True] < -1e-3
