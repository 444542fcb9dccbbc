"""Writes group and segmentation pictures for the first images of an evaluated dataset."""
import os

import numpy as np
import torch.nn.functional as F
from detectron2.data import MetadataCatalog
from PIL import Image

from ..utils.visualization import draw_semantic_segmentation, overlay_groups
from .picture_writer import PictureWriter


def write_pictures(model, sample, prediction, metadata, output_dir, stem):
    """Save `<stem>_seg.png` (segmentation overlay) and `<stem>_groups_stage<l>.png` (per grouping
    stage, for models with `group_maps`) for one evaluated sample. Returns the written paths."""
    os.makedirs(output_dir, exist_ok=True)
    image = sample["image"].permute(1, 2, 0).cpu().numpy().astype(np.uint8)
    h, w = image.shape[:2]
    paths = []
    if prediction is not None:
        labels = F.interpolate(prediction["sem_seg"][None].float(), size=(h, w), mode="bilinear",
                               align_corners=False)[0].argmax(0).cpu().numpy()
        path = os.path.join(output_dir, f"{stem}_seg.png")
        Image.fromarray(draw_semantic_segmentation(image, labels, metadata)).save(path)
        paths.append(path)
    # A model without learned groups (PACL, a supervised head) gets its segmentation picture only.
    group_maps = model.group_maps(sample) if hasattr(model, "group_maps") else []
    for stage, groups in enumerate(group_maps, start=1):
        path = os.path.join(output_dir, f"{stem}_groups_stage{stage}.png")
        groups = groups.cpu().numpy()
        Image.fromarray(overlay_groups(image, groups, int(groups.max()) + 1)).save(path)
        paths.append(path)
    return paths


class GroupPicturesWriter(PictureWriter):
    """Saves pictures for the first `max_images` samples (of the main process); reports nothing."""

    def __init__(self, dataset_name, model, output_dir, max_images=8):
        super().__init__(model, output_dir, max_images)
        self._metadata = MetadataCatalog.get(dataset_name)

    def write(self, sample, prediction, stem):
        write_pictures(self._model, sample, prediction, self._metadata, self._output_dir, stem)
