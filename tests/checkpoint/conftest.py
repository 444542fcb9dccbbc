import os
import sys

import pytest
import torch
from detectron2.modeling import build_model

# The test modules here share checkpoint_test_utils.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from checkpoint_test_utils import randomize_  # noqa: E402


@pytest.fixture
def tiny_model(tiny_cfg):
    """Our tiny GroupViT (configs/groupvit/tiny.yaml), randomly initialised, eval mode."""
    torch.manual_seed(0)
    model = build_model(tiny_cfg).eval()
    randomize_(model, seed=1)
    return model


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here runs small models (see the root conftest's one_thread)."""
