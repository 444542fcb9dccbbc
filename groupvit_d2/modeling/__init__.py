from . import backbone  # noqa: F401  (registry side effects)
