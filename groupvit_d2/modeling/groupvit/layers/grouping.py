"""The Grouping Block (paper sec. 3.1, eq. 3-5): merges segment tokens into group tokens."""
import torch
import torch.nn as nn

from ...core import at_least_float32
from .assignment import assign
from .attention import CrossAttnBlock
from .mlp import Mlp


def parse_fade(value):
    """MODEL.GROUPVIT.GROUP_TOKEN_RESIDUAL_FADE as a tuple: () or (start, end) iterations."""
    fade = tuple(value)
    if not fade:
        return ()
    if len(fade) != 2 or not all(isinstance(v, int) and v >= 0 for v in fade) or fade[0] >= fade[1]:
        raise ValueError(f"MODEL.GROUPVIT.GROUP_TOKEN_RESIDUAL_FADE is {list(value)}; expected [] or "
                         "[start, end], two iterations with 0 <= start < end")
    return fade


def fade_weight(iteration, fade):
    """The group-token weight at `iteration` under `fade` = (start, end): 1 until start, then
    falling linearly to 0 at end, 0 after."""
    start, end = fade
    return min(max((end - iteration) / (end - start), 0.0), 1.0)


class AssignAttention(nn.Module):
    """Single-head assignment of segments (keys) to groups (queries).

    Returns the new group features (B, G, C) and a dict with the assignment logits, the
    assignment used for merging ("hard" when hard assignment is on, else the soft one) and the plain
    soft assignment, each (B, G, N).
    """

    def __init__(self, dim, qkv_bias=True, hard=True, gumbel=True, gumbel_tau=1.0, assign_eps=1.0):
        super().__init__()
        self.scale = dim ** -0.5
        self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.k_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.hard = hard
        self.gumbel = gumbel
        self.gumbel_tau = gumbel_tau
        self.assign_eps = assign_eps

    def forward(self, groups, segments):
        """groups: (B, G, C); segments: (B, N, C)."""
        # The softmax and the straight-through one-hot in at least fp32 under reduced-precision
        # autocast too: in bf16, hard - soft + soft is off the one-hot by up to 4e-3.
        logits = at_least_float32((self.q_proj(groups) @ self.k_proj(segments).transpose(1, 2)) * self.scale)
        attn = assign(logits, dim=1, hard=self.hard, gumbel=self.gumbel and self.training, tau=self.gumbel_tau)
        soft = assign(logits, dim=1, hard=False) if (self.hard or self.gumbel) else attn
        # Eq. 5 with the official epsilon (1.0) added to each group's total assignment.
        weights = attn / (attn.sum(dim=-1, keepdim=True) + self.assign_eps)
        out = self.proj(weights @ self.v_proj(segments))
        return out, {"logits": logits, "hard": attn, "soft": soft}

    def extra_repr(self):
        return f"hard={self.hard}, gumbel={self.gumbel}, tau={self.gumbel_tau}, eps={self.assign_eps}"


class GroupingBlock(nn.Module):
    """Grouping Block at the end of a stage: (B, N, C) segments + (B, S, C) groups -> (B, S_out, C_out).

    In order: LayerNorm both token sets; mix the group tokens along the token axis
    (S -> C/2 -> S_out) and LayerNorm; cross-attend them to the segments (post-norm block); assign
    segments to groups and merge (eq. 5); a residual channel MLP.
    """

    def __init__(self, *, dim, out_dim, num_heads, num_group_token, num_output_group, norm_layer,
                 mlp_ratio=(0.5, 4.0), hard=True, gumbel=True, gumbel_tau=1.0, assign_eps=1.0,
                 group_token_residual=True):
        super().__init__()
        # The weight of eq. 5's group-token term: 1 (official) or 0; a training schedule may move
        # it in between (engine/group_token_fade.py).
        self.token_residual_weight = 1.0 if group_token_residual else 0.0
        tokens_dim, channels_dim = int(mlp_ratio[0] * dim), int(mlp_ratio[1] * dim)
        self.norm_tokens = norm_layer(dim)
        self.mlp_inter = Mlp(num_group_token, tokens_dim, num_output_group, act_layer=nn.GELU)
        self.norm_post_tokens = norm_layer(dim)
        self.norm_x = norm_layer(dim)
        self.pre_assign_attn = CrossAttnBlock(dim, num_heads, mlp_ratio=4.0, qkv_bias=True,
                                              norm_layer=norm_layer, post_norm=True)
        self.assign = AssignAttention(dim, qkv_bias=True, hard=hard, gumbel=gumbel,
                                      gumbel_tau=gumbel_tau, assign_eps=assign_eps)
        self.norm_new_x = norm_layer(dim)
        self.mlp_channels = Mlp(dim, channels_dim, out_dim, act_layer=nn.GELU)
        if out_dim != dim:
            self.reduction = nn.Sequential(norm_layer(dim), nn.Linear(dim, out_dim, bias=False))
        else:
            self.reduction = nn.Identity()

    def project_group_token(self, group_tokens):
        """(B, S, C) -> (B, S_out, C)."""
        projected = self.mlp_inter(group_tokens.transpose(1, 2)).transpose(1, 2)
        return self.norm_post_tokens(projected)

    def _group_side(self, x, group_tokens):
        """Token mixing, cross-attention and assignment: (merged segments, groups, assignment)."""
        group_tokens = self.norm_tokens(group_tokens)
        x = self.norm_x(x)
        groups = self.pre_assign_attn(self.project_group_token(group_tokens), x)
        new_x, assignment = self.assign(groups, x)
        return new_x, groups, assignment

    def forward(self, x, group_tokens):
        """x: (B, N, C) segments; group_tokens: (B, S, C). Returns (B, S_out, C_out) and the
        assignment dict of AssignAttention."""
        if torch.is_autocast_enabled(x.device.type) and not self.training:
            # Each segment joins the group of its largest assignment logit, and under reduced-
            # precision autocast rounding flips that choice wherever groups nearly tie (bf16 kept
            # only 92% of the pixels' classes of a tiny model). The block works on G tokens and
            # one G x N product, a small share of the encoder's work, so it runs in fp32 (the
            # autocast weights are fp32); the segments' own blocks keep the autocast. In training
            # the Gumbel noise on the logits dwarfs that rounding; there only the assignment
            # itself is computed in fp32 (AssignAttention).
            with torch.autocast(x.device.type, enabled=False):
                return self._forward(at_least_float32(x), at_least_float32(group_tokens))
        return self._forward(x, group_tokens)

    def _forward(self, x, group_tokens):
        new_x, groups, assignment = self._group_side(x, group_tokens)
        # Eq. 5's g_i: the group token, which has cross-attended to every segment, is added to the
        # segments assigned to it. Without it a group holds only its own segments (docs/DESIGN.md
        # section 1).
        w = self.token_residual_weight
        if w:
            new_x = new_x + (groups if w == 1.0 else w * groups)
        new_x = self.reduction(new_x) + self.mlp_channels(self.norm_new_x(new_x))
        return new_x, assignment
