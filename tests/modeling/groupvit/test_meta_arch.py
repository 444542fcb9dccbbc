import pytest
import torch
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model

from groupvit_d2.data.text import build_tokenizer


def _batch(n=3, k=2, pad_last=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    tok = build_tokenizer(32)
    out = []
    for i in range(n):
        texts = [f"a red ball number {i}"] + [f"a photo of a thing{i}{j}." for j in range(k)]
        mask = torch.ones(k, dtype=torch.bool)
        if pad_last:
            texts[-1] = ""
            mask[-1] = False
        out.append({"image": torch.randint(0, 256, (3, 64, 64), generator=g, dtype=torch.uint8),
                     "text": tok(texts), "label_mask": mask})
    return out


@pytest.fixture
def model(tiny_cfg):
    torch.manual_seed(0)
    tiny_cfg.MODEL.GROUPVIT.GUMBEL = False
    tiny_cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    return build_model(tiny_cfg)


def test_training_returns_weighted_losses_with_gradients(model):
    model.train()
    losses = model(_batch())
    assert set(losses) == {"loss_contrastive", "loss_multi_label"}
    sum(losses.values()).backward()
    assert model.logit_scale.grad is not None and model.multi_label_logit_scale.grad is not None
    assert model.backbone.pos_embed.grad.abs().sum() > 0
    assert model.text_encoder.token_embedding.weight.grad.abs().sum() > 0


def test_pad_labels_stay_out_of_the_text_batch(model):
    model.train()
    seen = []
    hook = model.text_projector.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    model(_batch(n=3, k=2, pad_last=True))
    hook.remove()
    # 3 captions + 3 real labels; the 3 PAD labels never reach the text tower's BatchNorm.
    assert seen == [6]


def test_checkpoint_carries_pixel_normalisation(model):
    sd = model.state_dict()
    assert torch.allclose(sd["pixel_mean"].flatten(), torch.tensor([123.675, 116.28, 103.53]))
    sd["pixel_mean"] = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)
    model.load_state_dict(sd)
    assert torch.equal(model.pixel_mean.flatten(), torch.tensor([1.0, 2.0, 3.0]))


def test_semantic_inference_output_and_text_cache(model):
    name = "_test_meta_arch_vocab"
    MetadataCatalog.get(name).set(stuff_classes=["background", "ball", "box"], background_threshold=0.95,
                                  ignore_label=255)
    model.eval()
    sample = {"image": torch.randint(0, 256, (3, 64, 112), dtype=torch.uint8), "height": 50, "width": 87,
              "dataset_name": name}
    out = model([sample, dict(sample)])
    assert len(out) == 2
    probs = out[0]["sem_seg"]
    assert probs.shape == (3, 50, 87)
    assert torch.allclose(probs.sum(0), torch.ones(50, 87), atol=1e-5)
    # Two images, one text encoding: class embeddings are cached per dataset.
    assert model.text_classifier.num_encodings == 1
    # Training mode drops the embeddings held in memory; the same weights read them back from disk.
    model.train()
    model.eval()
    model([sample])
    assert model.text_classifier.num_encodings == 1 and model.text_classifier.num_disk_hits == 1
    # Other text weights are another disk entry: encoded again.
    with torch.no_grad():
        model.text_projector.linear_out.bias.add_(0.5)
    model.train()
    model.eval()
    model([sample])
    assert model.text_classifier.num_encodings == 2


def test_user_vocabulary_replaces_dataset_classes(tiny_cfg):
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY = ["ball", "box", "tree", "car, cars"]
    model = build_model(tiny_cfg).eval()
    out = model([{"image": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)}])
    assert out[0]["sem_seg"].shape == (4, 64, 64)


def test_embeddings_without_classes(model):
    model.eval()
    tok = build_tokenizer(32)
    out = model([{"image": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8), "text": tok(["a ball"])}])[0]
    assert out["image_embeds"].shape == (64,) and out["group_embeds"].shape == (4, 64)
    assert [a.shape for a in out["soft_assignments"]] == [(16, 16), (4, 16)]
    assert out["text_embeds"].shape == (1, 64)


def test_gumbel_noise_only_changes_training(tiny_cfg):
    torch.manual_seed(0)
    model = build_model(tiny_cfg)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    a1 = model.encode_image(x)["vision"].soft_assignments[0]
    a2 = model.encode_image(x)["vision"].soft_assignments[0]
    assert torch.equal(a1, a2)
    model.train()
    h1 = model.encode_image(x)["vision"].hard_assignments[0]
    h2 = model.encode_image(x)["vision"].hard_assignments[0]
    assert not torch.equal(h1, h2)


def test_group_embeddings_are_projected_in_fp32_under_bf16_autocast(model):
    model.eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        full = model.encode_image(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.encode_image(images)
        # The projector fed the same fp32 tokens gives the same embeddings exactly.
        ref = model.img_projector(low["vision"].tokens)
    assert low["group_embeds"].dtype == low["image_embeds"].dtype == torch.float32
    torch.testing.assert_close(low["group_embeds"], ref, rtol=0, atol=0)
    torch.testing.assert_close(low["group_embeds"], full["group_embeds"], rtol=0.1, atol=0.1)


def test_configured_vocabulary_reads_the_semicolon_syntax(tiny_cfg):
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY = ["background", "ball, balls; box", "tree"]
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY_HAS_BACKGROUND = True
    model = build_model(tiny_cfg).eval()
    assert model.vocabulary == [["background"], ["ball", "balls"], ["box"], ["tree"]]
    out = model([{"image": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)}])
    assert out[0]["sem_seg"].shape == (4, 64, 64)  # background + 3 classes
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY = ["ball", "box; ball"]
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY_HAS_BACKGROUND = False
    with pytest.raises(ValueError, match="MODEL.GROUPVIT.ZERO_SHOT.VOCABULARY: 'ball' appears in classes 1 and 3"):
        build_model(tiny_cfg)


def test_a_bf16_autocast_training_step_keeps_fp32_weights_and_follows_the_fp32_losses(tiny_cfg):
    """SOLVER.AMP with bfloat16 on the CPU: MixedPrecisionTrainer's step moves the fp32 weights, the
    state dict stays fp32, and the losses stay close to the fp32 ones."""
    from detectron2.utils.events import EventStorage

    from groupvit_d2.engine.mixed_precision import MixedPrecisionTrainer

    # No randomness in the step: the two forwards differ by rounding only.
    tiny_cfg.MODEL.GROUPVIT.GUMBEL = False
    tiny_cfg.MODEL.GROUPVIT.DROP_PATH_RATE = 0.0
    tiny_cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    torch.manual_seed(0)
    model = build_model(tiny_cfg).train()
    batch = _batch(n=4)
    with torch.no_grad():
        ref = model(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(batch)
    for key in ref:
        torch.testing.assert_close(low[key].float(), ref[key], rtol=0.05, atol=0.05)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    trainer = MixedPrecisionTrainer(model, iter([batch]), optimizer, dtype=torch.bfloat16)
    trainer.iter = 0
    with EventStorage(0):
        trainer.run_step()
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(v.dtype == before[k].dtype for k, v in after.items())
    assert all(v.dtype == torch.float32 for v in after.values() if v.is_floating_point())
    qkv = "backbone.layers.1.blocks.0.attn.qkv.weight"
    assert not torch.equal(after[qkv], before[qkv])


def test_labels_matched_to_groups_train_the_groups(tiny_cfg):
    torch.manual_seed(0)
    tiny_cfg.MODEL.GROUPVIT.GUMBEL = False
    tiny_cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    tiny_cfg.MODEL.GROUPVIT.LOSS.CONTRASTIVE_WEIGHT = 0.0
    tiny_cfg.MODEL.GROUPVIT.LOSS.MULTI_LABEL_MATCH = "best_group"
    model = build_model(tiny_cfg).train()
    seen = []
    hook = model.img_projector.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    losses = model(_batch(n=3, k=2))
    hook.remove()
    # One projector call for the pooled feature and the final groups: BatchNorm sees them together.
    groups = tiny_cfg.MODEL.GROUPVIT.NUM_OUTPUT_GROUPS[-1]
    assert seen == [(3, 1 + groups, tiny_cfg.MODEL.GROUPVIT.EMBED_DIM)]
    losses["loss_multi_label"].backward()
    assert model.backbone.pos_embed.grad.abs().sum() > 0
    # With the caption loss off, the labels reach the image tower only through the groups they match.
    assert torch.isfinite(losses["loss_multi_label"])


def test_unknown_multi_label_match_is_refused(tiny_cfg):
    tiny_cfg.MODEL.GROUPVIT.LOSS.MULTI_LABEL_MATCH = "groups"
    with pytest.raises(ValueError, match="MULTI_LABEL_MATCH must be one of"):
        build_model(tiny_cfg)


def test_own_group_negatives_need_labels_matched_to_groups(tiny_cfg):
    tiny_cfg.MODEL.GROUPVIT.LOSS.MULTI_LABEL_OWN_GROUP_NEGATIVES = True
    with pytest.raises(ValueError, match="OWN_GROUP_NEGATIVES needs MULTI_LABEL_MATCH 'best_group'"):
        build_model(tiny_cfg)


def test_thesis_regularisers_reuse_the_groups_matched_to_labels(tiny_cfg):
    torch.manual_seed(0)
    tiny_cfg.MODEL.GROUPVIT.GUMBEL = False
    tiny_cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    tiny_cfg.MODEL.GROUPVIT.LOSS.MULTI_LABEL_MATCH = "best_group"
    tiny_cfg.MODEL.GROUPVIT.LOSS.SEGMENT_ENTROPY_WEIGHT = 1.0
    tiny_cfg.MODEL.GROUPVIT.LOSS.LABEL_ENTROPY_WEIGHT = 1.0
    model = build_model(tiny_cfg).train()
    calls = []
    hook = model.img_projector.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    losses = model(_batch(n=3, k=2))
    hook.remove()
    assert {"loss_segment_entropy", "loss_label_entropy"} <= set(losses)
    # One projection of the pooled feature and the groups a step: BatchNorm statistics move once.
    assert len(calls) == 1
