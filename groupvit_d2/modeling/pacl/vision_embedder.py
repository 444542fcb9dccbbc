"""PACL's vision embedder e_v: patch tokens into the text embedding space."""
import torch.nn as nn

__all__ = ["VisionEmbedder"]


class VisionEmbedder(nn.Module):
    """A residual block: a linear map plus a two-layer ReLU MLP, summed (PACL paper, App. A.1).

    (..., in_dim) patch tokens -> (..., out_dim) embeddings.
    """

    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(inplace=True), nn.Linear(out_dim, out_dim))

    def forward(self, x):
        return self.linear(x) + self.mlp(x)
