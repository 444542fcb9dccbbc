"""Published weights of the towers PACL and CLIPpy start from: clear errors when they cannot be had,
and overrides of a tower's architecture."""
import json
from collections.abc import Mapping

__all__ = ["PretrainedWeightsError", "weights_unavailable", "parse_overrides"]


class PretrainedWeightsError(RuntimeError):
    """The published weights of a named model could not be loaded (e.g. their host is unreachable)."""


def weights_unavailable(library, model_name, source, error, remedy, what="the pretrained weights"):
    """A PretrainedWeightsError naming the model, where its weights were looked for, what failed, and
    `remedy`: what to change (the config keys) where the weights cannot be downloaded."""
    return PretrainedWeightsError(
        f"{library} model {model_name!r}: {what} {source!r} cannot be loaded "
        f"({type(error).__name__}: {error}). Where they cannot be downloaded (no access to their "
        f"host from this machine): {remedy}"
    )


def parse_overrides(value, key):
    """Keyword arguments from config value `key`: a mapping (a YAML mapping in a config file), a
    JSON object string, or empty. Returns a plain dict (nested mappings become dicts)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"{key} must be a mapping or a JSON object, got {value!r} ({err})") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be a mapping of keyword arguments, got {value!r}")
    return _plain(value)


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
