from . import backbone, meta_arch  # noqa: F401  (registry side effects)
