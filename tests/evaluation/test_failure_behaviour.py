"""Evaluation refuses what would give wrong numbers, and checks a split before inference."""
import json

import numpy as np
import pytest
import torch
from detectron2.engine import default_argument_parser
from detectron2.modeling import build_model
from PIL import Image

import train_net
from groupvit_d2.data.datasets.sem_seg_catalog import register_sem_seg
from groupvit_d2.evaluation.split_check import SplitCheckError

from zero_shot_eval_utils import TINY_CONFIG, make_eval_cfg

CLASSES = ["background", "person", "car"]


def _label(seed, height=32, width=48):
    return np.random.default_rng(seed).integers(0, len(CLASSES), (height, width)).astype(np.uint8)


def _write_split(root, labels):
    """JPEG images and PNG labels for {stem: (H, W) uint8 label}; returns (images, labels) folders."""
    images, label_dir = root / "images", root / "labels"
    images.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    for stem, label in labels.items():
        pixels = np.random.default_rng(len(stem)).integers(0, 256, label.shape + (3,), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{stem}.jpg")
        Image.fromarray(label).save(label_dir / f"{stem}.png")
    return images, label_dir


def _register(name, images, labels):
    register_sem_seg(name, str(images), str(labels), "python datasets/prepare_x.py", stuff_classes=CLASSES,
                     ignore_label=255, background_threshold=0.95)


@pytest.fixture(scope="module")
def tiny_model(tiny_weights, tmp_path_factory):
    cfg = make_eval_cfg(tmp_path_factory.mktemp("tiny"), (), "MODEL.WEIGHTS", tiny_weights)
    model = build_model(cfg)
    train_net.GroupViTCheckpointer(model).load(tiny_weights)
    return model.eval()


def test_out_of_range_label_ids_are_an_error_naming_file_and_ids(tmp_path, catalog_prefix, tiny_model):
    bad = _label(1)
    bad[:4, :4] = 50
    images, labels = _write_split(tmp_path, {"a": _label(0), "b": bad})
    _register(catalog_prefix + "oor", images, labels)
    cfg = make_eval_cfg(tmp_path / "out", [catalog_prefix + "oor"])
    with pytest.raises(SplitCheckError, match=r"b\.png: label ids \[50\] are outside the 3 classes"):
        train_net.Trainer.test(cfg, tiny_model)
    # Without the pre-flight check, the evaluator refuses them too.
    cfg = make_eval_cfg(tmp_path / "out", [catalog_prefix + "oor"], "TEST.CHECK_SPLIT", "False")
    with pytest.raises(ValueError, match=r"b\.png holds ids \[50\] outside the 3 classes"):
        train_net.Trainer.test(cfg, tiny_model)


def test_ignored_out_of_range_ids_are_counted_and_score_like_ignore_pixels(tmp_path, catalog_prefix, tiny_model):
    with_50, with_255 = _label(1), _label(1)
    with_50[:4, :5] = 50
    with_255[:4, :5] = 255
    _register(catalog_prefix + "fifty", *_write_split(tmp_path / "fifty", {"a": _label(0), "b": with_50}))
    _register(catalog_prefix + "ignored", *_write_split(tmp_path / "ignored", {"a": _label(0), "b": with_255}))
    names = [catalog_prefix + "fifty", catalog_prefix + "ignored"]
    cfg = make_eval_cfg(tmp_path / "out", names, "TEST.OUT_OF_RANGE_LABELS", "ignore")
    results = train_net.Trainer.test(cfg, tiny_model)
    fifty, ignored = results[names[0]]["sem_seg"], results[names[1]]["sem_seg"]
    assert fifty.pop("out_of_range_label_pixels") == 20 and fifty.pop("out_of_range_label_files") == 1
    assert ignored.pop("out_of_range_label_pixels") == 0
    ignored.pop("out_of_range_label_files")
    assert fifty.keys() == ignored.keys()
    for key in fifty:
        assert fifty[key] == pytest.approx(ignored[key], nan_ok=True), key
    with open(tmp_path / "out" / "inference" / "results.json") as f:
        assert json.load(f)[names[0]]["sem_seg"]["out_of_range_label_pixels"] == 20


def test_eval_only_without_weights_is_refused_unless_asked(tmp_path, benchmarks):
    def args(*opts, resume=False):
        return default_argument_parser().parse_args(
            ["--config-file", str(TINY_CONFIG), "--eval-only"] + (["--resume"] if resume else [])
            + ["MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(tmp_path / "out"),
               "DATASETS.TEST", repr((benchmarks.name("voc21_val"),))] + list(opts))

    with pytest.raises(ValueError, match="randomly initialised model.*TEST.ALLOW_RANDOM_WEIGHTS True"):
        train_net.main(args())
    assert not (tmp_path / "out" / "inference" / "results.json").exists()

    cfg = train_net.setup(args("TEST.ALLOW_RANDOM_WEIGHTS", "True"))
    train_net.check_eval_weights(cfg, resume=False)  # asked for explicitly: allowed
    cfg = train_net.setup(args(resume=True))
    with pytest.raises(ValueError, match="randomly initialised"):
        train_net.check_eval_weights(cfg, resume=True)  # nothing to resume from
    (tmp_path / "out" / "last_checkpoint").write_text("model_final.pth")
    train_net.check_eval_weights(cfg, resume=True)


def test_every_bad_file_of_a_split_is_reported_before_inference(tmp_path, catalog_prefix, tiny_model, monkeypatch):
    out_of_range = _label(3)
    out_of_range[0, 0] = 13
    images, labels = _write_split(tmp_path, {"a": _label(0), "b": _label(1), "c": _label(2), "d": out_of_range,
                                             "e": _label(4)})
    data = (images / "a.jpg").read_bytes()
    (images / "a.jpg").write_bytes(data[: len(data) // 2])  # truncated image
    Image.fromarray(_label(1, 30, 48)).save(labels / "b.png")  # label of another size
    (labels / "c.png").write_bytes(b"not a png")  # unreadable label
    _register(catalog_prefix + "broken", images, labels)

    def no_inference(*args, **kwargs):
        raise AssertionError("inference started before the split was checked")

    monkeypatch.setattr("detectron2.engine.defaults.inference_on_dataset", no_inference)
    with pytest.raises(SplitCheckError) as info:
        train_net.Trainer.test(make_eval_cfg(tmp_path / "out", [catalog_prefix + "broken"]), tiny_model)
    message = str(info.value)
    assert "4 problem(s) in 5 records" in message
    assert f"{images / 'a.jpg'}: truncated" in message
    assert f"{labels / 'b.png'}: label map is 48x30 (WxH) but its image is 48x32" in message
    assert f"{labels / 'c.png'}: unreadable label map" in message
    assert f"{labels / 'd.png'}: label ids [13]" in message
    assert str(labels / "e.png") not in message and str(images / "e.jpg") not in message


def test_an_error_during_inference_names_the_file(tmp_path, catalog_prefix, tiny_model):
    images, labels = _write_split(tmp_path, {"a": _label(0), "b": _label(1)})
    data = (images / "b.jpg").read_bytes()
    (images / "b.jpg").write_bytes(data[: len(data) // 2])
    _register(catalog_prefix + "late", images, labels)
    cfg = make_eval_cfg(tmp_path / "out", [catalog_prefix + "late"], "TEST.CHECK_SPLIT", "False")
    with pytest.raises(OSError, match=f"Cannot read image {images / 'b.jpg'}: image file is truncated"):
        train_net.Trainer.test(cfg, tiny_model)


def test_a_model_error_names_the_batch_files(tmp_path, catalog_prefix):
    images, labels = _write_split(tmp_path, {"a": _label(0)})
    _register(catalog_prefix + "model_error", images, labels)

    class Failing(torch.nn.Module):
        def forward(self, inputs):
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory") as info:
        train_net.Trainer.test(make_eval_cfg(tmp_path / "out", [catalog_prefix + "model_error"]), Failing())
    assert f"while evaluating {images / 'a.jpg'}" in info.value.__notes__
