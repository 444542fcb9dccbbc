"""The object categories and background textures of the synthetic benchmark.

Every category is a real English noun with one consistent look: its own shape, colour and surface
texture, so that both towers can tell the twelve apart. Parts ("trunk", "roof", "wheel", ...) get
their own colour but belong to the object's class.
"""

from typing import NamedTuple, Tuple


class Category(NamedTuple):
    name: str
    colour: Tuple[int, int, int]
    colour_word: str
    shape: str
    texture: str
    # Largest rotation in degrees (upright things barely tilt).
    max_rotation: float


CATEGORIES = (
    Category("ball", (215, 35, 35), "red", "circle", "shaded", 0.0),
    Category("box", (150, 95, 45), "brown", "square", "planks", 30.0),
    Category("tree", (40, 150, 50), "green", "tree", "speckle", 5.0),
    Category("house", (50, 90, 210), "blue", "house", "windows", 5.0),
    Category("fish", (250, 130, 20), "orange", "fish", "stripes", 20.0),
    Category("star", (245, 215, 30), "yellow", "star", "solid", 36.0),
    Category("moon", (235, 235, 215), "white", "crescent", "solid", 40.0),
    Category("car", (125, 50, 185), "purple", "car", "solid", 5.0),
    Category("flower", (225, 50, 190), "magenta", "flower", "solid", 30.0),
    Category("heart", (255, 140, 170), "pink", "heart", "shaded", 15.0),
    Category("kite", (20, 200, 215), "cyan", "diamond", "checker", 20.0),
    Category("umbrella", (35, 35, 40), "black", "umbrella", "solid", 10.0),
)
CATEGORY_NAMES = tuple(c.name for c in CATEGORIES)

# Colours of the parts that differ from the object's colour.
PART_COLOURS = {
    "trunk": (100, 60, 25),
    "roof": (30, 50, 130),
    "wheel": (25, 25, 25),
    "centre": (250, 220, 60),
    "handle": (90, 90, 95),
}


class Background(NamedTuple):
    name: str
    phrases: Tuple[str, ...]


BACKGROUNDS = (
    Background("grass", ("on a grassy field", "on the grass", "in a meadow", "in a park")),
    Background("sand", ("on the beach", "on the sand", "in the desert")),
    Background("sky", ("in the sky", "under a blue sky", "against the sky")),
    Background("wood", ("on a wooden table", "on a wooden floor", "on the table")),
    Background("wall", ("in front of a brick wall", "next to a grey wall", "by the wall")),
    Background("snow", ("in the snow", "on a snowy day", "on the snow")),
)
BACKGROUND_NAMES = tuple(b.name for b in BACKGROUNDS)
