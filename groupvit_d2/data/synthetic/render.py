"""Render one synthetic image: a textured background, one to three objects, their label map and a
caption."""

from typing import List, NamedTuple

import numpy as np

from .captions import PARTIAL_CAPTION_PROB, make_caption
from .categories import BACKGROUNDS, CATEGORIES, PART_COLOURS
from .shapes import object_transform, rasterise
from .textures import background, object_colours

# Objects showing less than this fraction of their drawn area are not named in the caption.
MIN_VISIBLE_FRACTION = 0.3
OBJECT_COUNT_PROBS = (0.35, 0.4, 0.25)  # one, two, three objects
# Half-extent, as a fraction of the short image side. At the 96-pixel training crop on a 16-pixel
# patch grid, 0.2-0.35 gives an object about 5-15 of the 36 patches; the earlier 0.13-0.3 gave
# about 3 and the smallest objects under one, which no group of a 6 x 6 grid can outline
# (docs/RESULTS.md, "Second round").
SIZE_RANGE = (0.2, 0.35)


class SyntheticSample(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8 RGB
    label: np.ndarray  # (H, W) uint8, 0 background, i + 1 for CATEGORIES[i]
    objects: List[dict]
    background: str
    caption: str


def _place(rng, sizes_so_far, centers_so_far, size, height, width):
    # Rejection sampling keeps objects from hiding each other; the last draw is kept if none fits.
    for _ in range(30):
        cx = rng.uniform(0.6 * size, width - 0.6 * size)
        cy = rng.uniform(0.6 * size, height - 0.6 * size)
        if all(
            np.hypot(cx - c[0], cy - c[1]) >= 0.75 * (size + s)
            for c, s in zip(centers_so_far, sizes_so_far)
        ):
            break
    return float(cx), float(cy)


def _inverse_2x2(m):
    # np.linalg.inv goes through LAPACK, which costs more than the whole drawing on a busy machine.
    a, b, c, d = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
    return np.array([[d, -b], [-c, a]]) / (a * d - b * c)


def render_sample(rng, height, width, size_range=SIZE_RANGE, partial_caption_prob=PARTIAL_CAPTION_PROB):
    """Draw one sample with the numpy Generator `rng` (the only source of randomness).

    `size_range` bounds each object's half-extent as a fraction of the short side;
    `partial_caption_prob` is how often a caption of several objects names only some of them.
    """
    bg = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    image = background(bg.name, height, width, rng)
    label = np.zeros((height, width), dtype=np.uint8)
    side = min(height, width)
    count = int(rng.choice(len(OBJECT_COUNT_PROBS), p=OBJECT_COUNT_PROBS)) + 1
    category_ids = [int(i) for i in rng.choice(len(CATEGORIES), size=count, replace=False)]

    objects, centers, sizes = [], [], []
    for cid in category_ids:
        cat = CATEGORIES[cid]
        size = float(rng.uniform(*size_range) * side)
        cx, cy = _place(rng, sizes, centers, size, height, width)
        angle = float(rng.uniform(-cat.max_rotation, cat.max_rotation))
        mirror = bool(rng.random() < 0.5)
        matrix, offset = object_transform(cx, cy, size, angle, mirror)
        parts, union = rasterise(cat.shape, matrix, offset, height, width)
        inverse = _inverse_2x2(matrix)
        for mask, fill in parts:
            ys, xs = np.nonzero(mask)
            if fill == "main":
                uv = (np.stack([xs, ys], 1) + 0.5 - offset) @ inverse.T
                colours = object_colours(cat.texture, cat.colour, uv[:, 0], uv[:, 1], rng)
            else:
                colours = np.asarray(PART_COLOURS[fill], dtype=np.float64) + rng.normal(
                    0.0, 5.0, (len(ys), 1)
                )
            image[ys, xs] = np.clip(colours, 0, 255).astype(np.uint8)
        label[union] = cid + 1
        centers.append((cx, cy))
        sizes.append(size)
        objects.append(
            {
                "category": cat.name,
                "category_id": cid + 1,
                "colour_word": cat.colour_word,
                "center": [round(cx, 2), round(cy, 2)],
                "size": round(size, 2),
                "angle": round(angle, 2),
                "area": int(union.sum()),
                "mentioned": False,
            }
        )

    for obj in objects:
        obj["visible"] = int((label == obj["category_id"]).sum())
    visible = [o for o in objects if o["area"] and o["visible"] >= MIN_VISIBLE_FRACTION * o["area"]]
    caption = make_caption(rng, visible or objects, bg, side, partial_caption_prob)
    return SyntheticSample(image, label, objects, bg.name, caption)
