"""AdamW with GroupViT's parameter groups, on Detectron2's optimizer helpers."""
import itertools

import torch
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping

# Parameters (by their name inside their module) that get no weight decay, besides biases and
# normalisation layers: position embeddings, group tokens and the temperatures.
NO_DECAY_PARAMS = ("pos_embed", "positional_embedding", "group_token", "logit_scale", "multi_label_logit_scale")


def no_weight_decay_overrides():
    return {name: {"weight_decay": 0.0} for name in NO_DECAY_PARAMS}


def _with_full_model_clipping(optimizer_cls, max_norm, norm_type):
    """The official recipe clips the norm of ALL gradients together; Detectron2's "norm" clipping
    works one parameter at a time."""

    class FullModelGradientClipping(optimizer_cls):
        def step(self, closure=None):
            params = itertools.chain(*[g["params"] for g in self.param_groups])
            torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
            return super().step(closure=closure)

    FullModelGradientClipping.__name__ = optimizer_cls.__name__ + "WithFullModelGradientClip"
    return FullModelGradientClipping


def _optimizer_class(cfg, optimizer_cls):
    clip = cfg.SOLVER.CLIP_GRADIENTS
    if clip.ENABLED and clip.CLIP_TYPE == "full_model":
        return _with_full_model_clipping(optimizer_cls, clip.CLIP_VALUE, clip.NORM_TYPE)
    return maybe_add_gradient_clipping(cfg, optimizer_cls)


def build_groupvit_optimizer(cfg, model):
    """AdamW (or SGD) over the trainable parameters, with gradient clipping from
    SOLVER.CLIP_GRADIENTS ("full_model", or Detectron2's per-parameter "value"/"norm")."""
    params = get_default_optimizer_params(
        model,
        base_lr=cfg.SOLVER.BASE_LR,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        weight_decay_norm=0.0,
        weight_decay_bias=0.0,
        overrides=no_weight_decay_overrides(),
    )
    name = cfg.SOLVER.OPTIMIZER.upper()
    if name == "ADAMW":
        return _optimizer_class(cfg, torch.optim.AdamW)(
            params,
            lr=cfg.SOLVER.BASE_LR,
            betas=tuple(cfg.SOLVER.BETAS),
            weight_decay=cfg.SOLVER.WEIGHT_DECAY,
            fused=bool(cfg.SOLVER.ADAMW_FUSED) or None,
        )
    if name == "SGD":
        return _optimizer_class(cfg, torch.optim.SGD)(
            params, lr=cfg.SOLVER.BASE_LR, momentum=cfg.SOLVER.MOMENTUM, nesterov=cfg.SOLVER.NESTEROV
        )
    raise ValueError(f"SOLVER.OPTIMIZER must be 'ADAMW' or 'SGD', got {cfg.SOLVER.OPTIMIZER!r}")
