"""Prompt template sets. The CLIP sets come from open_clip, which ships them."""
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

TEMPLATE_SETS = {
    # CLIP's 80 ImageNet templates: the official GroupViT "full" set.
    "full": tuple(OPENAI_IMAGENET_TEMPLATES),
    # The 7-template subset (official GroupViT "sub_imagenet_template").
    "subset": tuple(SIMPLE_IMAGENET_TEMPLATES),
    "simple": (lambda c: f"a photo of a {c}.",),
    "identity": (lambda c: c,),
}


def get_templates(name):
    """Return the template set `name` as a tuple of callables `str -> str`."""
    if name not in TEMPLATE_SETS:
        raise KeyError(f"Unknown prompt template set {name!r}; expected one of {sorted(TEMPLATE_SETS)}")
    return TEMPLATE_SETS[name]
