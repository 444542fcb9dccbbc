import os

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from groupvit_d2 import add_groupvit_config
from groupvit_d2.utils.flops import count_parameters, image_encoder_gmacs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_released_architecture_has_the_papers_parameter_count():
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(ROOT, "configs", "groupvit", "gcc_yfcc_30e.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    counts = count_parameters(build_model(cfg))
    # The paper reports about 55M parameters for the released 2-stage GroupViT.
    assert 54e6 < counts["total"] < 57e6
    assert counts["total"] == counts["image_encoder"] + counts["text_encoder"] + counts["projectors"] + 2


def test_fused_attention_flops_are_counted(tiny_cfg):
    model = build_model(tiny_cfg)
    with_attention = image_encoder_gmacs(model, (64, 64))
    without = image_encoder_gmacs(model, (64, 64), count_fused_attention=False)
    # Tiny model at 64x64: width 96, 16 patches, 16 -> 4 groups. Attention costs 2 * N * S * C MACs
    # (q k^T and attn v): stage 1 blocks 2 x (32 x 32), grouping cross-attention 16 x 16,
    # stage 2 block 20 x 20, grouping cross-attention 4 x 16, stage 3 block 4 x 4.
    tokens = 2 * 32 * 32 + 16 * 16 + 20 * 20 + 4 * 16 + 4 * 4
    assert abs((with_attention - without) * 1e9 - 2 * 96 * tokens) < 1
