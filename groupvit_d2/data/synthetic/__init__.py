"""A synthetic image-text benchmark with exact segmentation labels, generated from a seed.

Twelve object categories (real English nouns with distinct shape, colour and texture) on six
background textures, captioned with varied sentences; see `generate_synthetic_dataset`.
"""

from .categories import (
    BACKGROUNDS,
    BACKGROUND_NAMES,
    CATEGORIES,
    CATEGORY_NAMES,
    Background,
    Category,
)
from .render import SyntheticSample, render_sample
from .writer import FORMAT_VERSION, generate_synthetic_dataset, render_indexed

__all__ = [
    "BACKGROUNDS",
    "BACKGROUND_NAMES",
    "CATEGORIES",
    "CATEGORY_NAMES",
    "Background",
    "Category",
    "SyntheticSample",
    "render_sample",
    "render_indexed",
    "generate_synthetic_dataset",
    "FORMAT_VERSION",
]
