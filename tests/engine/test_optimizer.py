import torch
from detectron2.modeling import build_model

from groupvit_d2.engine import build_groupvit_optimizer


def _decay_by_name(model, optimizer):
    ids = {id(p): n for n, p in model.named_parameters()}
    return {ids[id(p)]: g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}


def test_no_weight_decay_on_biases_norms_embeddings_tokens_and_temperatures(tiny_cfg):
    model = build_model(tiny_cfg)
    decay = _decay_by_name(model, build_groupvit_optimizer(tiny_cfg, model))
    assert len(decay) == sum(1 for p in model.parameters() if p.requires_grad)
    for name in ["backbone.pos_embed", "backbone.layers.0.group_token", "logit_scale", "multi_label_logit_scale",
                 "text_encoder.positional_embedding", "backbone.patch_embed.norm.weight",
                 "backbone.layers.0.blocks.0.attn.qkv.bias", "img_projector.linear_hidden.1.weight"]:
        assert decay[name] == 0.0, name
    for name in ["backbone.layers.0.blocks.0.attn.qkv.weight", "text_encoder.token_embedding.weight",
                 "img_projector.linear_out.weight"]:
        assert decay[name] == tiny_cfg.SOLVER.WEIGHT_DECAY, name


def test_full_model_gradient_clipping_bounds_the_total_norm(tiny_cfg):
    tiny_cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.5
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    optimizer = build_groupvit_optimizer(tiny_cfg, model)
    model(torch.randn(8, 4) * 100).sum().backward()
    before = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert before > 0.5
    optimizer.step()
    after = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    # One norm over all parameters together, not one per parameter.
    assert torch.isclose(after, torch.tensor(0.5), rtol=1e-4)
