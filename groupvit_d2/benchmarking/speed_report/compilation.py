"""compile: torch.compile of the encoder against eager and transformers', and whether its compile
time pays back."""
import time

import torch

from ..common import interleaved_times, markdown_table, median_ms, spread
from ..encoder import hf_image_embeds


def compile_section(args, hf, ours, size, report):
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(args.batch, 3, size, size, generator=g).to(args.device)

    def eager(x=pixels):
        return ours.encode_image(x)["image_embeds"]

    try:
        import torch._inductor.config as inductor_config

        with torch.no_grad(), inductor_config.patch(freezing=True):
            compiled = torch.compile(lambda x: ours.encode_image(x)["image_embeds"])
            t0 = time.perf_counter()
            out = compiled(pixels)
            compile_s = time.perf_counter() - t0
    except Exception as e:  # no compiler, unsupported op, ...: say so and go on
        report.add("torch.compile", f"torch.compile failed on this machine, skipped: {type(e).__name__}: "
                   f"{str(e).splitlines()[0][:300]}")
        return None
    with torch.no_grad():
        diff = (out - eager()).abs().max().item()
        times = interleaved_times({"hf": lambda: hf_image_embeds(hf, pixels), "eager": eager,
                                   "compiled": lambda: compiled(pixels)}, args.repeats, args.warmup, args.device)
    e, c, h = (median_ms(times[k]) for k in ("eager", "compiled", "hf"))
    speedup, speedup_min = e / c, min(times["eager"]) / min(times["compiled"])
    saved = (e - c) / 1000 / args.batch  # seconds per image
    pays = speedup > 1.03 and speedup_min > 1.03
    rows = [["HF fp32", f"{h:.0f}", spread(times["hf"]), "", ""],
            ["ours eager", f"{e:.0f}", spread(times["eager"]), f"{h / e:.2f}", ""],
            ["ours compiled", f"{c:.0f}", spread(times["compiled"]), f"{h / c:.2f}", f"{speedup:.2f}"]]
    if pays:
        verdict = (f"{speedup:.2f}x faster than eager (of mins {speedup_min:.2f}x): the compile time is paid back "
                   f"after about {compile_s / saved:.0f} images of this shape")
    elif speedup < 0.97 and speedup_min < 0.97:
        verdict = f"slower than eager ({speedup:.2f}x, of mins {speedup_min:.2f}x): it does not pay"
    else:
        verdict = (f"within the noise of eager ({speedup:.2f}x, of mins {speedup_min:.2f}x): it does not pay "
                   "for its compile time")
    report.add(
        f"torch.compile (inductor, freezing) of the encoder, {args.batch} x {size}",
        markdown_table(["contender", "ms/batch", "(min-max)", "HF/this", "eager/this"], rows),
        f"Compiling took {compile_s:.0f} s; compiled vs eager max abs diff {diff:.1e}; {verdict}. Each new input "
        "shape (sliding-window batches of another window count, other image sizes) compiles again, so the "
        "eager model stays the default.",
    )
    return {"compile_s": compile_s, "speedup": speedup, "pays": pays}
