"""Parameter and FLOP counts with fvcore (which does not know fused attention by itself)."""
from math import prod

import torch
from fvcore.nn import FlopCountAnalysis, parameter_count


def _sdpa_flop_jit(inputs, outputs):
    # q @ k^T and attn @ v: two (..., N, d) x (..., d, S) products, counted as multiply-adds.
    q, k = (inputs[0].type().sizes(), inputs[1].type().sizes())
    return 2 * prod(q) * k[-2]


class _ImageEncoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        out = self.model.encode_image(images)
        return out["image_embeds"], out["group_embeds"]


def count_parameters(model):
    """{"total", "image_encoder", "text_encoder", "projectors"} parameter counts."""
    counts = parameter_count(model)
    return {
        "total": counts[""],
        "image_encoder": counts.get("backbone", 0),
        "text_encoder": counts.get("text_encoder", 0),
        "projectors": counts.get("img_projector", 0) + counts.get("text_projector", 0),
    }


def image_encoder_gmacs(model, size=(224, 224), count_fused_attention=True):
    """Multiply-accumulates (in G) of one image through the image encoder and its projector.

    fvcore skips PyTorch's fused attention unless told how to count it (`count_fused_attention`)."""
    model = model.eval()
    device = next(model.parameters()).device
    analysis = FlopCountAnalysis(_ImageEncoder(model), torch.zeros(1, 3, *size, device=device))
    if count_fused_attention:
        analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_flop_jit)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total() / 1e9
