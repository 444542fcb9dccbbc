"""Channel and token-mixing MLPs (timm's Mlp keeps the official fc1/fc2 key names)."""
from timm.layers import Mlp

__all__ = ["Mlp", "MixerMlp"]


class MixerMlp(Mlp):
    """An MLP over the token axis: (B, S_in, C) -> (B, S_out, C)."""

    def forward(self, x):
        return super().forward(x.transpose(1, 2)).transpose(1, 2)
