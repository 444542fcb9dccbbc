"""flops: multiply-accumulates of the image encoder and the achieved fraction of the measured
matmul throughput."""
import torch

from ..common import markdown_table
from ..encoder import hf_image_embeds


def hf_encoder_gmacs(hf, size):
    from fvcore.nn import FlopCountAnalysis

    class _HF(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return hf_image_embeds(self.model, x)

    analysis = FlopCountAnalysis(_HF(hf).eval(), torch.zeros(1, 3, size, size))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total() / 1e9


def flops_section(args, hf, model, train_size, sizes, encoder, peak, report):
    from groupvit_d2.utils.flops import count_parameters, image_encoder_gmacs

    rows = []
    gmacs = {}
    for s in sizes:
        gmacs[s] = image_encoder_gmacs(model, (s, s))
        rows.append([f"ours encode_image, 1 x {s}x{s}", f"{gmacs[s]:.2f}", "", ""])
    ours_224 = gmacs.get(train_size) or image_encoder_gmacs(model, (train_size, train_size))
    notes = []
    if hf is not None:
        try:
            hf_gmacs = hf_encoder_gmacs(hf, train_size)
            rows.append([f"HF get_image_features, 1 x {train_size}x{train_size}", f"{hf_gmacs:.2f}", "", ""])
        except Exception as e:  # fvcore tracing of someone else's model: report, do not stop the run
            hf_gmacs = None
            notes.append(f"fvcore could not trace HF's encoder: {type(e).__name__}: {e}")
        if encoder and peak:
            for key, name in (("fp32", "ours fp32"), ("bf16", "ours bf16 autocast")):
                achieved = 2 * ours_224 * encoder["img_s"][key]
                rows.append([f"{name}, {args.batch} x {train_size}", "", f"{achieved:.1f}",
                             f"{100 * achieved / peak:.0f}%"])
            if hf_gmacs:
                achieved = 2 * hf_gmacs * encoder["hf_img_s"]
                rows.append([f"HF fp32, {args.batch} x {train_size}", "", f"{achieved:.1f}",
                             f"{100 * achieved / peak:.0f}%"])
            large = 2 * train_size
            if large in gmacs:
                achieved = 2 * gmacs[large] * encoder["large_img_s"]["fp32"]
                rows.append([f"ours fp32, 1 x {large}", "", f"{achieved:.1f}", f"{100 * achieved / peak:.0f}%"])
    params = count_parameters(model)
    report.add(
        "Model FLOPs (fvcore) and achieved throughput",
        markdown_table(["what", "GMACs/image", "achieved GFLOP/s", "of fp32 peak"], rows),
        f"Parameters: {params['image_encoder'] / 1e6:.1f}M image encoder, {params['text_encoder'] / 1e6:.1f}M text "
        f"encoder, {params['projectors'] / 1e6:.1f}M projectors. fvcore counts one multiply-add as one MAC and "
        "is told how to count the fused attention; ours also projects the group tokens (HF's "
        "get_image_features does not). Achieved = 2 x MACs x images/s; the fp32 peak is the best measured "
        f"matrix product ({peak:.1f} GFLOP/s)." if peak else "No matmul section: no achieved fraction.",
        *notes,
    )
    return gmacs
