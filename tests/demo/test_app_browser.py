"""demo/app.py in a real browser: headless Chromium opens the page, uploads an image, submits a
vocabulary and reads the result (skipped where Chromium, its driver, Selenium or Gradio is missing)."""
import importlib.util
import pathlib
import socket

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]

pytest.importorskip("gradio")
pytest.importorskip("selenium")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


browser = _load("screenshot_app", REPO / "tools" / "screenshot_app.py")
if browser.find_browser() is None:
    pytest.skip("Chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)",
                allow_module_level=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def page_url():
    app_module = _load("groupvit_app_browser", REPO / "demo" / "app.py")
    app = app_module.SegmentationApp(app_module.checkpoint_choices(), "")
    app.default_choice = lambda: app_module.TINY_RANDOM  # never the main job's file, trained or not
    port = _free_port()
    page = app_module.serve(app, "127.0.0.1", port, block=False)
    url = f"http://127.0.0.1:{port}/"
    try:
        browser.wait_for_page(url, timeout=60)
        yield url
    finally:
        page.close()


def test_upload_segment_and_read_the_result(page_url, tmp_path):
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(image)
    (tmp_path / "notes.png").write_text("not an image")
    driver = browser.open_browser()
    try:
        message = browser.submit(driver, page_url, image, "ball; box, boxes; tree", background=True)
        assert message.startswith("Segmented 80x60 px with tiny (random weights) into 3 classes and background")
        rows = browser.area_table(driver)
        assert sorted(r[0] for r in rows) == ["background", "ball", "box", "tree"]
        assert sum(int(r[2]) for r in rows) == 80 * 60
        assert ["box, boxes"] == [r[1] for r in rows if r[0] == "box"]
        # The overlay arrived as a picture in the page.
        assert driver.find_elements("css selector", "#overlay img")

        assert "Error: Vocabulary names no class" in browser.submit(driver, page_url, image, " ")
        assert "Could not read notes.png as an image" in browser.submit(driver, page_url, tmp_path / "notes.png",
                                                                        "ball; tree")
    finally:
        driver.quit()
