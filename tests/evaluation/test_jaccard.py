import uuid

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.evaluation.jaccard import JaccardEvaluator, segment_jaccard

# Row 0 is ignored; label 1 on columns 0-1, label 2 on columns 2-3 (6 valid pixels each).
GT = np.array([[255] * 4] + [[1, 1, 2, 2]] * 3)
# Group 7 covers columns 0-2 (9 valid pixels), group 9 column 3 (3).
GROUPS = np.array([[7, 7, 7, 9]] * 4)


def test_best_matching_hand_computed():
    labels, ious = segment_jaccard(GROUPS, GT)
    assert labels.tolist() == [1, 2]
    # label 1: 6 / 9 with group 7; label 2: max(3 / 12 with group 7, 3 / 6 with group 9).
    np.testing.assert_allclose(ious, [6 / 9, 3 / 6])


def test_one_group_best_versus_hungarian():
    one = np.zeros_like(GT)
    _, best = segment_jaccard(one, GT, matching="best")
    np.testing.assert_allclose(best, [0.5, 0.5])  # both segments take the one group: 6 / 12
    _, hungarian = segment_jaccard(one, GT, matching="hungarian")
    assert sorted(hungarian.tolist()) == [0.0, 0.5]  # only one segment gets it


def test_excluded_labels_still_occupy_pixels():
    labels, ious = segment_jaccard(GROUPS, GT, exclude=(1,))
    assert labels.tolist() == [2] and ious.tolist() == [0.5]


def test_bad_input():
    with pytest.raises(ValueError, match="differ in size"):
        segment_jaccard(GROUPS[:2], GT)
    with pytest.raises(ValueError, match="matching"):
        segment_jaccard(GROUPS, GT, matching="greedy")


@pytest.fixture
def dataset(tmp_path):
    name = f"jaccardtest_{uuid.uuid4().hex[:8]}"
    labels = {"a": GT.astype(np.uint8), "b": np.array([[0, 0, 3, 3]] * 4, np.uint8)}
    files = {}
    for stem, label in labels.items():
        files[stem] = str(tmp_path / f"{stem}.png")
        Image.fromarray(label).save(files[stem])
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).set(ignore_label=255, background_threshold=0.95, stuff_classes=["bg", "x", "y", "z"])
    yield name, files
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_evaluator_on_outputs_with_groups(dataset):
    name, files = dataset
    evaluator = JaccardEvaluator(name)
    evaluator.reset()
    inputs = [{"sem_seg_file_name": files["a"], "height": 4, "width": 4},
              {"sem_seg_file_name": files["b"], "height": 4, "width": 4}]
    # Image b: background columns 0-1 and label 3 on 2-3, predicted exactly.
    outputs = [{"groups": torch.from_numpy(GROUPS)}, {"groups": torch.tensor([[5, 5, 6, 6]] * 4)}]
    evaluator.process(inputs, outputs)
    res = evaluator.evaluate()["bottom_up_grouping"]
    assert res["Jaccard"] == pytest.approx(100 * ((6 / 9 + 1 / 2) / 2 + 1.0) / 2)
    assert res["Jaccard_segments"] == pytest.approx(100 * (6 / 9 + 1 / 2 + 1 + 1) / 4)
    assert res["num_images"] == 2

    # Without the background segment image b scores only its label-3 segment.
    evaluator = JaccardEvaluator(name, ignore_background=True)
    evaluator.process(inputs[1:], outputs[1:])
    assert evaluator.evaluate()["bottom_up_grouping"]["Jaccard"] == pytest.approx(100.0)


class _GroupMapModel:
    """GroupViT-like: group maps per stage at the (half-size) resized input."""

    def group_maps(self, sample):
        return [torch.zeros(2, 2, dtype=torch.long), torch.tensor([[7, 9], [7, 9]])]


def test_evaluator_uses_group_maps_of_the_last_stage(dataset):
    name, files = dataset
    evaluator = JaccardEvaluator(name, model=_GroupMapModel())
    evaluator.process([{"sem_seg_file_name": files["b"], "height": 4, "width": 4}], [{"sem_seg": None}])
    # Nearest upsampling of [[7, 9]] gives groups on columns 0-1 and 2-3: a perfect grouping.
    assert evaluator.evaluate()["bottom_up_grouping"]["Jaccard"] == pytest.approx(100.0)
    with pytest.raises(KeyError, match="no 'groups'"):
        JaccardEvaluator(name).process([{"sem_seg_file_name": files["b"]}], [{}])
