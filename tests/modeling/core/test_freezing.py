"""SOLVER.TRAINABLE_PATTERNS: only the named parts train; frozen BatchNorm keeps its statistics."""
import os

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.text import build_tokenizer
from groupvit_d2.engine import build_groupvit_optimizer
from groupvit_d2.modeling import freeze_except

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _batch(n=4, k=2):
    g = torch.Generator().manual_seed(0)
    tok = build_tokenizer(32)
    return [
        {"image": torch.randint(0, 256, (3, 64, 64), generator=g, dtype=torch.uint8),
         "text": tok([f"a red ball and a box {i}", f"a photo of a ball{i}.", f"a photo of a box{i}."]),
         "label_mask": torch.ones(k, dtype=torch.bool)}
        for i in range(n)
    ]


def _build(tiny_cfg, patterns):
    tiny_cfg.SOLVER.TRAINABLE_PATTERNS = list(patterns)
    tiny_cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING = 0.0
    torch.manual_seed(0)
    return build_model(tiny_cfg)


def _train(model, cfg, steps=2):
    optimizer = build_groupvit_optimizer(cfg, model)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        sum(model(_batch()).values()).backward()
        optimizer.step()
    return optimizer


def test_both_grouping_blocks_preset_trains_only_them(tiny_cfg):
    model = _build(tiny_cfg, ["both_grouping_blocks"])
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(("backbone.layers.0.downsample.", "backbone.layers.1.downsample."))
                             for n in trainable)
    assert any(n.startswith("backbone.layers.1.downsample.") for n in trainable)
    summary = model.freeze_summary
    assert summary.num_trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert summary.num_total == sum(p.numel() for p in model.parameters())
    assert sorted(summary.frozen_norms) == ["img_projector.linear_hidden.1", "text_projector.linear_hidden.1"]
    # Fixed from construction on: Detectron2's trainer runs its first steps without calling train().
    assert not model.img_projector.linear_hidden[1].training and model.backbone.training

    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = _train(model, tiny_cfg)
    # The optimizer never even holds the frozen tensors.
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(trainable)
    after = model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "the grouping blocks did not train"
    assert all(k.startswith(("backbone.layers.0.downsample.", "backbone.layers.1.downsample.")) for k in changed), \
        [k for k in changed if "downsample" not in k]
    # BatchNorm statistics of the frozen projectors: bit-identical, including the batch counter.
    for key in ("img_projector.linear_hidden.1.running_mean", "img_projector.linear_hidden.1.running_var",
                "text_projector.linear_hidden.1.running_mean", "text_projector.linear_hidden.1.num_batches_tracked"):
        assert torch.equal(before[key], after[key]), key


def test_a_trainable_projector_keeps_updating_its_statistics(tiny_cfg):
    model = _build(tiny_cfg, ["second_grouping_block", "image_projector"])
    model.train()
    assert model.img_projector.linear_hidden[1].training
    assert not model.text_projector.linear_hidden[1].training
    # eval() and train() again: the frozen one goes back to eval.
    model.eval()
    model.train()
    assert model.img_projector.linear_hidden[1].training and not model.text_projector.linear_hidden[1].training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train(model, tiny_cfg, steps=1)
    after = model.state_dict()
    assert not torch.equal(before["img_projector.linear_hidden.1.running_mean"],
                           after["img_projector.linear_hidden.1.running_mean"])
    assert torch.equal(before["text_projector.linear_hidden.1.running_mean"],
                       after["text_projector.linear_hidden.1.running_mean"])
    assert torch.equal(before["backbone.layers.0.downsample.assign.q_proj.weight"],
                       after["backbone.layers.0.downsample.assign.q_proj.weight"])


def test_no_patterns_leaves_everything_trainable(tiny_cfg):
    model = _build(tiny_cfg, [])
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    assert model.text_projector.linear_hidden[1].training


def test_regexes_and_presets_mix():
    model = torch.nn.ModuleDict({"img_projector": torch.nn.Linear(2, 2), "logit_scale_net": torch.nn.Linear(2, 2)})
    summary = freeze_except(model, ["image_projector", r"logit_scale_net\.bias"])
    assert summary.trainable == ["img_projector.weight", "img_projector.bias", "logit_scale_net.bias"]
    assert summary.patterns == [r"img_projector\.", r"logit_scale_net\.bias"]
    assert summary.num_trainable == 4 + 2 + 2 and summary.num_total == 12
    assert "Training 8 of 12 parameters" in str(summary)


def test_a_pattern_that_matches_nothing_is_named(tiny_cfg):
    with pytest.raises(ValueError, match=r"'backbone\\\\.nothing_here' matches no parameter"):
        _build(tiny_cfg, [r"backbone\.nothing_here"])
    with pytest.raises(ValueError, match="neither a preset"):
        _build(tiny_cfg, ["backbone.layers.(0"])


def test_two_stage_preset_on_a_one_stage_model_names_the_preset():
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(ROOT, "configs", "groupvit", "tiny.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.GROUPVIT.DEPTHS = [2, 1]
    cfg.MODEL.GROUPVIT.NUM_HEADS = [3, 3]
    cfg.MODEL.GROUPVIT.NUM_GROUP_TOKENS = [8, 0]
    cfg.MODEL.GROUPVIT.NUM_OUTPUT_GROUPS = [8]
    cfg.SOLVER.TRAINABLE_PATTERNS = ["both_grouping_blocks"]
    with pytest.raises(ValueError, match="from preset 'both_grouping_blocks'"):
        build_model(cfg)
    cfg.SOLVER.TRAINABLE_PATTERNS = ["grouping_blocks"]
    assert build_model(cfg).freeze_summary.trainable

