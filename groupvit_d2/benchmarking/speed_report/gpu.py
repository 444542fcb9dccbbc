"""gpu: the encoder and zero-shot inference on CUDA, where there is a GPU."""
import torch

from ..common import interleaved_times, markdown_table, median_ms, peak_memory_growth, spread
from ..encoder import autocast
from .common import SIZE_VOCABULARY, build_ours, vocabulary, zero_shot_sample


def gpu_section(args, report):
    """CUDA fp32 / bf16 / torch.compile encoder throughput and zero-shot images/s at 448, with peak
    memory; a skip note where CUDA is not available."""
    if not torch.cuda.is_available():
        report.add("GPU", "Skipped: CUDA is not available on this machine (torch "
                   f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}).")
        return None
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    model, cfg = build_ours(args.config, args.weights, "cuda")
    size = cfg.TEST.SLIDING_WINDOW.CROP_SIZE
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(8, 3, size, size, generator=g).to(device)

    def encoder(amp):
        with autocast("cuda", amp):
            return model.encode_image(pixels)["image_embeds"]

    contenders = {"encoder fp32": lambda: encoder(False), "encoder bf16 autocast": lambda: encoder(True)}
    compile_note = ""
    try:
        compiled = torch.compile(model.backbone.encode)
        original = model.backbone.encode
        model.backbone.encode = compiled
        with torch.inference_mode():
            encoder(False)
        model.backbone.encode = original

        def compiled_encoder():
            model.backbone.encode = compiled
            try:
                return encoder(False)
            finally:
                model.backbone.encode = original

        contenders["encoder fp32 torch.compile"] = compiled_encoder
    except Exception as error:  # a compiler failure is a finding of the report, not a crash
        compile_note = f"torch.compile failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    names, threshold = vocabulary(SIZE_VOCABULARY[1])
    sample = zero_shot_sample(size, size, names, threshold)
    with torch.no_grad():
        model.class_embeddings(class_names=names, background_threshold=threshold)

    def zero_shot(precision):
        model.precision = precision
        try:
            return model([sample])[0]["sem_seg"]
        finally:
            model.precision = "fp32"

    contenders["zero-shot fp32 (1 image)"] = lambda: zero_shot("fp32")
    contenders["zero-shot MODEL.PRECISION bf16 (1 image)"] = lambda: zero_shot("bf16")
    rows, result = [], {}
    with torch.inference_mode():
        for label, fn in contenders.items():
            times, memory = peak_memory_growth(
                lambda fn=fn: interleaved_times({"x": fn}, args.repeats, args.warmup, "cuda")["x"], "cuda")
            ms = median_ms(times)
            per_call = 1 if "zero-shot" in label else pixels.shape[0]
            rows.append([label, f"{ms:.1f}", spread(times), f"{1000 * per_call / ms:.1f}",
                         f"{memory['peak_growth_mib']:.0f}"])
            result[label] = {"ms": ms, "img_s": 1000 * per_call / ms, "peak_mib": memory["peak_growth_mib"]}
    report.add(f"GPU: {name}",
               f"CUDA {torch.version.cuda}; encoder rows: 8 x {size}; zero-shot rows: one {size} x {size} image, "
               f"{len(names)} names + background, class embeddings cached. Peak +MiB: torch.cuda.max_memory_allocated "
               "above what was allocated before the row.",
               markdown_table(["row", "ms/call", "(min-max)", "img/s", "peak +MiB"], rows), compile_note)
    return {"device": name, **result}
