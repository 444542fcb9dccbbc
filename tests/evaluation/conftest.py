"""Session fixtures: the tiny benchmarks (see zero_shot_eval_utils.py), prepared and registered once,
and a checkpoint of a random tiny GroupViT."""
import os
import sys
import uuid
from types import SimpleNamespace

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

from groupvit_d2.data.datasets.register_ade20k_847 import register_all_ade20k_847
from groupvit_d2.data.datasets.register_cityscapes import register_all_cityscapes
from groupvit_d2.data.datasets.register_pascal_context import register_all_pascal_context
from groupvit_d2.data.datasets.register_voc import register_all_voc

# The test modules here share zero_shot_eval_utils.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zero_shot_eval_utils import (  # noqa: E402
    load_prepare,
    make_eval_cfg,
    resized_size as _resized_size,
    write_ade20k_847,
    write_cityscapes,
    write_pascal_context,
    write_voc,
)


@pytest.fixture(scope="session")
def benchmarks(tmp_path_factory):
    """Write, prepare and register every tiny benchmark. Yields an object with `root`, `prefix`,
    and `name(short)`: the registered name of e.g. "voc21_val"."""
    root = tmp_path_factory.mktemp("benchmarks")
    write_voc(root)
    write_pascal_context(root)
    write_ade20k_847(root)
    write_cityscapes(root)
    load_prepare("voc").main(str(root))
    load_prepare("pascal_context").main(str(root))
    load_prepare("ade20k_847").main(str(root))
    load_prepare("cityscapes").main(str(root))

    prefix = f"evaltest_{uuid.uuid4().hex[:8]}_"
    for register in (register_all_voc, register_all_pascal_context, register_all_ade20k_847, register_all_cityscapes):
        register(str(root), prefix=prefix)
    yield SimpleNamespace(root=root, prefix=prefix, name=lambda short: prefix + short)
    for name in [n for n in DatasetCatalog.list() if n.startswith(prefix)]:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.fixture
def catalog_prefix():
    """A unique dataset-name prefix; every name registered with it is removed afterwards."""
    prefix = f"evaltest_{uuid.uuid4().hex[:8]}_"
    yield prefix
    for name in [n for n in DatasetCatalog.list() if n.startswith(prefix)]:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A Detectron2 checkpoint of a randomly initialised tiny GroupViT (path to the .pth)."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = build_model(make_eval_cfg(folder, ()))
    DetectionCheckpointer(model, save_dir=str(folder)).save("tiny_random")
    return str(folder / "tiny_random.pth")


@pytest.fixture
def eval_cfg():
    """make_eval_cfg(output_dir, datasets, *opts)."""
    return make_eval_cfg


@pytest.fixture
def resized_size():
    """(height, width) -> the evaluation size of the tiny config."""
    return _resized_size


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here runs tiny models (see the root conftest's one_thread)."""
