"""Which final groups carry the names of an image's objects.

Each final group is named by its best class (cosine of its projected embedding with the class
embeddings) and sorted by what it holds under the hard assignment: the group holding most of an
object's patches, the group holding most of the background's, and the groups holding no patch.
A model whose training losses see only the mean of its groups can write the names into groups
that hold nothing, which the zero-shot rule never paints (docs/RESULTS.md, "Where the names sit").
"""
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from ..modeling.groupvit.grouping_health import object_group_named, patch_majority

__all__ = ["NamingTally", "tally_image", "group_naming_rates"]

KINDS = ("pooled", "object_group", "background_group", "empty_group", "chance")


class NamingTally:
    """Running counts of right names per kind of group; rates() gives percentages."""

    def __init__(self):
        self.hits: Dict[str, List[float]] = {k: [] for k in KINDS}

    def rates(self):
        """{kind: (percentage right, number of groups or images counted)}."""
        return {k: (100.0 * float(np.mean(v)) if v else float("nan"), len(v)) for k, v in self.hits.items()}


def tally_image(tally, image_embed, group_embeds, patch_group, patch_class, class_emb, background=0):
    """Add one image to `tally`.

    Args:
        image_embed: (D,) the pooled image embedding; group_embeds: (G, D) the final groups'.
        patch_group: (h, w) int, each patch's final group; patch_class: (h, w) int, each patch's
            majority ground-truth class (`background` for background).
        class_emb: (C, D) normalised class embeddings; class c is label c + 1 (0 is background).
    """
    present = set(np.unique(patch_class).tolist()) - {background}
    if not present:
        return

    def name(e):
        return int((F.normalize(e, dim=-1) @ class_emb.T).argmax()) + 1

    tally.hits["pooled"].append(name(image_embed) in present)
    tally.hits["chance"].append(len(present) / class_emb.shape[0])
    group_class = torch.tensor([name(e) for e in group_embeds])
    tally.hits["object_group"] += object_group_named(
        torch.as_tensor(patch_group).flatten(), torch.as_tensor(patch_class).flatten(), group_class, skip=(background,))
    owners = patch_group[patch_class == background]
    if owners.size:
        tally.hits["background_group"].append(name(group_embeds[np.bincount(owners).argmax()]) in present)
    used = set(np.unique(patch_group).tolist())
    for g in range(group_embeds.shape[0]):
        if g not in used:
            tally.hits["empty_group"].append(name(group_embeds[g]) in present)


@torch.no_grad()
def group_naming_rates(model, dataset_name, max_images=200):
    """NamingTally.rates() of a GroupViT `model` on a sem-seg dataset with a background class,
    each image resized to the model's training size (one patch grid, as in training)."""
    meta = MetadataCatalog.get(dataset_name)
    names = list(meta.stuff_classes)
    if names[0] != "background":
        raise ValueError(f"{dataset_name}: group naming needs class 0 to be the background, got {names[0]!r}")
    class_emb, _ = model.class_embeddings(class_names=names[1:])
    size, patch = model.backbone.img_size, model.backbone.patch_size
    tally = NamingTally()
    for d in DatasetCatalog.get(dataset_name)[:max_images]:
        image = Image.open(d["file_name"]).convert("RGB").resize((size, size), Image.BILINEAR)
        label = np.asarray(Image.open(d["sem_seg_file_name"]).resize((size, size), Image.NEAREST), dtype=np.int64)
        pixels = torch.from_numpy(np.asarray(image)).permute(2, 0, 1).float().to(model.device)
        out = model.encode_image(model.normalize(pixels[None]))
        vision = out["vision"]
        patch_group = vision.patch_to_group()[0].argmax(-1).view(*vision.grid).cpu().numpy()
        tally_image(tally, out["image_embeds"][0], out["group_embeds"][0], patch_group,
                    patch_majority(torch.from_numpy(label), patch).numpy(), class_emb)
    return tally.rates()
