"""`train_net.py --eval-only` end to end: official layouts -> prepare scripts -> registered datasets
-> ZeroShotSemSegDatasetMapper -> model -> SemSegEvaluator -> one summary table."""
import logging
import math
import os

import numpy as np
import pytest
import torch
import torch.nn as nn
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import default_argument_parser
from detectron2.modeling import build_model
from PIL import Image

import train_net
from groupvit_d2.data.datasets.register_voc import VOC_CLASSES, register_all_voc
from groupvit_d2.data.datasets.sem_seg_catalog import register_sem_seg

from zero_shot_eval_utils import PERSON, TINY_CONFIG, make_eval_cfg


@pytest.fixture
def summary_lines():
    """Lines logged by the "groupvit_d2" logger while the test runs."""
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.extend(record.getMessage().splitlines())

    logger = logging.getLogger("groupvit_d2")
    handler, level = Collect(level=logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def _table_rows(lines):
    """{first cell: other cells} of the markdown table in `lines` (header and rule left out)."""
    table = [line for line in lines if line.startswith("|")]
    assert table, "no summary table was logged"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    return {row[0]: row[1:] for row in rows}


def _run_main(tmp_path, datasets, *opts):
    args = default_argument_parser().parse_args(
        ["--config-file", str(TINY_CONFIG), "--eval-only"]
        + ["MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0", "MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "identity"]
        + ["OUTPUT_DIR", str(tmp_path / "out"), "DATASETS.TEST", repr(tuple(datasets))]
        + list(opts)
    )
    return train_net.main(args)


def _label(path):
    return np.array(Image.open(path), dtype=np.int64)


def test_eval_only_all_layouts_one_table_row_per_dataset(
    benchmarks, tiny_weights, tmp_path, monkeypatch, summary_lines, resized_size
):
    seen = []
    build = train_net.Trainer.build_model.__func__

    def recording_build_model(cls, cfg):
        model = build(cls, cfg)
        model.register_forward_hook(lambda module, args, outputs: seen.extend(zip(args[0], outputs)))
        return model

    monkeypatch.setattr(train_net.Trainer, "build_model", classmethod(recording_build_model))
    short = ["voc21_val", "context459_val", "ade20k_847_val", "cityscapes_fine_val"]
    names = [benchmarks.name(s) for s in short]
    results = _run_main(tmp_path, names, "MODEL.WEIGHTS", tiny_weights)

    assert list(results) == names
    for name in names:
        miou = results[name]["sem_seg"]["mIoU"]
        assert 0.0 <= miou <= 100.0
    rows = _table_rows(summary_lines)
    assert list(rows) == names + ["mean"]
    assert all(len(cells) == 5 for cells in rows.values())
    # The boundary column is BoundaryIoUEvaluator's, off unless TEST.BOUNDARY_IOU.ENABLED.
    assert all(cells[4] == "-" for cells in rows.values())
    mean_miou = np.mean([results[n]["sem_seg"]["mIoU"] for n in names])
    assert float(rows["mean"][0]) == pytest.approx(mean_miou, abs=0.006)

    # Every image went through: grayscale, RGBA and 16-bit images and a 17x256 panorama (smaller
    # than the 64x64 window), each predicted at its original size.
    by_file = {os.path.basename(sample["file_name"]): (sample, out) for sample, out in seen}
    assert len(by_file) == 3 + 2 + 2 + 2
    for file, (sample, out) in by_file.items():
        with Image.open(sample["file_name"]) as im:
            width, height = im.size
        assert (sample["height"], sample["width"]) == (height, width)
        assert tuple(sample["image"].shape) == (3,) + resized_size(height, width), file
        assert sample["image"].dtype == torch.uint8
        num_classes = {n: c for n, c in zip(names, (21, 459, 847, 19))}[sample["dataset_name"]]
        assert tuple(out["sem_seg"].shape) == (num_classes, height, width), file
        torch.testing.assert_close(out["sem_seg"].sum(0), torch.ones(height, width))
    assert tuple(by_file["2007_000003.jpg"][0]["image"].shape) == (3, 17, 256)
    assert tuple(by_file["2007_000002.jpg"][0]["image"].shape) == (3, 96, 64)
    # The 16-bit grey image arrives as 8 bits, channel-replicated.
    grey = by_file["frankfurt_000000_000002_leftImg8bit.png"][0]["image"]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


class GroundTruthModel(nn.Module):
    """Predicts the ground truth (read from the sample's label file), optionally edited per file."""

    def __init__(self, edit=None):
        super().__init__()
        self.edit = edit or {}

    def forward(self, batched_inputs):
        outputs = []
        for x in batched_inputs:
            meta = MetadataCatalog.get(x["dataset_name"])
            label = _label(x["sem_seg_file_name"])
            label[label == meta.ignore_label] = 0  # ignored pixels do not count; any class will do
            stem = os.path.splitext(os.path.basename(x["file_name"]))[0]
            if stem in self.edit:
                label = self.edit[stem](label)
            scores = torch.zeros(len(meta.stuff_classes), *label.shape)
            scores.scatter_(0, torch.from_numpy(label)[None], 1.0)
            outputs.append({"sem_seg": scores})
        return outputs


def test_ground_truth_scores_100_miou(benchmarks, eval_cfg, tmp_path):
    names = [benchmarks.name(s) for s in ("voc21_val", "context459_val", "ade20k_847_val", "cityscapes_fine_val")]
    results = train_net.Trainer.test(eval_cfg(tmp_path, names), GroundTruthModel())
    for name in names:
        assert results[name]["sem_seg"]["mIoU"] == pytest.approx(100.0)
        assert results[name]["sem_seg"]["pACC"] == pytest.approx(100.0)


def test_wrong_prediction_scores_the_hand_computed_iou(benchmarks, eval_cfg, tmp_path):
    def widen_person(label):
        label = label.copy()
        label[:, 24:28] = PERSON  # 4 background columns of 2007_000001 become person
        return label

    name = benchmarks.name("voc21_val")
    model = GroundTruthModel(edit={"2007_000001": widen_person})
    res = train_net.Trainer.test(eval_cfg(tmp_path, [name]), model)["sem_seg"]

    # Counted from the labels in conftest.py (row 0 of 2007_000001 is ignored):
    # person: 31 rows x 24 columns = 744 true pixels, plus 31 x 4 = 124 wrongly predicted.
    # car: 24 x 32 = 768 pixels, all right.
    # background: 31 x 24 + 24 x 32 + 40 x 600 = 25512 true pixels, of which 124 are missed.
    iou_person = 744 / (744 + 124)
    iou_car = 1.0
    iou_background = (25512 - 124) / 25512
    assert res["IoU-person"] == pytest.approx(100 * iou_person)
    assert res["IoU-car"] == pytest.approx(100 * iou_car)
    assert res["IoU-background"] == pytest.approx(100 * iou_background)
    # Only classes present in the ground truth enter the mean.
    assert res["mIoU"] == pytest.approx(100 * (iou_person + iou_car + iou_background) / 3)
    assert res["pACC"] == pytest.approx(100 * (1 - 124 / (744 + 768 + 25512)))
    assert math.isnan(res["IoU-dog"])


def test_missing_dataset_names_expected_path_and_prepare_command(tmp_path, catalog_prefix):
    register_all_voc(str(tmp_path / "empty_root"), prefix=catalog_prefix)
    with pytest.raises(FileNotFoundError) as error:
        _run_main(tmp_path, [catalog_prefix + "voc21_val"], "TEST.ALLOW_RANDOM_WEIGHTS", "True")
    message = str(error.value)
    assert os.path.join(str(tmp_path / "empty_root"), "VOCdevkit", "VOC2012", "JPEGImages") in message
    assert "python datasets/prepare_voc.py" in message


@pytest.fixture(scope="module")
def tiny_model(tiny_weights, tmp_path_factory):
    cfg = make_eval_cfg(tmp_path_factory.mktemp("tiny"), (), "MODEL.WEIGHTS", tiny_weights)
    model = build_model(cfg)
    train_net.GroupViTCheckpointer(model).load(tiny_weights)
    return model.eval()


def _register_like_voc21(benchmarks, name, stuff_classes, image_root=None, sem_seg_root=None):
    meta = MetadataCatalog.get(benchmarks.name("voc21_val"))
    register_sem_seg(
        name,
        image_root or meta.image_root,
        sem_seg_root or meta.sem_seg_root,
        "python datasets/prepare_voc.py",
        stuff_classes=stuff_classes,
        ignore_label=255,
        background_threshold=0.95,
    )


def test_duplicate_class_names_warn_and_still_evaluate(benchmarks, tiny_model, eval_cfg, tmp_path, catalog_prefix):
    classes = ["background"] + list(VOC_CLASSES)
    classes[classes.index("car")] = "bus"
    _register_like_voc21(benchmarks, catalog_prefix + "dup", classes)
    with pytest.warns(UserWarning, match=r"duplicate class names.*'bus' \(classes \[5, 6\]\)"):
        res = train_net.Trainer.test(eval_cfg(tmp_path, [catalog_prefix + "dup"]), tiny_model)
    assert 0.0 <= res["sem_seg"]["mIoU"] <= 100.0


def test_empty_vocabulary_is_a_clear_error(benchmarks, tiny_model, eval_cfg, tmp_path, catalog_prefix):
    _register_like_voc21(benchmarks, catalog_prefix + "empty", [])
    with pytest.raises(ValueError, match=f"{catalog_prefix}empty.*no stuff_classes"):
        train_net.Trainer.test(eval_cfg(tmp_path, [catalog_prefix + "empty"]), tiny_model)


def test_label_of_another_size_than_its_image_is_a_clear_error(
    benchmarks, tiny_model, eval_cfg, tmp_path, catalog_prefix
):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(images / "a.jpg")
    Image.fromarray(np.zeros((30, 48), np.uint8)).save(labels / "a.png")
    _register_like_voc21(benchmarks, catalog_prefix + "bad", ["background"] + list(VOC_CLASSES),
                         str(images), str(labels))
    with pytest.raises(ValueError) as error:
        train_net.Trainer.test(eval_cfg(tmp_path, [catalog_prefix + "bad"]), tiny_model)
    message = str(error.value)
    assert str(labels / "a.png") in message and str(images / "a.jpg") in message
    assert "48x30" in message and "48x32" in message
    assert DatasetCatalog.get(catalog_prefix + "bad")  # the catalog itself was fine
