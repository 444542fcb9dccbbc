import copy

import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from groupvit_d2.engine import MixedPrecisionTrainer, build_groupvit_optimizer


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


def _clip_cfg(cfg, fused, max_norm=0.5):
    cfg = cfg.clone()
    cfg.SOLVER.ADAMW_FUSED = fused
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = max_norm
    return cfg


def test_fused_adamw_is_the_default_and_matches_the_for_each_update(tiny_cfg):
    assert tiny_cfg.SOLVER.ADAMW_FUSED
    torch.manual_seed(0)
    base = build_model(tiny_cfg)
    models = {fused: copy.deepcopy(base) for fused in (True, False)}
    inputs = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for fused, model in models.items():
        optimizer = build_groupvit_optimizer(_clip_cfg(tiny_cfg, fused), model)
        assert bool(optimizer.defaults["fused"]) == fused
        # Both models draw the same Gumbel noise, so both steps start from the same gradients.
        torch.manual_seed(2)
        model.encode_image(inputs)["image_embeds"].square().sum().backward()
        optimizer.step()
    fused_params = dict(models[True].named_parameters())
    for name, p in models[False].named_parameters():
        diff = (fused_params[name] - p).abs().max().item()
        assert diff <= 1e-6, (name, diff)
    moved = [n for n, p in base.named_parameters() if not torch.equal(p, fused_params[n])]
    assert "backbone.layers.0.blocks.0.attn.qkv.weight" in moved


def test_mixed_precision_clips_unscaled_gradients_with_a_gradient_scaler(tiny_cfg):
    """float16's GradScaler multiplies the loss; the full-model clip must act on true gradients,
    also when a fused optimizer would unscale them only inside its own step."""

    class Quadratic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def forward(self, data):
            return {"loss": self.layer(data).square().mean() * 1e3}

    model = Quadratic()
    optimizer = build_groupvit_optimizer(_clip_cfg(tiny_cfg, fused=True), model)
    loader = iter([torch.randn(8, 4) * 10] * 2)
    trainer = MixedPrecisionTrainer(model, loader, optimizer, dtype=torch.bfloat16)
    trainer.grad_scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    trainer.iter = 0
    with EventStorage(0):
        trainer.run_step()
    norm = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert torch.isclose(norm, torch.tensor(0.5), rtol=1e-3)
