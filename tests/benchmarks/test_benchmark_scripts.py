"""Smoke tests of the benchmark scripts on the tiny config: they run end to end and what they
compare is comparable (same outputs, well-formed batches, a working peak-memory probe). No timing
is asserted."""
import importlib.util
import mmap
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "configs", "groupvit", "tiny.yaml")

pytest.importorskip("transformers")


def _load(name):
    path = os.path.join(ROOT, "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_encoder_speed_runs_and_outputs_agree(capsys):
    rows = _load("encoder_speed").main(["--config", TINY, "--reps", "1", "--warmup", "0", "--device", "cpu",
                                        "--threads", "1"])
    assert [r[0] for r in rows] == ["a) 8 x 64 fp32", "b) 1 x 128 fp32"]
    for row in rows:
        assert float(row[1]) > 0 and float(row[3]) > 0
        assert float(row[-1]) < 1e-5  # same weights, same inputs: same image embeddings
    out = capsys.readouterr().out
    assert "HF's public API cannot embed 128x128 inputs" in out
    assert "torch " + torch.__version__ in out


def test_train_throughput_runs_every_row(capsys):
    rows = _load("train_throughput").main(["--archs", "tiny", "--reps", "1", "--warmup", "0", "--no-memory",
                                           "--tiny-batch", "4", "--device", "cpu", "--threads", "1"])
    assert [(r[0], r[1]) for r in rows] == [("tiny", "ours full"), ("tiny", "ours contrastive *"),
                                            ("tiny", "ours contrastive, bf16 autocast"), ("tiny", "HF contrastive")]
    assert all(float(r[4]) > 0 for r in rows)
    assert "batch 4 x 64px, context 32, K=3" in capsys.readouterr().out


def test_train_batch_is_clip_tokenized_like():
    from groupvit_d2.benchmarking import training as tt

    images, ids = tt.make_batch(batch=3, size=16, num_texts=4, context_length=12, seed=1)
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.uint8
    assert ids.shape == (3, 4, 12)
    assert (ids[..., 0] == tt.SOT).all()
    assert ((ids == tt.EOT).sum(-1) == 1).all()
    # The end token is the largest id (our text encoder pools at the argmax) with padding after it.
    end = ids.argmax(-1)
    assert (ids.gather(-1, end[..., None]) == tt.EOT).all()
    after = torch.arange(12) > end[..., None]
    assert (ids[after] == 0).all() and (ids[~after] > 0).all()
    inputs = tt.our_inputs(images, ids, num_labels=2)
    assert inputs[0]["text"].shape == (3, 12) and inputs[0]["label_mask"].tolist() == [True, True]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS reset is Linux-only")
def test_peak_rss_probe_sees_new_pages():
    from groupvit_d2.benchmarking import common as bu

    if not bu.reset_peak_rss():
        pytest.skip("/proc/self/clear_refs is not writable here")
    before = bu.status_kib("VmRSS")
    size = 64 * 2**20
    # Fresh anonymous pages, whatever the allocators have cached; touch one byte of each.
    pages = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        pages[offset] = 1
    peak = bu.status_kib("VmHWM")
    pages.close()
    assert 63 < (peak - before) / 1024 < 80
    # The mark keeps the peak after the pages are gone (the kernel's counters are approximate to
    # a few pages), until the next reset brings it back to the current resident set.
    assert (bu.status_kib("VmHWM") - bu.status_kib("VmRSS")) / 1024 > 60
    assert bu.reset_peak_rss()
    assert (bu.status_kib("VmHWM") - bu.status_kib("VmRSS")) / 1024 < 8


def test_onnx_speed_runs_and_agrees(capsys):
    pytest.importorskip("onnxruntime")
    rows = _load("onnx_speed").main(["--config", TINY, "--reps", "1", "--warmup", "0", "--threads", "1",
                                     "--sizes", "64x64,75x131", "--templates", "identity"])
    assert [r[0] for r in rows] == ["64x64 (1 win)", "75x131 (3 win)"]
    for row in rows:
        assert float(row[1]) > 0 and float(row[3]) > 0
        assert float(row[6]) < 1e-4 and row[8].startswith("yes")
    out = capsys.readouterr().out
    assert "cpu flags: avx2=" in out and "onnxruntime " in out and "torch/ort" in out
