"""Shapes as polygons in object coordinates, rasterised to exact binary masks with Pillow.

An object spans about [-1, 1] x [-1, 1] (x right, y down) before it is scaled, rotated and placed.
A shape is a list of parts (points, fill, op): fill "main" takes the category's texture, any other
fill names a PART_COLOURS entry; op "cut" removes its area from the parts before it. Drawing
without antialiasing makes the label mask exactly the painted pixels.
"""

from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw


class Part(NamedTuple):
    points: np.ndarray  # (N, 2) x, y in object coordinates
    fill: str = "main"
    op: str = "add"


def _ellipse(cx, cy, rx, ry, n=64):
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _rect(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _star(points=5, outer=1.0, inner=0.42):
    t = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _heart(n=80):
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y + 2.5], 1) / 17.0


def _half_disc(n=48):
    t = np.linspace(np.pi, 2.0 * np.pi, n)
    return np.stack([np.cos(t), 0.1 + 0.9 * np.sin(t)], 1)


SHAPES = {
    "circle": [Part(_ellipse(0, 0, 1, 1))],
    "square": [Part(_rect(-0.8, -0.8, 0.8, 0.8))],
    "tree": [
        Part(np.array([[0.0, -1.0], [0.75, 0.45], [-0.75, 0.45]])),
        Part(_rect(-0.15, 0.45, 0.15, 1.0), "trunk"),
    ],
    "house": [
        Part(_rect(-0.7, -0.15, 0.7, 0.9)),
        Part(np.array([[-0.9, -0.15], [0.0, -0.95], [0.9, -0.15]]), "roof"),
    ],
    "fish": [
        Part(_ellipse(-0.2, 0.0, 0.72, 0.42)),
        Part(np.array([[0.38, 0.0], [1.0, -0.5], [1.0, 0.5]])),
    ],
    "star": [Part(_star())],
    "crescent": [Part(_ellipse(0, 0, 0.95, 0.95)), Part(_ellipse(0.45, -0.2, 0.8, 0.8), op="cut")],
    "car": [
        Part(_rect(-1.0, -0.1, 1.0, 0.45)),
        Part(np.array([[-0.55, -0.1], [-0.35, -0.6], [0.35, -0.6], [0.55, -0.1]])),
        Part(_ellipse(-0.55, 0.5, 0.26, 0.26, 32), "wheel"),
        Part(_ellipse(0.55, 0.5, 0.26, 0.26, 32), "wheel"),
    ],
    "flower": [
        Part(_ellipse(0.56 * np.cos(a), 0.56 * np.sin(a), 0.4, 0.4, 32))
        for a in np.arange(6) * np.pi / 3
    ]
    + [Part(_ellipse(0, 0, 0.3, 0.3, 32), "centre")],
    "heart": [Part(_heart())],
    "diamond": [Part(np.array([[0.0, -1.0], [0.62, -0.2], [0.0, 1.0], [-0.62, -0.2]]))],
    "umbrella": [
        Part(_half_disc()),
        Part(_rect(-0.06, 0.1, 0.06, 0.9), "handle"),
        Part(_rect(-0.32, 0.8, 0.06, 0.92), "handle"),
        Part(_rect(-0.32, 0.62, -0.2, 0.92), "handle"),
    ],
}


def object_transform(cx, cy, size, angle_deg, mirror):
    """(2, 2) matrix and offset taking object coordinates to pixel coordinates."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    flip = np.diag([-1.0 if mirror else 1.0, 1.0])
    return size * rot @ flip, np.array([cx, cy])


def polygon_mask(points, height, width):
    """Boolean (height, width) mask of the pixels inside the polygon `points` (N, 2) in pixels."""
    canvas = Image.new("1", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in points.tolist()], fill=1)
    return np.asarray(canvas, dtype=bool)


def rasterise(shape, matrix, offset, height, width):
    """The parts of `shape` as [(mask (H, W) bool, fill)], cuts applied, and the union mask."""
    parts, union = [], np.zeros((height, width), dtype=bool)
    for part in SHAPES[shape]:
        mask = polygon_mask(part.points @ matrix.T + offset, height, width)
        if part.op == "cut":
            parts = [(m & ~mask, f) for m, f in parts]
            union &= ~mask
        else:
            parts.append((mask, part.fill))
            union |= mask
    return parts, union
