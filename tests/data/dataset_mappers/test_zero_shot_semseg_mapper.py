import logging

import cv2
import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import transforms as T
from detectron2.data.detection_utils import SizeMismatchError
from PIL import Image

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.dataset_mappers.zero_shot_semseg_mapper import ZeroShotSemSegDatasetMapper

LOGGER = "groupvit_d2.data.dataset_mappers.image_reader"


def _no_resize_mapper(**kwargs):
    return ZeroShotSemSegDatasetMapper(augmentations=[], dataset_name="d", **kwargs)


def _cfg_mapper(dataset_name="some_val", load_sem_seg=False):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.INPUT.TEST_LOAD_SEM_SEG = load_sem_seg
    return ZeroShotSemSegDatasetMapper(cfg, False, dataset_name)


def _official_size(h, w, scale=(2048, 448)):
    """mmcv.imrescale's size rule (what mmseg's Resize(keep_ratio=True) calls), as (h, w)."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(h, w), short_edge / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


def _run(mapper, path, **record):
    return mapper({"file_name": str(path), **record})


def _assert_rgb_uint8(out, expected_hwc):
    image = out["image"]
    assert image.dtype == torch.uint8 and image.shape[0] == 3
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), expected_hwc)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.array([[0, 17, 255], [128, 3, 90]], np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = _run(_no_resize_mapper(), tmp_path / "g.png")
    _assert_rgb_uint8(out, np.repeat(gray[:, :, None], 3, axis=2))
    assert (out["height"], out["width"]) == (2, 3)


def test_palette_image_uses_its_palette(tmp_path):
    im = Image.fromarray(np.array([[0, 1]], np.uint8), mode="P")
    im.putpalette([10, 20, 30, 40, 50, 60])
    im.save(tmp_path / "p.png")
    _assert_rgb_uint8(_run(_no_resize_mapper(), tmp_path / "p.png"), [[[10, 20, 30], [40, 50, 60]]])


def test_rgba_drops_alpha_and_warns_once(tmp_path, caplog):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 0
    Image.fromarray(rgba).save(tmp_path / "a.png")
    mapper = _no_resize_mapper()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = _run(mapper, tmp_path / "a.png")
        _run(mapper, tmp_path / "a.png")
    # Alpha 0 would make a composite black; the colour values must survive unchanged.
    _assert_rgb_uint8(out, np.broadcast_to([200, 100, 50], (2, 2, 3)))
    warnings = [r for r in caplog.records if "alpha" in r.getMessage()]
    assert len(warnings) == 1 and "a.png" in warnings[0].getMessage()


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path, caplog):
    values = np.array([[0, 257, 1000], [32896, 65280, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = _run(_no_resize_mapper(), tmp_path / "g16.png")
    # value >> 8: 257 -> 1, 1000 -> 3, 32896 -> 128, 65280 -> 255, 65535 -> 255.
    expected = np.array([[0, 1, 3], [128, 255, 255]], np.uint8)
    _assert_rgb_uint8(out, np.repeat(expected[:, :, None], 3, axis=2))
    assert any("16-bit" in r.getMessage() for r in caplog.records)


def test_16bit_colour_png(tmp_path, caplog):
    rgb16 = np.zeros((1, 2, 3), np.uint16)
    rgb16[0, 0] = (257 * 200, 257 * 10, 65535)
    rgb16[0, 1] = (256 * 7 + 255, 0, 256)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[:, :, ::-1])  # OpenCV writes BGR
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = _run(_no_resize_mapper(), tmp_path / "c16.png")
    _assert_rgb_uint8(out, [[[200, 10, 255], [7, 0, 1]]])
    assert any("16 bits" in r.getMessage() for r in caplog.records)


def test_cmyk_is_converted(tmp_path):
    cmyk = np.array([[[0, 0, 0, 0], [0, 255, 0, 0], [255, 0, 0, 0], [0, 0, 0, 102]]], np.uint8)
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.tif")
    # R = (255 - C)(255 - K) / 255, etc.: white, magenta, cyan, grey 153.
    expected = [[[255, 255, 255], [255, 0, 255], [0, 255, 255], [153, 153, 153]]]
    _assert_rgb_uint8(_run(_no_resize_mapper(), tmp_path / "c.tif"), expected)


def test_float_image_is_refused(tmp_path):
    Image.fromarray(np.zeros((2, 2), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ValueError, match="f.tif"):
        _run(_no_resize_mapper(), tmp_path / "f.tif")


@pytest.mark.parametrize(
    "height, width, expected",
    [
        # 448 / 375 binds: 500 * 448 / 375 = 597.33 -> 597.
        (375, 500, (448, 597)),
        # 2048 / 3000 binds: 400 * 2048 / 3000 = 273.07 -> 273.
        (400, 3000, (273, 2048)),
        # Portrait: short side 333 -> 448, long side 500 * 448 / 333 = 672.67 -> 673.
        (500, 333, (673, 448)),
        # Cityscapes: 448 / 1024 binds: 2048 * 0.4375 = 896.
        (1024, 2048, (448, 896)),
        # Small image: upscaled, 100 * 448 / 60 = 746.67 -> 747.
        (60, 100, (448, 747)),
    ],
)
def test_resize_follows_the_official_rule(tmp_path, height, width, expected):
    assert _official_size(height, width) == expected
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(tmp_path / "x.png")
    out = _run(_cfg_mapper(), tmp_path / "x.png")
    assert tuple(out["image"].shape) == (3,) + expected
    assert (out["height"], out["width"]) == (height, width)


def test_resize_rule_matches_mmcv_on_many_sizes():
    for h in range(1, 1500, 7):
        for w in (1, 13, 200, 448, 449, 1000, 2047, 2048, 3001, 5000, h, 3 * h + 1):
            assert T.ResizeShortestEdge.get_output_shape(h, w, 448, 2048) == _official_size(h, w)


def test_resampling_matches_opencv_bilinear_when_shrinking(tmp_path):
    # Sharp content, where an anti-aliasing filter (Pillow) and INTER_LINEAR (mmcv) differ most.
    rng = np.random.default_rng(0)
    image = (rng.integers(0, 2, (1100, 1400, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "big.png")
    out = _run(_cfg_mapper(), tmp_path / "big.png")
    h, w = _official_size(1100, 1400)
    reference = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR).astype(int)
    got = out["image"].permute(1, 2, 0).numpy().astype(int)
    assert got.shape == reference.shape
    assert np.abs(got - reference).max() <= 1


def test_output_fields_and_dataset_name(tmp_path):
    Image.fromarray(np.zeros((448, 500, 3), np.uint8)).save(tmp_path / "x.png")
    Image.fromarray(np.zeros((448, 500), np.uint8)).save(tmp_path / "x_label.png")
    record = {
        "file_name": str(tmp_path / "x.png"),
        "sem_seg_file_name": str(tmp_path / "x_label.png"),
    }
    out = _cfg_mapper("ade20k_150_val")(record)
    assert out["dataset_name"] == "ade20k_150_val"
    assert out["file_name"] == record["file_name"]
    assert "sem_seg" not in out  # off by default: the evaluator reads the label file
    assert "image" not in record  # the input record is not modified
    # Without a dataset name the key stays absent: the model then uses its configured vocabulary.
    assert "dataset_name" not in _cfg_mapper(None)(record)
    with pytest.raises(ValueError, match="test-time"):
        ZeroShotSemSegDatasetMapper(get_cfg(), True)


def test_sem_seg_is_the_original_label_when_asked(tmp_path):
    Image.fromarray(np.zeros((3, 700, 3), np.uint8)).save(tmp_path / "x.png")
    label = np.zeros((3, 700), np.uint16)
    label[0, :3] = (5, 846, 65535)
    Image.fromarray(label).save(tmp_path / "x_label.png")
    out = _cfg_mapper(load_sem_seg=True)(
        {"file_name": str(tmp_path / "x.png"), "sem_seg_file_name": str(tmp_path / "x_label.png")}
    )
    assert out["sem_seg"].dtype == torch.int64
    assert tuple(out["sem_seg"].shape) == (3, 700)  # not resized
    assert out["sem_seg"][0, :3].tolist() == [5, 846, 65535]
    # The image is resized: 2048 / 700 binds, 3 * 2048 / 700 = 8.78 -> 9.
    assert tuple(out["image"].shape) == (3, 9, 2048)


def test_label_of_other_size_names_both_files(tmp_path):
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "img.png")
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(tmp_path / "lab.png")
    record = {
        "file_name": str(tmp_path / "img.png"),
        "sem_seg_file_name": str(tmp_path / "lab.png"),
    }
    with pytest.raises(ValueError) as err:
        _no_resize_mapper()(record)
    message = str(err.value)
    assert "img.png" in message and "lab.png" in message
    assert "5x4" in message and "6x4" in message


def test_record_size_disagreeing_with_image_is_an_error(tmp_path):
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "img.png")
    with pytest.raises(SizeMismatchError):
        _run(_no_resize_mapper(), tmp_path / "img.png", height=5, width=6)
