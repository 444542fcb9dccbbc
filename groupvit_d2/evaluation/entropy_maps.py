"""Entropy of the soft patch-to-final-group assignment per pixel (thesis sec. 4.5.1, Fig. 10b):
high where a pixel is shared between groups."""
import math
import os

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image

from ..modeling.core.images import normalize_pixels
from ..modeling.groupvit.zero_shot import upsample_group_maps
from .picture_writer import PictureWriter

__all__ = ["group_assignment_entropy", "entropy_map", "colorize_entropy", "EntropyMapWriter"]


def group_assignment_entropy(patch_to_group, grid, size):
    """Per-pixel entropy (nats) of the soft patch-to-group map, upsampled bilinearly first (as the
    segmentation maps are; a convex mix of distributions is still a distribution).

    Args:
        patch_to_group: (B, N, G) soft map, each row summing to 1 (e.g. vision.patch_to_group()).
        grid: (h, w) patch grid, h * w = N.
        size: (H, W) output size.

    Returns:
        (B, H, W) entropy in [0, log G].
    """
    maps = upsample_group_maps(patch_to_group.float(), grid, size)
    return -(maps * maps.clamp_min(1e-12).log()).sum(dim=1)


@torch.no_grad()
def entropy_map(model, sample):
    """(H, W) group-assignment entropy of one evaluation sample's whole (resized) image.

    Args:
        model: a GroupViT (or a model with a GroupViT `backbone` and `pixel_mean`/`pixel_std`).
        sample: a dict with "image" (3, H, W) 0-255 RGB.

    Returns:
        (H, W) float tensor in [0, log G], G = model.backbone.num_groups.
    """
    model = getattr(model, "module", model)
    image = normalize_pixels(sample["image"][None], model.pixel_mean, model.pixel_std)
    h, w = image.shape[-2:]
    vision = model.backbone.encode_any_size(image)
    p2g = vision.patch_to_group()
    if p2g is None:
        raise ValueError("The image encoder has no grouping stage: there is no group assignment to map")
    return group_assignment_entropy(p2g, vision.grid, (h, w))[0]


def colorize_entropy(entropy, num_groups, cmap="viridis"):
    """(H, W) entropy -> (H, W, 3) uint8 RGB picture; the colour scale spans [0, log G] so that
    pictures of one model compare."""
    top = math.log(num_groups) if num_groups > 1 else 1.0
    values = np.clip(np.asarray(entropy, dtype=np.float64) / top, 0.0, 1.0)
    return (colormaps[cmap](values)[..., :3] * 255).round().astype(np.uint8)


class EntropyMapWriter(PictureWriter):
    """Saves `<stem>_entropy.png` (the colour map) for the first `max_images` samples of the main
    process; reports nothing."""

    def write(self, sample, prediction, stem):
        entropy = entropy_map(self._model, sample)
        picture = colorize_entropy(entropy.cpu().numpy(), self._model.backbone.num_groups)
        Image.fromarray(picture).save(os.path.join(self._output_dir, f"{stem}_entropy.png"))
