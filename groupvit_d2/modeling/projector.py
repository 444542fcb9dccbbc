"""The 2-layer projection MLP into the joint space (1x1 conv, BatchNorm, ReLU, 1x1 conv)."""
import torch.nn as nn
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
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(1)
        x = self.linear_out(self.linear_hidden(x.transpose(1, 2))).transpose(1, 2)
        return x.squeeze(1) if squeeze else x
