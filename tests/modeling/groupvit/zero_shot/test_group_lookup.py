"""The lookup head against the dense path it replaces (one-hot group maps times the affinity, summed
on a canvas of C x H x W, upsampled, softmax), which stays in the package unchanged."""

import pytest
import torch
from detectron2.modeling import build_model

from groupvit_d2.modeling.core import at_least_float32
from groupvit_d2.modeling.groupvit.zero_shot import (
    GroupCanvas,
    cumulative_group_maps,
    finalize_group_canvas,
    group_class_affinity,
    group_class_table,
    lookup_group_scores,
    onehot_argmax,
    pixel_class_scores,
    sliding_window_group_inference,
    upsample_group_maps,
)
from groupvit_d2.modeling.core import finalize_logits, sliding_window_inference

MARGIN = 1e-4


def _assert_same_decisions(new, ref):
    """Probabilities agree to rounding, and labels agree wherever the reference's best class leads
    the second by more than MARGIN."""
    torch.testing.assert_close(new, ref, rtol=0, atol=1e-5)
    top2 = ref.topk(2, dim=0).values
    decided = (top2[0] - top2[1]) > MARGIN
    # Not vacuous, though with hundreds of classes the softmax over probabilities leaves most
    # pixels' margins below 1e-4.
    assert decided.any()
    assert torch.equal(new.argmax(0)[decided], ref.argmax(0)[decided])
    # Below the margin, labels may only flip on (near) ties.
    assert (new.argmax(0) != ref.argmax(0)).float().mean() < 1e-3


def _random_groups(crops, num_groups, num_classes, sharp):
    """Smooth random group maps (upsampled from a coarse grid, like the model's) and an
    affinity, derived from the crop's pixels so that every call on the same crop agrees."""
    h, w = crops.shape[-2:]
    maps, affinity = [], []
    for crop in crops:
        g = torch.Generator().manual_seed(int(crop.abs().sum().item() * 100) % (2 ** 31))
        maps.append(torch.randn(num_groups, max(h // 8, 1), max(w // 8, 1), generator=g))
        affinity.append(torch.rand(num_groups, num_classes, generator=g) ** sharp)
    maps = torch.nn.functional.interpolate(torch.stack(maps), size=(h, w), mode="bilinear", align_corners=False)
    affinity = torch.stack(affinity)
    # As the model's: only the image's top-5 classes are non-zero.
    top = affinity.topk(min(5, num_classes), dim=-1)
    affinity = torch.zeros_like(affinity).scatter_(-1, top.indices, top.values)
    return maps, affinity / affinity.sum(-1, keepdim=True)


@pytest.mark.parametrize("bg_thresh", [None, 0.95, 0.05])
def test_group_table_is_pixel_class_scores_of_one_pixel_per_group(bg_thresh):
    torch.manual_seed(0)
    affinity = torch.rand(3, 5, 7) ** 3
    ids = torch.randint(0, 5, (3, 6, 9))
    onehot = torch.zeros(3, 5, 6, 9).scatter_(1, ids[:, None], 1)
    dense = pixel_class_scores(onehot, affinity, bg_thresh)
    assert torch.equal(lookup_group_scores(ids, group_class_table(affinity, bg_thresh)), dense)


@pytest.mark.parametrize("num_classes,bg_thresh", [(21, 0.95), (847, None), (600, 0.3)])
@pytest.mark.parametrize("out_size", [None, (71, 95), (23, 30)])
def test_sliding_lookup_head_matches_the_dense_path(num_classes, bg_thresh, out_size):
    torch.manual_seed(num_classes)
    image = torch.randn(1, 3, 48, 72)
    out_size = out_size or image.shape[-2:]

    def dense(crops):
        maps, affinity = _random_groups(crops, 8, num_classes, sharp=3)
        return pixel_class_scores(onehot_argmax(maps), affinity, bg_thresh)

    def lookup(crops):
        maps, affinity = _random_groups(crops, 8, num_classes, sharp=3)
        return maps.max(dim=1).indices, list(group_class_table(affinity, bg_thresh))

    ref = finalize_logits(sliding_window_inference(image, 32, 16, dense), out_size)[0]
    ((codes, table),) = sliding_window_group_inference(image, 32, 16, lookup, max_windows_per_batch=3)
    assert codes.shape == image.shape[-2:] and table.shape[1] == ref.shape[0]
    # The window average itself is the same floating-point sum, bit for bit.
    canvas = sliding_window_inference(image, 32, 16, dense)[0]
    assert torch.equal(table[codes].permute(2, 0, 1), canvas)
    _assert_same_decisions(finalize_group_canvas(codes, table, out_size), ref)


def test_images_of_a_batch_keep_their_own_canvases():
    torch.manual_seed(3)
    images = torch.randn(3, 3, 40, 40)

    def lookup(crops):
        maps, affinity = _random_groups(crops, 4, 9, sharp=2)
        return maps.max(dim=1).indices, list(affinity)

    together = sliding_window_group_inference(images, 24, 12, lookup, max_windows_per_batch=5)
    for image, (codes, table) in zip(images, together):
        ((alone_codes, alone_table),) = sliding_window_group_inference(image[None], 24, 12, lookup)
        assert torch.equal(table[codes], alone_table[alone_codes])


def test_canvas_errors():
    canvas = GroupCanvas(4, 4)
    canvas.add((0, 2, 0, 4), torch.zeros(2, 4, dtype=torch.long), torch.rand(3, 5))
    with pytest.raises(ValueError, match="no window"):
        canvas.averaged()
    with pytest.raises(ValueError, match="needs ids of shape"):
        canvas.add((2, 4, 0, 4), torch.zeros(3, 4, dtype=torch.long), torch.rand(3, 5))
    with pytest.raises(ValueError, match="group ids in"):
        canvas.add((2, 4, 0, 4), torch.full((2, 4), 3, dtype=torch.long), torch.rand(3, 5))
    with pytest.raises(ValueError, match="classes"):
        canvas.add((2, 4, 0, 4), torch.zeros(2, 4, dtype=torch.long), torch.rand(3, 6))
    with pytest.raises(ValueError, match="predict_fn returned"):
        sliding_window_group_inference(torch.rand(1, 3, 8, 8), 4, 4, lambda c: (torch.zeros(1, 4, 4), []))


# ---- The model: today's dense segment_crops, transcribed, against the model's lookup head ----
def _dense_segment_crops(model, crops, class_emb, bg_thresh):
    h, w = crops.shape[-2:]
    p = model.backbone.patch_size
    out = at_least_float32(model.encode_image(crops[..., : h - h % p, : w - w % p]))
    maps = cumulative_group_maps(out["vision"].soft_assignments)[-1]
    onehot = onehot_argmax(upsample_group_maps(maps, out["vision"].grid, (h, w)))
    affinity = group_class_affinity(out["group_embeds"], out["image_embeds"], class_emb, model.scale(), model.topk)
    return pixel_class_scores(onehot, affinity.to(onehot.dtype), bg_thresh)


@pytest.mark.parametrize("num_classes,bg_thresh,size", [(300, 0.95, (64, 112, 50, 87)), (40, None, (96, 96, 96, 96))])
def test_model_zero_shot_matches_the_dense_head(tiny_cfg, num_classes, bg_thresh, size):
    torch.manual_seed(0)
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES = "simple"
    model = build_model(tiny_cfg).eval()
    # Sharper class decisions than random weights give, as a trained model's.
    model.logit_scale.data.fill_(4.6)
    h, w, height, width = size
    names = [f"thing {i}" for i in range(num_classes)]
    sample = {"image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8), "height": height, "width": width,
              "class_names": names}
    if bg_thresh is not None:
        sample["background_threshold"] = bg_thresh
    with torch.no_grad():
        class_emb, _ = model.class_embeddings(class_names=names, background_threshold=bg_thresh)
        ref = model.segment_sample(sample, lambda crops: _dense_segment_crops(model, crops, class_emb, bg_thresh))
        # The public per-crop scores keep their meaning.
        crops = model.normalize(sample["image"][None])[..., :64, :64]
        assert torch.equal(model.segment_crops(crops, class_emb, bg_thresh),
                           _dense_segment_crops(model, crops, class_emb, bg_thresh))
    new = model([sample])[0]["sem_seg"]
    assert new.shape == ref.shape == (num_classes + (bg_thresh is not None), height, width)
    _assert_same_decisions(new, ref)


def test_model_batches_same_size_images_without_changing_them(tiny_cfg):
    torch.manual_seed(0)
    tiny_cfg.TEST.SLIDING_WINDOW.MAX_BATCH = 5
    model = build_model(tiny_cfg).eval()
    calls = []
    encode = model.encode_image
    model.encode_image = lambda images: calls.append(images.shape[0]) or encode(images)
    names = ["ball", "box", "tree"]
    samples = [{"image": torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8), "class_names": names}
               for _ in range(3)]
    samples.append({"image": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8), "class_names": names})
    together = model(samples)
    # 3 images of 2 windows in calls of at most 5 crops, then the other size on its own.
    assert calls == [5, 1, 1]
    calls.clear()
    alone = [model([s])[0] for s in samples]
    assert calls == [2, 2, 2, 1]
    for a, b in zip(together, alone):
        torch.testing.assert_close(a["sem_seg"], b["sem_seg"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("bound", [50, 10 ** 7])
def test_unique_of_small_codes_is_torch_unique(bound):
    from groupvit_d2.modeling.groupvit.zero_shot.group_lookup import _unique_small

    values = torch.randint(0, 50, (30, 40)) * 7 % 50
    unique, inverse = _unique_small(values, bound)
    expected_unique, expected_inverse = torch.unique(values, return_inverse=True)
    assert torch.equal(unique, expected_unique) and torch.equal(inverse, expected_inverse)
