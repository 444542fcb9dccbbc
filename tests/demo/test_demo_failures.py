"""demo/demo.py: one bad file does not stop the others, warnings reach the user, colours are stable."""
import os
import pathlib
import subprocess
import sys

import numpy as np
from detectron2.data.catalog import Metadata
from PIL import Image

from groupvit_d2.utils.visualization import draw_semantic_segmentation, stable_class_colors

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_bad_files_are_reported_at_the_end_and_warnings_shown(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(folder / "a.jpg")
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.fromarray(rng.integers(0, 65535, (30, 40), dtype=np.uint16)).save(folder / "c.png")  # 16-bit
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(folder / "d.jpg")
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "demo" / "demo.py"), "--config-file", str(REPO / "configs/groupvit/tiny.yaml"),
           "--input", str(folder), "--vocabulary", "ball,box", "--output", str(out),
           "--opts", "MODEL.DEVICE", "cpu", "MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "identity"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log[-3000:]
    # Every good file was processed, including those after the bad one.
    assert sorted(p.name for p in out.glob("*_seg.png")) == ["a_seg.png", "c_seg.png", "d_seg.png"]
    assert f"1 of 4 image(s) failed:\n  {folder / 'b.jpg'}: " in proc.stderr
    assert "Wrote 9 pictures for 3 image(s)" in proc.stdout
    # Warnings reach the user: the deprecated comma-only vocabulary (a Python warning) and the
    # 16-bit input. (A duplicate class name is an error, named before any image is read.)
    assert "has commas but no ';'" in log
    assert "16-bit" in log


def test_class_colours_are_stable_and_distinct(monkeypatch):
    names = ["background", "ball", "box", "tree", "house", "fish", "star"]
    colours = stable_class_colors(names)
    assert len({tuple(c) for c in colours}) == len(names)
    # Python's per-process string hashing plays no part: a different hash() gives the same colours.
    monkeypatch.setattr("builtins.hash", lambda value: 12345)
    assert stable_class_colors(names) == colours
    # A name's colour does not depend on the classes after it.
    assert stable_class_colors(names[:3]) == colours[:3]


def test_overlays_do_not_change_between_draws_and_use_dataset_colours():
    image = np.full((20, 30, 3), 128, np.uint8)
    labels = np.zeros((20, 30), np.int64)
    labels[:, 15:] = 1
    meta = Metadata(name="x", stuff_classes=["sky", "grass"])
    np.random.seed(1)
    first = draw_semantic_segmentation(image, labels, meta)
    np.random.seed(2)
    assert np.array_equal(draw_semantic_segmentation(image, labels, meta), first)
    # Dataset colours win where the metadata has them.
    given = Metadata(name="y", stuff_classes=["sky", "grass"], stuff_colors=[[255, 0, 0], [0, 0, 255]])
    drawn = draw_semantic_segmentation(image, labels, given, alpha=1.0)
    assert drawn[10, 3, 0] > drawn[10, 3, 2] and drawn[10, 27, 2] > drawn[10, 27, 0]
