import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture
def one_thread():
    """Tiny models: one intra-op thread is much faster than two fighting over 2 busy cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_cfg():
    """The tiny GroupViT config (configs/groupvit/tiny.yaml) on CPU."""
    from detectron2.config import get_cfg

    from groupvit_d2 import add_groupvit_config

    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(ROOT, "configs", "groupvit", "tiny.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    return cfg


@pytest.fixture(scope="session", autouse=True)
def _class_embedding_cache_of_the_session(tmp_path_factory):
    """Models built by module- or session-scoped fixtures (before any per-test setting) write their
    class embeddings under the session's temporary folder, never into the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GROUPVIT_D2_CACHE_DIR", str(tmp_path_factory.mktemp("session_class_embedding_cache")))
        yield


@pytest.fixture(autouse=True)
def _class_embedding_cache_per_test(tmp_path_factory, monkeypatch):
    """Each test gets its own on-disk class-embedding cache: tests that count text encodings must
    not hit entries another test wrote with the same seeded weights, nor the user's cache."""
    monkeypatch.setenv("GROUPVIT_D2_CACHE_DIR", str(tmp_path_factory.mktemp("class_embedding_cache")))
