"""Class embeddings kept on disk between processes.

Embedding a large vocabulary with the full template set takes minutes on a CPU (ADE-847 with 80
templates: about 68k prompts), and every evaluation process used to pay it again. An entry is
keyed by everything its embeddings depend on: a fingerprint of the text tower (its weights, module
structure and hyperparameters, the tokenizer) and the exact prompts in class order (so another
name order, synonym or template set is another entry). Entries are safetensors files (no code runs
when one is read), written to a temporary file and renamed into place, so a crash never leaves a
half-written entry under an entry's name.

    python -m groupvit_d2.modeling.core.embedding_cache --clear [--dir DIR]

empties the cache (the default folder, or DIR).
"""
import argparse
import glob
import hashlib
import json
import logging
import os
import tempfile
import warnings
from typing import Iterable, List, Optional, Sequence, Tuple

import torch

__all__ = [
    "CACHE_DIR_ENV",
    "ClassEmbeddingStore",
    "clear_cache",
    "default_cache_dir",
    "prompts_key",
    "text_tower_fingerprint",
]

CACHE_DIR_ENV = "GROUPVIT_D2_CACHE_DIR"
_SUBDIR = "class_embeddings"
_SUFFIX = ".safetensors"
_FORMAT = "groupvit_d2 class embeddings v1"

logger = logging.getLogger(__name__)


def default_cache_dir() -> str:
    """$GROUPVIT_D2_CACHE_DIR when set, else ~/.cache/groupvit_d2 (under $XDG_CACHE_HOME when set)."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return os.path.expanduser(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "groupvit_d2")


def _module_description(module: torch.nn.Module) -> List[str]:
    # The structure and hyperparameters that shape the output but not the state dict (heads,
    # activation types, norm epsilons, context length).
    lines = []
    for name, sub in module.named_modules():
        simple = {k: v for k, v in sorted(vars(sub).items())
                  if not k.startswith("_") and k != "training" and isinstance(v, (bool, int, float, str, tuple))}
        lines.append(f"{name}:{type(sub).__module__}.{type(sub).__qualname__}({sub.extra_repr()}){simple}")
    return lines


def text_tower_fingerprint(modules: Sequence[torch.nn.Module], extra: str = "") -> str:
    """sha256 hex digest of the modules that turn token ids into text embeddings: every state-dict
    entry (name, dtype, shape, bytes), the modules' structure and hyperparameters, and `extra`
    (e.g. the tokenizer's description)."""
    digest = hashlib.sha256()
    digest.update(extra.encode())
    for index, module in enumerate(modules):
        digest.update(f"\n#module {index}\n".encode())
        digest.update("\n".join(_module_description(module)).encode())
        for name, tensor in sorted(module.state_dict().items()):
            tensor = tensor.detach()
            digest.update(f"\n{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            flat = tensor.reshape(-1).contiguous().cpu()
            if flat.numel():
                digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def prompts_key(fingerprint: str, prompts: Iterable[Tuple[int, str]]) -> str:
    """The entry name of class embeddings: sha256 of the text tower's fingerprint and every
    (class index, prompt) pair in order."""
    digest = hashlib.sha256(f"{_FORMAT}\n{fingerprint}\n".encode())
    digest.update(json.dumps(list(prompts), ensure_ascii=False).encode())
    return digest.hexdigest()


class ClassEmbeddingStore:
    """A folder of class-embedding entries (`<root>/class_embeddings/<key>.safetensors`).

    Reading or writing failures never stop an evaluation: an unreadable entry is a miss (and is
    replaced by the next write), a failed write leaves the cache as it was. Both warn.
    """

    def __init__(self, root: Optional[str] = None):
        self.root = os.path.expanduser(root) if root else default_cache_dir()
        self.folder = os.path.join(self.root, _SUBDIR)

    def __repr__(self):
        return f"ClassEmbeddingStore({self.root!r})"

    def path(self, key: str) -> str:
        return os.path.join(self.folder, key + _SUFFIX)

    def load(self, key: str, num_classes: int) -> Optional[torch.Tensor]:
        """The (num_classes, D) float32 embeddings of entry `key`, or None when there is none (or
        it cannot be read, or holds another number of classes)."""
        path = self.path(key)
        if not os.path.isfile(path):
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(path)
        except (OSError, SafetensorError) as error:
            warnings.warn(f"class-embedding cache: cannot read {path} ({error}); embedding the classes again")
            return None
        emb = tensors.get("embeddings")
        if emb is None or emb.dim() != 2 or emb.shape[0] != num_classes or not emb.is_floating_point():
            shape = None if emb is None else tuple(emb.shape)
            warnings.warn(f"class-embedding cache: {path} holds embeddings of shape {shape}, expected "
                          f"({num_classes}, D); embedding the classes again")
            return None
        return emb.float()

    def save(self, key: str, embeddings: torch.Tensor) -> Optional[str]:
        """Write entry `key` atomically: a temporary file in the same folder, renamed into place.
        Returns the entry's path, or None (with a warning) when it could not be written."""
        from safetensors.torch import save_file

        path = self.path(key)
        tmp = None
        try:
            os.makedirs(self.folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.folder)
            os.close(fd)
            save_file({"embeddings": embeddings.detach().float().cpu().contiguous()}, tmp,
                      metadata={"format": _FORMAT})
            os.replace(tmp, path)
            tmp = None
        except OSError as error:
            warnings.warn(f"class-embedding cache: cannot write {path} ({error}); continuing without it")
            return None
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.remove(tmp)
        return path

    def entries(self) -> List[str]:
        return sorted(glob.glob(os.path.join(self.folder, "*" + _SUFFIX)))

    def clear(self) -> int:
        """Delete every entry (and temporary files left by killed writers); returns how many
        entries were deleted."""
        removed = 0
        for path in self.entries():
            os.remove(path)
            removed += 1
        for path in glob.glob(os.path.join(self.folder, ".*.tmp")):
            os.remove(path)
        return removed


def clear_cache(root: Optional[str] = None) -> int:
    """Empty the class-embedding cache under `root` (default: default_cache_dir()); returns how
    many entries were deleted."""
    return ClassEmbeddingStore(root).clear()


def main(argv=None):
    parser = argparse.ArgumentParser(description="The on-disk class-embedding cache of groupvit_d2.")
    parser.add_argument("--dir", default=None, help=f"cache folder (default: ${CACHE_DIR_ENV}, else "
                        "~/.cache/groupvit_d2)")
    parser.add_argument("--clear", action="store_true", help="delete every entry")
    args = parser.parse_args(argv)
    store = ClassEmbeddingStore(args.dir)
    if args.clear:
        print(f"deleted {store.clear()} class-embedding entries from {store.folder}")
    else:
        entries = store.entries()
        size = sum(os.path.getsize(p) for p in entries)
        print(f"{store.folder}: {len(entries)} entries, {size / 2 ** 20:.1f} MiB")


if __name__ == "__main__":
    main()
