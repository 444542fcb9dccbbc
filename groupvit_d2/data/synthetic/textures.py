"""Surface textures of objects and backgrounds (numpy, seeded by the caller's generator)."""

import numpy as np
from PIL import Image

_WHITE = np.array([245.0, 245.0, 245.0])
_WINDOW = np.array([240.0, 230.0, 140.0])


def _bands(x, frequency):
    return np.floor((x + 4.0) * frequency).astype(np.int64) % 2 == 1


def object_colours(texture, colour, u, v, rng):
    """Colours (N, 3) float of N object pixels at object coordinates `u`, `v` (N,)."""
    c = np.asarray(colour, dtype=np.float64)
    n = u.shape[0]
    if texture == "solid":
        out = np.broadcast_to(c, (n, 3)) + rng.normal(0.0, 6.0, (n, 1))
    elif texture == "shaded":
        shade = np.clip(1.2 - 0.5 * np.hypot(u + 0.35, v + 0.35), 0.55, 1.2)
        out = c * shade[:, None] + rng.normal(0.0, 4.0, (n, 1))
    elif texture == "planks":
        out = c * np.where(_bands(v, 3.0), 0.75, 1.0)[:, None] + rng.normal(0.0, 5.0, (n, 1))
    elif texture == "speckle":
        out = c * (1.0 + rng.normal(0.0, 0.18, (n, 1)))
    elif texture == "windows":
        fu, fv = np.mod((u + 4.0) * 2.0, 1.0), np.mod((v + 4.0) * 2.2, 1.0)
        window = (fu > 0.3) & (fu < 0.7) & (fv > 0.3) & (fv < 0.7)
        out = np.where(window[:, None], _WINDOW, c) + rng.normal(0.0, 4.0, (n, 1))
    elif texture == "stripes":
        out = np.where(_bands(u, 2.6)[:, None], _WHITE, c) + rng.normal(0.0, 4.0, (n, 1))
    elif texture == "checker":
        check = (np.floor((u + 4.0) * 3.0) + np.floor((v + 4.0) * 3.0)).astype(np.int64) % 2 == 1
        out = np.where(check[:, None], _WHITE, c) + rng.normal(0.0, 4.0, (n, 1))
    else:
        raise ValueError(f"unknown texture {texture!r}")
    return out


def smooth_noise(rng, height, width, cell):
    """(height, width) noise with about unit variance and features of `cell` pixels."""
    gh, gw = height // cell + 2, width // cell + 2
    grid = Image.fromarray(rng.normal(0.0, 1.0, (gh, gw)).astype(np.float32), mode="F")
    return np.asarray(grid.resize((width, height), Image.BILINEAR), dtype=np.float32)


def _noise(rng, height, width, channels, std):
    return rng.standard_normal((height, width, channels), dtype=np.float32) * np.float32(std)


def background(name, height, width, rng):
    """A (height, width, 3) uint8 background texture."""
    s = min(height, width)
    y = np.arange(height, dtype=np.float32)[:, None, None]
    x = np.arange(width, dtype=np.float32)[None, :, None]
    if name == "grass":
        img = (
            np.float32([95.0, 135.0, 70.0])
            + 20.0 * smooth_noise(rng, height, width, max(2, s // 10))[..., None]
        )
        img = img + _noise(rng, height, width, 3, 12.0)
    elif name == "sand":
        img = (
            np.float32([215.0, 195.0, 150.0])
            + 10.0 * smooth_noise(rng, height, width, max(2, s // 8))[..., None]
        )
        img = img + _noise(rng, height, width, 1, 8.0)
    elif name == "sky":
        t = y / max(1, height - 1)
        img = (1 - t) * np.float32([110.0, 160.0, 225.0]) + t * np.float32([195.0, 220.0, 245.0])
        clouds = np.clip(smooth_noise(rng, height, width, max(2, s // 6)) - 0.7, 0.0, 1.0)[
            ..., None
        ]
        img = img + 90.0 * clouds + _noise(rng, height, width, 1, 3.0)
    elif name == "wood":
        period = max(3.0, s / 12.0)
        grain = np.sin(
            2
            * np.pi
            * (y / period + 0.4 * smooth_noise(rng, height, width, max(2, s // 5))[..., None])
        )
        img = np.float32([170.0, 125.0, 80.0]) + 18.0 * grain + _noise(rng, height, width, 1, 5.0)
        plank = max(4, s // 4)
        img = np.where((np.arange(height) % plank == 0)[:, None, None], img * 0.6, img)
    elif name == "wall":
        brick_h = max(3, s // 8)
        brick_w = 2 * brick_h
        row = (y // brick_h).astype(np.int64)
        col = ((x + (row % 2) * brick_w // 2) // brick_w).astype(np.int64)
        shade = rng.normal(0.0, 10.0, (height // brick_h + 2, width // brick_w + 3))
        img = np.float32([140.0, 140.0, 145.0]) + shade[row[..., 0], col[..., 0]][..., None]
        mortar = (y % brick_h < 1) | ((x + (row % 2) * brick_w // 2) % brick_w < 1)
        img = np.where(mortar, np.float32([205.0, 205.0, 200.0]), img) + _noise(
            rng, height, width, 1, 4.0
        )
    elif name == "snow":
        img = (
            np.float32([228.0, 233.0, 242.0])
            + 6.0 * smooth_noise(rng, height, width, max(2, s // 8))[..., None]
        )
        img = img + _noise(rng, height, width, 1, 5.0)
    else:
        raise ValueError(f"unknown background {name!r}")
    return np.broadcast_to(np.clip(img, 0, 255), (height, width, 3)).astype(np.uint8)
