"""Dataset registration. Each register_*.py holds one dataset's classes and a register_all_X(root).

`register_all(root)` is called once when the package is imported, with the root taken from
DETECTRON2_DATASETS (default "datasets"), as in Detectron2's builtin datasets.
"""

import os

from .register_ade20k_150 import register_all_ade20k_150
from .register_ade20k_847 import register_all_ade20k_847
from .register_cityscapes import register_all_cityscapes
from .register_coco_captions import register_all_coco_captions
from .register_coco_object import register_all_coco_object
from .register_coco_stuff import register_all_coco_stuff
from .register_pascal_context import register_all_pascal_context
from .register_synthetic import register_all_synthetic
from .register_voc import register_all_voc

# One entry per dataset module; each is called as fn(root) and must not touch the disk.
_REGISTER_FUNCTIONS = (
    register_all_voc,
    register_all_pascal_context,
    register_all_coco_object,
    register_all_coco_stuff,
    register_all_cityscapes,
    register_all_ade20k_150,
    register_all_ade20k_847,
    register_all_coco_captions,
    register_all_synthetic,
)

_REGISTERED_ROOTS = set()


def register_all(root=None):
    """Register every dataset under `root` (idempotent)."""
    root = root or os.getenv("DETECTRON2_DATASETS", "datasets")
    if root in _REGISTERED_ROOTS:
        return
    _REGISTERED_ROOTS.add(root)
    for register in _REGISTER_FUNCTIONS:
        register(root)


register_all()
