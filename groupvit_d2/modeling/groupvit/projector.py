"""The 2-layer projection MLP into the joint space (1x1 conv, BatchNorm, ReLU, 1x1 conv)."""
import torch.nn as nn
import torch.nn.functional as F
from detectron2.layers.batch_norm import NaiveSyncBatchNorm


class SyncBatchNorm1d(NaiveSyncBatchNorm):
    """BatchNorm over (B, C, L) whose statistics span all processes in training.

    The official code converts the projectors to SyncBatchNorm, so the statistics (and thus the
    loss) of a B-per-process run equal those of one process with the global batch. Detectron2's
    NaiveSyncBatchNorm works on CPU/gloo too and falls back to BatchNorm in one process.
    """

    def __init__(self, num_features, **kwargs):
        super().__init__(num_features, stats_mode="N", **kwargs)

    def _check_input_dim(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"expected 3D or 4D input (got {input.dim()}D input)")

    def forward(self, x):
        return super().forward(x.unsqueeze(-1)).squeeze(-1)


class ProjectMLP(nn.Module):
    """(B, C_in) or (B, L, C_in) -> (B, C_out) or (B, L, C_out).

    With `num_layers` = 0 it is the identity; every layer but the last is conv-BN-ReLU.
    """

    def __init__(self, in_dim=384, inner_dim=4096, out_dim=256, num_layers=2):
        super().__init__()
        hidden = []
        for i in range(num_layers - 1):
            hidden += [
                nn.Conv1d(in_dim if i == 0 else inner_dim, inner_dim, kernel_size=1),
                SyncBatchNorm1d(inner_dim),
                nn.ReLU(inplace=True),
            ]
        self.linear_hidden = nn.Sequential(*hidden)
        if num_layers >= 1:
            self.linear_out = nn.Conv1d(in_dim if num_layers == 1 else inner_dim, out_dim, kernel_size=1)
        else:
            self.linear_out = nn.Identity()

    def forward(self, x):
        shape = x.shape
        # Every token is one BatchNorm sample, as in the (B, C, L) layout of the official Conv1d.
        x = x.reshape(-1, shape[-1])
        for layer in [*self.linear_hidden, self.linear_out]:
            if isinstance(layer, nn.Conv1d):
                # A 1x1 Conv1d is a Linear layer; PyTorch's CPU convolution takes a slow im2col
                # path for it (up to 5x slower than the matrix product), so apply its weights directly.
                x = F.linear(x, layer.weight.squeeze(-1), layer.bias)
            elif isinstance(layer, SyncBatchNorm1d):
                x = layer(x.unsqueeze(-1)).squeeze(-1)
            else:
                x = layer(x)
        return x.reshape(*shape[:-1], x.shape[-1])
