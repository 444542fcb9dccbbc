import torch
import torch.nn as nn

from groupvit_d2.data.text import build_tokenizer
from groupvit_d2.modeling.groupvit.text_encoder import TextTransformer


def _reference_block(block, x, mask):
    """The same block computed with nn.MultiheadAttention, CLIP's original layout."""
    width = x.shape[-1]
    mha = nn.MultiheadAttention(width, block.attn.heads, batch_first=True)
    mha.in_proj_weight.data.copy_(block.attn.in_proj_weight)
    mha.in_proj_bias.data.copy_(block.attn.in_proj_bias)
    mha.out_proj.load_state_dict(block.attn.out_proj.state_dict())
    y = block.ln_1(x)
    x = x + mha(y, y, y, attn_mask=mask, need_weights=False)[0]
    h = block.mlp.c_fc(block.ln_2(x))
    return x + block.mlp.c_proj(h * torch.sigmoid(1.702 * h))


def test_matches_multihead_attention_reference_with_causal_mask():
    torch.manual_seed(0)
    enc = TextTransformer(context_length=16, vocab_size=49408, width=64, layers=2).eval()
    tokens = build_tokenizer(16)(["a photo of a cat.", "two dogs"])
    x = enc.token_embedding(tokens) + enc.positional_embedding
    mask = torch.full((16, 16), float("-inf")).triu(1)
    for block in enc.transformer.resblocks:
        x = _reference_block(block, x, mask)
    x = enc.ln_final(x)
    expected = x[torch.arange(2), tokens.argmax(-1)]
    assert torch.allclose(enc(tokens), expected, atol=1e-5)


def test_heads_follow_clip_rule_and_padding_is_ignored():
    enc = TextTransformer(context_length=12, width=128, layers=1).eval()
    assert enc.transformer.resblocks[0].attn.heads == 2
    tokens = build_tokenizer(12)(["red ball"])
    changed = tokens.clone()
    eot = int(tokens.argmax(-1))
    # Tokens after the end-of-text token cannot reach it through the causal mask.
    changed[0, eot + 1:] = 42
    assert torch.allclose(enc(tokens), enc(changed), atol=1e-6)
