"""What every section of the speed report shares: its constants and targets, the report being
written, our model built from a config, and the growth sweep's points and inputs."""
import torch

from ..common import load_cfg


SECTIONS = ("growth", "train", "matmul", "encoder", "flops", "profile", "compile", "text", "gpu", "agreement")
DEFAULT_SECTIONS = SECTIONS[:-1]
# The ISA flags the machine description names.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
# Registered datasets whose metadata gives the vocabularies of the sweep: (label, dataset name).
SIZE_VOCABULARY = ("VOC 20 + bg", "voc21_val")
VOCABULARIES = (("VOC 20 + bg", "voc21_val"), ("ADE 150", "ade20k_150_val"), ("ADE 847", "ade20k_847_val"))
ASPECT = 4 / 3  # width / height of the sweep's images (VOC's 500x375)
TARGETS = {"fp32": 1.10, "bf16": 2.0, "diff": 1e-4, "train": 1.1, "train_bf16": 1.8, "agreement": 0.995,
           "miou": 0.2, "vocab_time": 3.0, "vocab_memory": 1.5, "text_second_s": 1.0}
TEXT_VOCABULARY = ("ADE 847", "ade20k_847_val")
DENSE_SWEEP = "vocabulary, dense head"


class Report:
    """Markdown sections, printed as soon as they are complete and written out at the end."""

    def __init__(self):
        self.sections = []

    def add(self, title, *blocks):
        text = f"## {title}\n\n" + "\n\n".join(b for b in blocks if b) + "\n"
        self.sections.append(text)
        print("\n" + text, flush=True)

    def markdown(self, head):
        return head + "\n\n" + "\n".join(self.sections)


def build_ours(config, weights, device, opts=()):
    """Our meta-architecture from a config file (eval mode), with `weights` loaded if given."""
    from detectron2.modeling import build_model

    from groupvit_d2.checkpoint import GroupViTCheckpointer

    cfg = load_cfg(config, device, opts)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    if weights:
        GroupViTCheckpointer(model).load(weights)
    return model, cfg


def load_weights_into_pair(hf, ours, weights):
    """Load `weights` into our model and the same weights, converted, into HF's."""
    from groupvit_d2.checkpoint import GroupViTCheckpointer, ours_to_hf

    GroupViTCheckpointer(ours).load(weights)
    state_dict, _ = ours_to_hf(ours.state_dict())
    incompatible = hf.load_state_dict(state_dict, strict=False)
    missing = [k for k in incompatible.missing_keys if not k.endswith("position_ids")]
    if missing or incompatible.unexpected_keys:
        raise RuntimeError(f"{weights}: converted weights do not fit transformers' GroupViTModel: {incompatible}")


def sweep_points(args, crop):
    """[(sweep, x value, (height, width), vocabulary label, dataset)] of the growth section."""
    sizes = args.sizes or [crop // 2, crop, 2 * crop]
    points = [("input", s, (s, int(round(s * ASPECT))), *SIZE_VOCABULARY) for s in sizes]
    base = crop if crop in sizes else sizes[len(sizes) // 2]
    for label, dataset in VOCABULARIES:
        points.append(("vocabulary", None, (base, int(round(base * ASPECT))), label, dataset))
    if getattr(args, "compare_dense_head", False):
        points += [(DENSE_SWEEP,) + p[1:] for p in points if p[0] == "vocabulary"]
    return points


def vocabulary(dataset):
    """(names to embed, background threshold or None) of a registered dataset's metadata."""
    from detectron2.data import MetadataCatalog

    from groupvit_d2.modeling.core import class_names_from_metadata

    names, _, threshold = class_names_from_metadata(MetadataCatalog.get(dataset))
    return names, threshold


def zero_shot_sample(height, width, names, threshold, seed=0):
    """A random uint8 image already at the model's input size, with its own vocabulary."""
    g = torch.Generator().manual_seed(seed)
    sample = {"image": torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8),
              "height": height, "width": width, "class_names": names}
    if threshold is not None:
        sample["background_threshold"] = threshold
    return sample
