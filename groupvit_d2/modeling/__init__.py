from . import backbone, heads, meta_arch  # noqa: F401  (registry side effects)
from . import clippy, pacl  # noqa: F401  (registers the CLIPpy and PACL meta-architectures)
from .freezing import TRAINABLE_PRESETS, FreezeSummary, freeze_except, freeze_norm_statistics  # noqa: F401
