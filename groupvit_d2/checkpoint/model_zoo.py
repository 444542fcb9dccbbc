"""The released GroupViT weights, by config name, and the ``groupvit://`` path handler.

``MODEL.WEIGHTS: groupvit://gcc_yfcc_30e`` downloads the official release through Detectron2's
PathManager, caches it, and checks its SHA-256 prefix (the 8 hex digits in the file name, as in
torch.hub's naming). ``groupvit://nvidia/groupvit-gcc-yfcc`` fetches the Hugging Face copy instead.
Nothing is downloaded unless such a path is asked for. Offline, the error names the URL and says
how to use a local copy.
"""
import hashlib
import logging
import os
import re
from dataclasses import dataclass

from detectron2.utils.file_io import PathHandler, PathManager

from .errors import CheckpointFormatError

logger = logging.getLogger(__name__)

__all__ = ["ZooEntry", "MODEL_ZOO", "get_entry", "get_checkpoint_url", "fetch_checkpoint", "GroupViTZooHandler"]


@dataclass(frozen=True)
class ZooEntry:
    name: str
    config: str  # relative to configs/
    url: str  # the official release file
    hf_name: str  # the Hugging Face copy (CLIP pixel statistics, its own config.json)

    @property
    def sha256_prefix(self):
        return hash_prefix_from_name(self.url)

    @property
    def hf_url(self):
        # The 2022 uploads hold pytorch_model.bin; config.json lives next to it.
        return f"https://huggingface.co/{self.hf_name}/resolve/main/pytorch_model.bin"


_RELEASE = "https://github.com/xvjiarui/GroupViT/releases/download/v1.0.0/"
MODEL_ZOO = {
    e.name: e
    for e in (
        ZooEntry("gcc_yfcc_30e", "groupvit/gcc_yfcc_30e.yaml", _RELEASE + "group_vit_gcc_yfcc_30e-879422e0.pth",
                 "nvidia/groupvit-gcc-yfcc"),
        ZooEntry("gcc_redcap_30e", "groupvit/gcc_redcap_30e.yaml", _RELEASE + "group_vit_gcc_redcap_30e-3dd09a76.pth",
                 "nvidia/groupvit-gcc-redcaps"),
    )
}

# torch.hub's convention: "<name>-<first hex digits of the SHA-256>.<ext>".
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")


def hash_prefix_from_name(path):
    """The SHA-256 prefix a torch.hub-style file name carries, or None."""
    m = _HASH_IN_NAME.search(os.path.basename(path))
    return m.group(1) if m else None


def get_entry(name):
    """The ZooEntry for a zoo name ("gcc_yfcc_30e"), a config ("groupvit/gcc_yfcc_30e.yaml"), a
    release file name, or a Hugging Face name ("nvidia/groupvit-gcc-yfcc")."""
    key = name.strip()
    for entry in MODEL_ZOO.values():
        candidates = {entry.name, entry.config, "configs/" + entry.config, entry.config[: -len(".yaml")],
                      os.path.basename(entry.url), entry.hf_name}
        if key in candidates:
            return entry
    raise KeyError(
        f"No GroupViT model-zoo entry named {name!r}; known: {sorted(MODEL_ZOO)} "
        f"(or their configs / Hugging Face names {[e.hf_name for e in MODEL_ZOO.values()]})"
    )


def get_checkpoint_url(name, source="official"):
    """The download URL of a zoo entry: source "official" (release .pth) or "huggingface"."""
    entry = get_entry(name)
    if source == "official":
        return entry.url
    if source == "huggingface":
        return entry.hf_url
    raise ValueError(f"source must be 'official' or 'huggingface', got {source!r}")


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED = set()


def verify_hash_prefix(path, prefix, remove=False):
    """Raise CheckpointFormatError unless sha256(path) starts with `prefix`; with `remove` (a
    download in the cache) the bad file is deleted so that the next attempt fetches it again."""
    if (path, prefix) in _VERIFIED:
        return
    actual = sha256_of(path)
    if not actual.startswith(prefix):
        if remove:
            os.remove(path)
        raise CheckpointFormatError(
            f"{path}: SHA-256 {actual[: len(prefix)]}... does not match the expected prefix {prefix} (a corrupt or "
            f"incomplete download){'; the file was removed, fetch it again' if remove else ''}"
        )
    _VERIFIED.add((path, prefix))


def fetch_checkpoint(url, sha256_prefix=None, **kwargs):
    """Download (or reuse the cached copy of) `url` through PathManager; returns the local path.

    The SHA-256 prefix is `sha256_prefix` or, by default, the one a torch.hub-style file name
    carries. It is checked after download.
    """
    try:
        local = PathManager.get_local_path(url, **kwargs)
    except Exception as err:
        raise OSError(
            f"Could not download {url} ({type(err).__name__}: {err}). Without network access, download it "
            "elsewhere and set MODEL.WEIGHTS to the local file."
        ) from err
    prefix = sha256_prefix or hash_prefix_from_name(url)
    if prefix and os.path.isfile(local):
        verify_hash_prefix(local, prefix, remove=not os.path.exists(url))
    return local


class GroupViTZooHandler(PathHandler):
    """``groupvit://<zoo name | config | HF name>`` -> the downloaded, verified local file.

    An HF name also fetches its config.json next to the weights, so the architecture check in
    GroupViTCheckpointer sees it.
    """

    PREFIX = "groupvit://"

    def _get_supported_prefixes(self):
        return [self.PREFIX]

    def _get_local_path(self, path, **kwargs):
        name = path[len(self.PREFIX):]
        entry = get_entry(name)
        if name == entry.hf_name:
            weights = fetch_checkpoint(entry.hf_url, **kwargs)
            config_url = entry.hf_url.rsplit("/", 1)[0] + "/config.json"
            try:
                fetch_checkpoint(config_url, **kwargs)
            except OSError as err:
                logger.warning("%s", err)
            return weights
        return fetch_checkpoint(entry.url, entry.sha256_prefix, **kwargs)

    def _open(self, path, mode="r", **kwargs):
        return PathManager.open(self._get_local_path(path), mode, **kwargs)


def _register():
    if GroupViTZooHandler.PREFIX not in PathManager._path_handlers:
        PathManager.register_handler(GroupViTZooHandler())


_register()
