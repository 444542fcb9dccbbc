"""Model zoo names, downloads through PathManager with hash checks, and the groupvit:// paths."""
import functools
import hashlib
import http.server
import os
import socket
import threading

import pytest
from detectron2.utils.file_io import PathManager

from groupvit_d2.checkpoint import CheckpointFormatError, model_zoo
from groupvit_d2.checkpoint.model_zoo import MODEL_ZOO, fetch_checkpoint, get_checkpoint_url, get_entry


def test_release_entries():
    yfcc, redcap = MODEL_ZOO["gcc_yfcc_30e"], MODEL_ZOO["gcc_redcap_30e"]
    assert yfcc.url.endswith("/group_vit_gcc_yfcc_30e-879422e0.pth") and yfcc.sha256_prefix == "879422e0"
    assert redcap.url.endswith("/group_vit_gcc_redcap_30e-3dd09a76.pth") and redcap.sha256_prefix == "3dd09a76"
    assert (yfcc.hf_name, redcap.hf_name) == ("nvidia/groupvit-gcc-yfcc", "nvidia/groupvit-gcc-redcaps")
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for entry in MODEL_ZOO.values():
        assert os.path.isfile(os.path.join(repo_root, "configs", entry.config)), entry.config


@pytest.mark.parametrize("name", ["gcc_yfcc_30e", "groupvit/gcc_yfcc_30e.yaml", "configs/groupvit/gcc_yfcc_30e.yaml",
                                  "group_vit_gcc_yfcc_30e-879422e0.pth", "nvidia/groupvit-gcc-yfcc"])
def test_get_entry_by_any_name(name):
    assert get_entry(name) is MODEL_ZOO["gcc_yfcc_30e"]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="gcc_redcap_30e"):
        get_entry("group_vit_cc3m")
    assert get_checkpoint_url("gcc_redcap_30e", "huggingface") == (
        "https://huggingface.co/nvidia/groupvit-gcc-redcaps/resolve/main/pytorch_model.bin")


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server over a folder: (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _serve(root, stem, data, prefix=None):
    prefix = prefix or hashlib.sha256(data).hexdigest()[:8]
    name = f"{stem}-{prefix}.pth"
    (root / name).write_bytes(data)
    return name


def test_download_is_cached_and_hash_checked(http_root, tmp_path):
    root, base = http_root
    data = os.urandom(4096)
    name = _serve(root, "weights", data)
    local = fetch_checkpoint(f"{base}/{name}", cache_dir=str(tmp_path / "cache"))
    assert open(local, "rb").read() == data
    assert local.startswith(str(tmp_path / "cache"))


def test_download_with_wrong_hash_is_refused_and_removed(http_root, tmp_path):
    root, base = http_root
    name = _serve(root, "weights", os.urandom(4096), prefix="00000000")
    with pytest.raises(CheckpointFormatError, match="does not match the expected prefix 00000000") as info:
        fetch_checkpoint(f"{base}/{name}", cache_dir=str(tmp_path / "cache"))
    assert not os.path.exists(str(info.value).split(":")[0])


def test_offline_download_fails_with_a_clear_message(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/group_vit_gcc_yfcc_30e-879422e0.pth"
    with pytest.raises(OSError, match="Could not download .*879422e0.pth.*MODEL.WEIGHTS to the local file"):
        fetch_checkpoint(url, cache_dir=str(tmp_path / "cache"))


def test_groupvit_paths_resolve_to_the_release(monkeypatch):
    calls = []
    monkeypatch.setattr(model_zoo, "fetch_checkpoint",
                        lambda url, prefix=None, **kw: calls.append((url, prefix)) or "/x")
    assert PathManager.get_local_path("groupvit://gcc_redcap_30e") == "/x"
    assert calls == [(MODEL_ZOO["gcc_redcap_30e"].url, "3dd09a76")]
    calls.clear()
    PathManager.get_local_path("groupvit://nvidia/groupvit-gcc-yfcc")
    assert [c[0].rsplit("/", 1)[1] for c in calls] == ["pytorch_model.bin", "config.json"]
