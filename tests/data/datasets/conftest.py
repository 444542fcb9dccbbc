import importlib.util
import pathlib
import uuid

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

_REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def load_prepare():
    """Import datasets/prepare_<name>.py (a script folder, not a package) as a module."""

    def load(name):
        path = _REPO / "datasets" / f"prepare_{name}.py"
        spec = importlib.util.spec_from_file_location(f"prepare_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def catalog_prefix():
    """A unique dataset-name prefix; every name registered with it is removed afterwards."""
    prefix = f"test_{uuid.uuid4().hex[:8]}_"
    yield prefix
    for name in [n for n in DatasetCatalog.list() if n.startswith(prefix)]:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.fixture
def write_jpeg():
    def write(path, height, width, seed=0):
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        return path

    return write
