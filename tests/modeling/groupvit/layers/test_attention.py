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


def test_attention_that_needs_gradients_or_dropout_keeps_the_fused_kernel():
    q, k, v = _qkv(torch.bfloat16, requires_grad=True)
    out = dot_product_attention(q, k, v)
    with torch.no_grad():
        fused = F.scaled_dot_product_attention(q, k, v)
    assert torch.equal(out.detach(), fused)
    out.float().sum().backward()
    assert q.grad is not None and k.grad is not None and v.grad is not None
    # fp32 inputs always take the fused kernel.
    q32, k32, v32 = _qkv(torch.float32)
    with torch.no_grad():
        assert torch.equal(dot_product_attention(q32, k32, v32), F.scaled_dot_product_attention(q32, k32, v32))


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
