"""demo/app.py without a browser: what one request returns, and bad input as a message."""
import importlib.util
import pathlib

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app_module():
    spec = importlib.util.spec_from_file_location("groupvit_app", REPO / "demo" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def app(app_module):
    return app_module.SegmentationApp(app_module.checkpoint_choices(), str(REPO / "configs" / "groupvit" / "tiny.yaml"))


def _write(path, height, width):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_checkpoint_choices(app_module, tmp_path):
    choices = app_module.checkpoint_choices([("mine", "cfg.yaml", str(tmp_path / "m.pth"))])
    released = str(REPO / "configs" / "groupvit" / "gcc_yfcc_30e.yaml")
    assert choices["gcc_yfcc_30e"] == (released, "groupvit://gcc_yfcc_30e")
    assert choices[app_module.MAIN_JOB][1] == str(REPO / "output" / "demo" / "model_final.pth")
    assert choices[app_module.TINY_RANDOM][1] == "" and choices["mine"] == ("cfg.yaml", str(tmp_path / "m.pth"))


def test_segments_draws_and_tabulates(app, app_module, tmp_path):
    path = _write(tmp_path / "street.png", 50, 70)
    overlay, stage1, stage2, rows, message = app.handle(path, "ball; box, boxes; tree", app_module.TINY_RANDOM,
                                                        True, 0.5)
    assert overlay.shape == stage1.shape == stage2.shape == (50, 70, 3) and overlay.dtype == np.uint8
    assert sorted(r[0] for r in rows) == ["background", "ball", "box", "tree"]
    assert sum(r[2] for r in rows) == 50 * 70 and abs(sum(r[3] for r in rows) - 100) < 0.05
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    assert next(r for r in rows if r[0] == "box")[1] == "box, boxes"
    assert message.startswith("Segmented 70x50 px with tiny (random weights) into 3 classes and background")
    assert "embeddings computed" in message
    # The model is loaded once; the same vocabulary reuses its class embeddings.
    predictor = app.predictors[app_module.TINY_RANDOM]
    *_, again = app.handle(path, "ball; box, boxes; tree", app_module.TINY_RANDOM, False, 0.5)
    assert "embeddings from the cache" in again and app.predictors[app_module.TINY_RANDOM] is predictor


def test_comma_only_vocabulary_works_with_a_note(app, app_module, tmp_path):
    *_, rows, message = app.handle(_write(tmp_path / "a.png", 40, 40), "ball, tree", app_module.TINY_RANDOM, False, 0.9)
    assert sorted(r[0] for r in rows) == ["ball", "tree"]
    assert "Note:" in message and "comma-only form" in message


@pytest.mark.parametrize("case, message", [
    ("no image", "Upload an image first"),
    ("empty vocabulary", "Vocabulary names no class"),
    ("duplicate", "'Ball' appears in classes 1 and 2"),
    ("too small", "tiny.png is 20x12 pixels; the demo needs at least 32 pixels a side"),
    ("unreadable", "Could not read notes.png as an image"),
    ("missing checkpoint", "no such file"),
    ("main job not trained", "Run tools/demo_job.py"),
    ("threshold", "background threshold must be in [0, 1]"),
])
def test_bad_input_is_a_message(app, app_module, tmp_path, case, message):
    image = _write(tmp_path / "ok.png", 40, 40)
    args = {"path": image, "vocabulary": "ball; tree", "choice": app_module.TINY_RANDOM, "background": False,
            "threshold": 0.9}
    if case == "no image":
        args["path"] = None
    elif case == "empty vocabulary":
        args["vocabulary"] = "  "
    elif case == "duplicate":
        args["vocabulary"] = "ball; Ball"
    elif case == "too small":
        args["path"] = _write(tmp_path / "tiny.png", 12, 20)
    elif case == "unreadable":
        (tmp_path / "notes.png").write_text("not an image")
        args["path"] = str(tmp_path / "notes.png")
    elif case == "missing checkpoint":
        args["choice"] = str(tmp_path / "nothing.pth")
    elif case == "main job not trained":
        app = app_module.SegmentationApp({app_module.MAIN_JOB: ("x.yaml", str(tmp_path / "model_final.pth"))}, "")
        args["choice"] = app_module.MAIN_JOB
    else:
        args.update(background=True, threshold=1.5)
    overlay, stage1, stage2, rows, text = app.handle(*args.values())
    assert overlay is None and rows == []
    assert text.startswith("**Error:**") and message in text
