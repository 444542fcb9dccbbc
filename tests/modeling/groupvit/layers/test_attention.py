import torch
import torch.nn.functional as F

from groupvit_d2.modeling.groupvit.layers.attention import AttnBlock, dot_product_attention


def _qkv(dtype, requires_grad=False):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(2, 3, 20, 16, generator=g).to(dtype).requires_grad_(requires_grad) for _ in range(3)]


def test_bf16_inference_attention_is_the_fused_result_within_bf16_rounding():
    q, k, v = _qkv(torch.bfloat16)
    with torch.no_grad():
        out = dot_product_attention(q, k, v)
        ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    assert out.dtype == torch.bfloat16 and out.shape == (2, 3, 20, 16)
    # bf16 keeps 8 bits of mantissa: logits, probabilities and output each round at about 4e-3.
    torch.testing.assert_close(out.float(), ref, rtol=0.02, atol=0.02)


def test_bf16_attention_backward_matches_the_fused_kernel():
    q, k, v = _qkv(torch.bfloat16, requires_grad=True)
    out = dot_product_attention(q, k, v)
    out.float().square().sum().backward()
    q32, k32, v32 = (t.detach().float().requires_grad_() for t in (q, k, v))
    ref = F.scaled_dot_product_attention(q32, k32, v32)
    ref.square().sum().backward()
    torch.testing.assert_close(out.detach().float(), ref.detach(), rtol=0.02, atol=0.02)
    for low, high in ((q, q32), (k, k32), (v, v32)):
        assert low.grad.dtype == torch.bfloat16
        torch.testing.assert_close(low.grad.float(), high.grad, rtol=0.05, atol=0.05)


def test_fp32_and_dropout_keep_the_fused_kernel():
    q, k, v = _qkv(torch.float32)
    with torch.no_grad():
        assert torch.equal(dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v))
        qb, kb, vb = q.bfloat16(), k.bfloat16(), v.bfloat16()
        torch.manual_seed(0)
        dropped = dot_product_attention(qb, kb, vb, dropout_p=0.5)
        torch.manual_seed(0)
        assert torch.equal(dropped, F.scaled_dot_product_attention(qb, kb, vb, dropout_p=0.5))


def test_block_under_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    block = AttnBlock(32, 4, qkv_bias=True).eval()
    x = torch.randn(2, 30, 32)
    with torch.no_grad():
        ref = block(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = block(x)
    assert low.dtype == torch.float32  # the residual stream stays fp32; only the products round
    torch.testing.assert_close(low, ref, rtol=0.05, atol=0.05)
