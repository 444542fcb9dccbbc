"""GroupViTLinearHead: a 1x1 conv, x16 bilinear upsampling and cross-entropy with an ignore value."""
import pytest
import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from groupvit_d2.modeling.groupvit import GroupViTLinearHead


def _head(**kwargs):
    shapes = {"stage1": ShapeSpec(channels=4, stride=16), "grouped": ShapeSpec(channels=6, stride=16)}
    return GroupViTLinearHead(shapes, num_classes=3, ignore_value=255, **kwargs)


def test_logits_are_a_1x1_conv_of_the_concatenated_features_upsampled_by_16():
    torch.manual_seed(0)
    head = _head().eval()
    assert SEM_SEG_HEADS_REGISTRY.get("GroupViTLinearHead") is GroupViTLinearHead
    assert [name for name, _ in head.named_parameters()] == ["predictor.weight", "predictor.bias"]
    features = {"stage1": torch.randn(2, 4, 3, 5), "grouped": torch.randn(2, 6, 3, 5)}
    logits, losses = head(features)
    stacked = torch.cat([features["stage1"], features["grouped"]], dim=1)
    weight, bias = head.predictor.weight[:, :, 0, 0], head.predictor.bias
    expected = torch.einsum("kc,bchw->bkhw", weight, stacked) + bias[None, :, None, None]
    assert losses == {} and logits.shape == (2, 3, 48, 80)
    assert torch.allclose(logits, F.interpolate(expected, scale_factor=16, mode="bilinear", align_corners=False),
                          atol=1e-5)


def test_training_loss_is_cross_entropy_ignoring_the_ignore_value():
    torch.manual_seed(0)
    head = _head(loss_weight=2.0).train()
    features = {"stage1": torch.randn(1, 4, 2, 2), "grouped": torch.randn(1, 6, 2, 2)}
    targets = torch.randint(0, 3, (1, 32, 32))
    targets[:, :8] = 255
    none, losses = head(features, targets)
    logits = F.interpolate(head.predictor(torch.cat([features["stage1"], features["grouped"]], 1)), size=(32, 32),
                           mode="bilinear", align_corners=False)
    keep = targets != 255
    expected = F.cross_entropy(logits.permute(0, 2, 3, 1)[keep], targets[keep])
    assert none is None and losses["loss_sem_seg"].item() == pytest.approx(2.0 * expected.item(), rel=1e-5)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="share one stride"):
        GroupViTLinearHead({"a": ShapeSpec(channels=4, stride=16), "b": ShapeSpec(channels=4, stride=8)},
                           num_classes=3)
    with pytest.raises(ValueError, match="OUT_FEATURES"):
        GroupViTLinearHead({}, num_classes=3)
    with pytest.raises(ValueError, match="NUM_CLASSES"):
        GroupViTLinearHead({"a": ShapeSpec(channels=4, stride=16)}, num_classes=0)
