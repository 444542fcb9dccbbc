"""encoder: the image encoder, ours (fp32 and bf16 autocast) against transformers' on the same
weights."""
import torch

from ..common import interleaved_times, markdown_table, median_ms, spread
from ..encoder import autocast, hf_image_embeds, hf_public_api_error


def encoder_section(args, hf, ours, size, large, report):
    device = args.device
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(args.batch, 3, size, size, generator=g).to(device)
    big = torch.randn(1, 3, large, large, generator=g).to(device)

    def ours_fn(x, amp):
        with autocast(device, amp):
            return ours.encode_image(x)["image_embeds"]

    def hf_fn():
        return hf_image_embeds(hf, pixels)

    with torch.inference_mode():
        ref = hf_fn()
        diff32 = (ours_fn(pixels, False) - ref).abs().max().item()
        diff16 = (ours_fn(pixels, True).float() - ref).abs().max().item()
        times = interleaved_times({"hf": hf_fn, "fp32": lambda: ours_fn(pixels, False),
                                   "bf16": lambda: ours_fn(pixels, True)}, args.repeats, args.warmup, device)
        big_times = interleaved_times({"fp32": lambda: ours_fn(big, False), "bf16": lambda: ours_fn(big, True)},
                                      args.repeats, args.warmup, device)
        api_error = hf_public_api_error(hf, big)
    h = median_ms(times["hf"])
    rows = [[f"{args.batch} x {size}", "HF get_image_features fp32", f"{h:.0f}", spread(times["hf"]),
             f"{1000 * args.batch / h:.2f}", "1.00", "1.00", "-"]]
    ratios = {}
    for key, name, diff in (("fp32", "ours encode_image fp32", diff32), ("bf16", "ours encode_image bf16 autocast",
                                                                         diff16)):
        o = median_ms(times[key])
        ratios[key] = (h / o, min(times["hf"]) / min(times[key]), diff)
        rows.append([f"{args.batch} x {size}", name, f"{o:.0f}", spread(times[key]), f"{1000 * args.batch / o:.2f}",
                     f"{h / o:.2f}", f"{ratios[key][1]:.2f}", f"{diff:.1e}"])
    for key, name in (("fp32", "ours encode_image fp32"), ("bf16", "ours encode_image bf16 autocast")):
        o = median_ms(big_times[key])
        rows.append([f"1 x {large}", name, f"{o:.0f}", spread(big_times[key]), f"{1000 / o:.2f}", "-", "-", "-"])
    notes = [f"HF/ours > 1: ours is faster; (of mins): the ratio of the fastest repetitions, which other jobs "
             f"disturb least. max abs diff: image embeddings against HF fp32, same weights and inputs. "
             f"{args.repeats} repetitions (+{args.warmup} warm-up), contenders interleaved."]
    if api_error:
        notes.append(f"HF at {large}: its public API refuses the size, so the 1 x {large} rows have no HF "
                     f"counterpart:\n\n```\n{api_error.strip()}\n```")
    report.add("Image encoder: ours against transformers' GroupViTModel",
               markdown_table(["input", "model", "ms/batch", "(min-max)", "img/s", "HF/ours", "(of mins)",
                               "max abs diff"], rows), *notes)
    return {"ratios": ratios, "hf_img_s": 1000 * args.batch / h,
            "img_s": {k: 1000 * args.batch / median_ms(times[k]) for k in ("fp32", "bf16")},
            "large_img_s": {k: 1000 / median_ms(big_times[k]) for k in ("fp32", "bf16")}}
