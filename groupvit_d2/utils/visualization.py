"""Pictures of what the model grouped and segmented, drawn with Detectron2's Visualizer."""
import hashlib

import numpy as np
from detectron2.data.catalog import Metadata
from detectron2.utils.colormap import colormap, random_color
from detectron2.utils.visualizer import ColorMode, Visualizer


def group_palette(num_groups, seed=0):
    """(num_groups, 3) uint8 colours, fixed for a given seed so pictures are comparable."""
    rng_state = np.random.get_state()
    np.random.seed(seed)
    colors = np.stack([random_color(rgb=True, maximum=255) for _ in range(num_groups)]).astype(np.uint8)
    np.random.set_state(rng_state)
    return colors


def colorize_groups(group_ids, num_groups):
    """group_ids: (H, W) integer array -> (H, W, 3) uint8 RGB picture, one colour a group."""
    group_ids = np.asarray(group_ids)
    return group_palette(max(num_groups, int(group_ids.max()) + 1))[group_ids]


def overlay_groups(image, group_ids, num_groups, alpha=0.5):
    """Blend the coloured group map over an (H, W, 3) uint8 RGB image, with group borders."""
    colored = colorize_groups(group_ids, num_groups).astype(np.float32)
    out = (1 - alpha) * image.astype(np.float32) + alpha * colored
    edges = np.zeros(group_ids.shape, dtype=bool)
    edges[:-1] |= group_ids[:-1] != group_ids[1:]
    edges[:, :-1] |= group_ids[:, :-1] != group_ids[:, 1:]
    out[edges] = 255
    return out.astype(np.uint8)


def stable_class_colors(names):
    """[r, g, b] 0-255 for each class name, the same in every run and process.

    Each name picks an entry of Detectron2's palette by a hash of its text (not Python's hash(),
    which changes per process); a name whose entry an earlier class of the list holds takes the
    next free one, so the classes of one vocabulary stay apart.
    """
    palette = colormap(rgb=True, maximum=255).astype(int)
    used, colors = set(), []
    for name in names:
        index = int(hashlib.sha256(str(name).encode("utf-8")).hexdigest(), 16) % len(palette)
        while index in used and len(used) < len(palette):
            index = (index + 1) % len(palette)
        used.add(index)
        colors.append(palette[index].tolist())
    return colors


def draw_semantic_segmentation(image, sem_seg, metadata, alpha=0.6):
    """(H, W, 3) uint8 RGB image + (H, W) class ids -> the Visualizer's overlay (H, W, 3) uint8.

    Classes are drawn in the metadata's stuff_colors where it has them, else in
    `stable_class_colors` (Detectron2's Visualizer would draw random ones, new on every run).
    """
    if not getattr(metadata, "stuff_colors", None):
        metadata = Metadata(name=getattr(metadata, "name", "classes"), stuff_classes=list(metadata.stuff_classes),
                            stuff_colors=stable_class_colors(metadata.stuff_classes))
    visualizer = Visualizer(image, metadata, instance_mode=ColorMode.IMAGE)
    return visualizer.draw_sem_seg(np.asarray(sem_seg), alpha=alpha).get_image()
