from .templates import TEMPLATE_SETS, get_templates
from .tokenizer import build_tokenizer

__all__ = ["TEMPLATE_SETS", "get_templates", "build_tokenizer"]
