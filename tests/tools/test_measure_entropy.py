"""tools/measure_entropy.py: the thesis quantities of a model on a labelled split."""
import importlib.util
import math
import os

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model
from PIL import Image

from groupvit_d2.modeling.groupvit.losses.entropy import entropy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "_test_measure_entropy_split"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("measure_entropy", os.path.join(ROOT, "tools", "measure_entropy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def split(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    # Label maps: 0 background, 1 ball, 2 box, 255 ignore.
    for i, values in enumerate([(0, 2, 255), (0, 1, 2), (0, 1), (0,)]):
        image = tmp_path / f"{i}.jpg"
        label = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(image)
        arr = np.full((80, 96), values[0], dtype=np.uint8)
        for j, v in enumerate(values[1:]):
            arr[:, 20 + 30 * j: 40 + 30 * j] = v
        Image.fromarray(arr).save(label)
        records.append({"file_name": str(image), "sem_seg_file_name": str(label), "height": 80, "width": 96})
    if NAME in DatasetCatalog.list():
        DatasetCatalog.remove(NAME)
        MetadataCatalog.remove(NAME)
    DatasetCatalog.register(NAME, lambda: records)
    MetadataCatalog.get(NAME).set(stuff_classes=["background", "ball", "box"], ignore_label=255,
                                  background_threshold=0.95, evaluator_type="sem_seg")
    yield records
    DatasetCatalog.remove(NAME)
    MetadataCatalog.remove(NAME)


def test_labels_are_the_classes_in_the_crop(tool, split):
    image, ids = tool.load_sample(split[0], 64, 255, has_background=True)
    assert image.shape == (3, 64, 64) and image.dtype == torch.uint8
    assert ids == [1]  # "box": class 2 less the background; neither background nor ignore
    assert tool.load_sample(split[1], 64, 255, True)[1] == [0, 1]
    assert tool.load_sample(split[3], 64, 255, True)[1] == []


def test_measure_matches_the_model(tool, split, tiny_cfg):
    torch.manual_seed(0)
    model = build_model(tiny_cfg)
    result = tool.measure(model, tiny_cfg, NAME, batch_size=2)
    assert result["num_images"] == 4
    images = torch.stack([tool.load_sample(r, 64, 255, True)[0] for r in split])
    with torch.no_grad():
        maps = model.encode_image(model.normalize(images))["vision"].patch_to_group()
    assert result["group_entropy"] == pytest.approx(entropy(maps).mean().item(), abs=1e-5)
    assert 0 < result["group_entropy"] <= result["max_group_entropy"] == pytest.approx(math.log(4))
    # More positives can only lower the multi-label loss ("paper" form).
    assert result["multi_label_non_noisy"] <= result["multi_label"] + 1e-6
    assert result["label_entropy"] > 0 and result["segment_entropy"] > 0


def test_naming_hits_by_hand(tool):
    # Two objects: class 0 in the left half (mostly group 1), class 2 in the right half (group 0).
    labels = torch.full((4, 4), -1)
    labels[:, :2] = 0
    labels[:, 2:] = 2
    labels[0] = -1  # a row of background
    pixel_groups = torch.zeros(4, 4, dtype=torch.long)
    pixel_groups[:, :2] = 1
    pixel_groups[3, 0] = 0  # one of the object's six pixels in another group
    group_scores = torch.tensor([[0.1, 0.2, 0.9], [0.3, 0.8, 0.1]])  # group 0 says class 2, group 1 class 1
    image_hit, hits = tool.naming_hits(torch.tensor([0.1, 0.5, 0.9]), group_scores, pixel_groups, labels)
    assert image_hit is True and hits == [False, True]
    assert tool.naming_hits(torch.tensor([0.1, 0.9, 0.2]), group_scores, pixel_groups, labels)[0] is False
    assert tool.naming_hits(torch.zeros(3), group_scores, pixel_groups, torch.full((4, 4), -1)) == (None, [])


def test_naming_metrics_count_objects_and_images(tool, split, tiny_cfg):
    torch.manual_seed(0)
    model = build_model(tiny_cfg)
    result = tool.measure(model, tiny_cfg, NAME, batch_size=3)
    image, ids, labels = tool.load_sample(split[1], 64, 255, True, return_labels=True)
    assert ids == [0, 1] and set(labels.unique().tolist()) == {-1, 0, 1}
    # Three of the four crops hold objects: four objects in all (box; ball and box; ball).
    assert 0.0 <= result["image_naming"] <= 1.0 and 0.0 <= result["group_naming"] <= 1.0
    assert result["image_naming"] * 3 == pytest.approx(round(result["image_naming"] * 3))
    assert result["group_naming"] * 4 == pytest.approx(round(result["group_naming"] * 4))
