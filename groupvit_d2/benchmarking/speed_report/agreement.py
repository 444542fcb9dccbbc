"""agreement: zero-shot segmentation in fp32 and under bf16 autocast, pixel agreement and both
mIoUs."""
import os
import time

import torch

from ..common import markdown_table
from ..encoder import autocast
from .common import build_ours


def bf16_agreement(config, weights, dataset, device="cpu", max_images=None):
    """Zero-shot segmentation of `dataset` in fp32 and under bf16 autocast.

    Returns {"pixels", "agreement" (fraction of pixels whose argmax class is the same), "miou_fp32",
    "miou_bf16", "images", "s_per_image_fp32", "s_per_image_bf16"}. Autocast covers the whole
    model call; the model itself keeps the class embeddings and the zero-shot head in fp32.
    """
    from detectron2.evaluation import SemSegEvaluator

    from groupvit_d2.engine.trainer import Trainer

    # Images load in this process, so that loader workers do not compete with the timed passes.
    model, cfg = build_ours(config, weights, device, ["DATALOADER.NUM_WORKERS", "0"])
    loader = Trainer.build_test_loader(cfg, dataset)
    evaluators = {key: SemSegEvaluator(dataset, distributed=False) for key in ("fp32", "bf16")}
    for ev in evaluators.values():
        ev.reset()
    equal = pixels = images = 0
    seconds = {"fp32": 0.0, "bf16": 0.0}
    with torch.no_grad():
        model.class_embeddings(dataset_name=dataset)  # once, outside the timed passes
        for inputs in loader:
            outputs = {}
            for key in ("fp32", "bf16"):
                t0 = time.perf_counter()
                with autocast(device, key == "bf16"):
                    outputs[key] = model(inputs)
                seconds[key] += time.perf_counter() - t0
                evaluators[key].process(inputs, outputs[key])
            for a, b in zip(outputs["fp32"], outputs["bf16"]):
                pa, pb = a["sem_seg"].argmax(0), b["sem_seg"].argmax(0)
                equal += int((pa == pb).sum())
                pixels += pa.numel()
            images += len(inputs)
            if max_images and images >= max_images:
                break
    mious = {k: ev.evaluate()["sem_seg"]["mIoU"] for k, ev in evaluators.items()}
    return {"pixels": pixels, "agreement": equal / max(pixels, 1), "miou_fp32": mious["fp32"],
            "miou_bf16": mious["bf16"], "images": images, "s_per_image_fp32": seconds["fp32"] / max(images, 1),
            "s_per_image_bf16": seconds["bf16"] / max(images, 1)}


def agreement_section(args, report):
    config = args.agreement_config or args.config
    r = bf16_agreement(config, args.agreement_weights, args.dataset, args.device, args.agreement_max_images)
    rows = [["fp32", f"{r['miou_fp32']:.2f}", f"{r['s_per_image_fp32']:.2f}"],
            ["bf16 autocast", f"{r['miou_bf16']:.2f}", f"{r['s_per_image_bf16']:.2f}"]]
    report.add(
        f"bf16 autocast against fp32: zero-shot segmentation of {args.dataset}",
        f"{os.path.relpath(config)} with {args.agreement_weights}; {r['images']} images, {r['pixels']} pixels "
        "at the original size; the whole model call under autocast (the model runs in bf16 only its "
        "encoder's first stage; the later stages, the projector, the class embeddings and the "
        "zero-shot head stay in fp32).",
        markdown_table(["precision", "mIoU", "s/image"], rows),
        f"Pixels whose predicted class agrees: {100 * r['agreement']:.3f}%; mIoU difference "
        f"{r['miou_bf16'] - r['miou_fp32']:+.2f}.",
    )
    return r
