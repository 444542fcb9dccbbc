"""Shared helpers of the checkpoint tests."""
import logging

import torch
from detectron2.modeling import build_model

from groupvit_d2.checkpoint import merge_hf_config


def tiny_hf_config():
    """A small transformers GroupViTConfig with non-default eps (to see them carried over)."""
    from transformers import GroupViTConfig

    return GroupViTConfig(
        text_config=dict(vocab_size=100, hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=16, layer_norm_eps=3e-6,
                         bos_token_id=98, eos_token_id=99, pad_token_id=0),
        vision_config=dict(hidden_size=48, intermediate_size=192, depths=[2, 1, 1], num_hidden_layers=4,
                           num_group_tokens=[8, 4, 0], num_output_groups=[8, 4, 4], num_attention_heads=3,
                           image_size=32, patch_size=8, layer_norm_eps=2e-6),
        projection_dim=16, projection_intermediate_dim=64,
    )


@torch.no_grad()
def randomize_(model, seed=0, scale=0.02):
    """Perturb every weight and BatchNorm statistic, so that a wrong mapping cannot go unnoticed
    (HF initialises biases to 0, LayerNorms to 1 and running stats to 0/1)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("logit_scale"):
            continue
        p.add_(torch.randn(p.shape, generator=g) * scale)
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(torch.randn(b.shape, generator=g) * 0.1)
        elif name.endswith("running_var"):
            b.copy_(torch.rand(b.shape, generator=g) + 0.5)
        elif name.endswith("num_batches_tracked"):
            b.fill_(7)
    return model


def build_ours_for_hf(cfg, hf_config):
    """Our meta-architecture with the exact architecture of an HF config, in eval mode."""
    cfg = cfg.clone()
    merge_hf_config(cfg, hf_config)
    return build_model(cfg).eval()


def random_text(n, length, vocab, eos, seed=0):
    """(n, length) ids: a random prefix of tokens < eos, eos, then zeros (padding)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, eos - 1, (n, length), generator=g)
    ends = torch.randint(2, length, (n,), generator=g)
    ends[0] = length - 1
    for i, e in enumerate(ends.tolist()):
        ids[i, e] = eos
        ids[i, e + 1:] = 0
    return ids


class LogCapture(logging.Handler):
    """Collects the messages of one logger, whatever Detectron2's setup_logger did to propagation."""

    def __init__(self, logger):
        super().__init__(logging.DEBUG)
        self.logger = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    @property
    def text(self):
        return "\n".join(self.messages)

    def __enter__(self):
        self._level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)
