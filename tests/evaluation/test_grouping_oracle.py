"""The visual-grouping oracle on constructed groups whose answers are known, then on a real model."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.data.dataset_mappers import ZeroShotSemSegDatasetMapper
from groupvit_d2.evaluation import GroupingOracleEvaluator, build_group_feature_bank

BG, A, B = 0, 1, 2
CLASSES = ["background", "thing a", "thing b"]


class FakeGroups:
    """Groups read from the image: channel 0 is a pixel's group, channel 1 the class its group's
    feature points to (a one-hot feature), so that a test controls grouping and features."""

    crop_size = None
    stride = None

    def __init__(self, num_groups=4):
        self.num_groups = num_groups

    def normalize(self, image):
        return image[None].float()

    def windows(self, height, width):
        return [(0, height, 0, width)]

    def __call__(self, crops):
        group = crops[:, 0].long()
        feature_class = crops[:, 1].long()
        features = torch.zeros(crops.shape[0], self.num_groups, len(CLASSES))
        for i in range(crops.shape[0]):
            for g in group[i].unique():
                features[i, g, feature_class[i][group[i] == g].mode().values] = 1.0
        onehot = F.one_hot(group, self.num_groups).permute(0, 3, 1, 2).float()
        return features, onehot


def _write(folder, stem, labels, group_of_class, feature_of_class=None):
    """An 8x8 image whose groups follow the label regions (`group_of_class[c]`) and whose features
    say `feature_of_class[c]` (default: the true class)."""
    feature_of_class = feature_of_class or {c: c for c in group_of_class}
    image = np.zeros(labels.shape + (3,), np.uint8)
    for c, g in group_of_class.items():
        image[labels == c, 0] = g
        image[labels == c, 1] = feature_of_class[c]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / "images" / f"{stem}.png")
    Image.fromarray(labels.astype(np.uint8)).save(folder / "labels" / f"{stem}.png")
    return {"file_name": str(folder / "images" / f"{stem}.png"),
            "sem_seg_file_name": str(folder / "labels" / f"{stem}.png"), "height": 8, "width": 8}


def _register(name, records):
    DatasetCatalog.register(name, lambda: records)
    MetadataCatalog.get(name).set(stuff_classes=CLASSES, ignore_label=255, evaluator_type="sem_seg",
                                  background_threshold=0.95)


def _rows(bg_end, a_end):
    labels = np.full((8, 8), B)
    labels[:bg_end] = BG
    labels[bg_end:a_end] = A
    return labels


@pytest.fixture
def train_set(tmp_path, catalog_prefix):
    """10 training images, each with one background, one 'a' and one 'b' region; group ids vary."""
    records = [
        _write(tmp_path / "train", f"{i:02d}", _rows(1 + i % 3, 5), {BG: i % 3, A: (i + 1) % 3, B: (i + 2) % 3})
        for i in range(10)
    ]
    _register(catalog_prefix + "train", records)
    return catalog_prefix + "train"


def _val_set(tmp_path, name, feature_of_class=None):
    # rows 0-1 background (16 px), rows 2-4 'a' (24 px), rows 5-7 'b' (24 px)
    _register(name, [_write(tmp_path / name, "val", _rows(2, 5), {BG: 3, A: 0, B: 1}, feature_of_class)])
    return name


def _evaluate(val_name, bank_name, tmp_path, **kwargs):
    evaluator = GroupingOracleEvaluator(
        val_name, None, bank_name, groups=FakeGroups(), distributed=False, output_dir=str(tmp_path / "out"),
        bank_mapper=ZeroShotSemSegDatasetMapper(augmentations=[], load_sem_seg=True), **kwargs,
    )
    evaluator.reset()
    mapper = ZeroShotSemSegDatasetMapper(augmentations=[])
    for record in DatasetCatalog.get(val_name):
        evaluator.process([mapper(record)], [None])
    return evaluator, evaluator.evaluate()


def test_groups_equal_to_the_masks_with_perfect_features_score_100(train_set, tmp_path, catalog_prefix):
    val = _val_set(tmp_path, catalog_prefix + "val")
    evaluator, results = _evaluate(val, train_set, tmp_path, k=10)
    assert set(results) == {"grouping_oracle", "grouping_oracle_no_bg"}
    assert results["grouping_oracle"]["mIoU"] == pytest.approx(100.0)
    assert results["grouping_oracle_no_bg"]["mIoU"] == pytest.approx(100.0)
    assert math.isnan(results["grouping_oracle_no_bg"]["IoU-background"])
    # 10 groups of each class; without background the background groups are gone.
    assert torch.bincount(evaluator.banks["grouping_oracle"].categories).tolist() == [10, 10, 10]
    assert torch.bincount(evaluator.banks["grouping_oracle_no_bg"].categories, minlength=3).tolist() == [0, 10, 10]
    assert (tmp_path / "out" / "grouping_oracle_no_bg" / "sem_seg_evaluation.pth").is_file()


def test_one_wrong_group_gives_the_hand_computed_iou(train_set, tmp_path, catalog_prefix):
    # The 'b' region's group has an 'a' feature: its 24 pixels become 'a'.
    val = _val_set(tmp_path, catalog_prefix + "val", {BG: BG, A: A, B: A})
    _, results = _evaluate(val, train_set, tmp_path, k=10)
    with_bg = results["grouping_oracle"]
    assert with_bg["IoU-background"] == pytest.approx(100.0)
    assert with_bg["IoU-thing a"] == pytest.approx(100.0 * 24 / 48)
    assert with_bg["IoU-thing b"] == pytest.approx(0.0)
    assert with_bg["mIoU"] == pytest.approx((100.0 + 50.0 + 0.0) / 3)
    no_bg = results["grouping_oracle_no_bg"]  # background pixels ignored: two classes left
    assert no_bg["mIoU"] == pytest.approx((50.0 + 0.0) / 2)


def test_without_background_can_be_switched_off(train_set, tmp_path, catalog_prefix):
    val = _val_set(tmp_path, catalog_prefix + "val")
    _, results = _evaluate(val, train_set, tmp_path, k=1, without_background=False)
    assert list(results) == ["grouping_oracle"]


def test_bank_from_a_registered_training_set(train_set):
    mapper = ZeroShotSemSegDatasetMapper(augmentations=[], load_sem_seg=True)
    with_bg = build_group_feature_bank(None, train_set, groups=FakeGroups(), mapper=mapper)
    assert len(with_bg) == 30 and torch.all(with_bg.soft_labels.max(dim=1).values == 1)
    without_bg = build_group_feature_bank(None, train_set, groups=FakeGroups(), mapper=mapper,
                                          include_background=False)
    assert torch.bincount(without_bg.categories, minlength=3).tolist() == [0, 10, 10]
    capped = build_group_feature_bank(None, train_set, groups=FakeGroups(), mapper=mapper, max_per_class=4)
    assert torch.bincount(capped.categories).tolist() == [4, 4, 4]


def test_bank_can_read_only_the_first_images(train_set, tmp_path):
    from groupvit_d2.evaluation.group_feature_bank import collect_group_features

    mapper = ZeroShotSemSegDatasetMapper(augmentations=[], load_sem_seg=True)
    features, counts = collect_group_features(FakeGroups(), train_set, mapper, max_images=4)
    assert features.shape[0] == 12  # three labelled groups an image
    # The first four images' pixels, class by class (image i has 1 + i % 3 background rows).
    expected = [8 * (1 + i % 3) for i in range(4)]
    assert counts[:, BG].sum().item() == sum(expected)
    with pytest.raises(ValueError, match="KNN_BANK_MAX_IMAGES"):
        collect_group_features(FakeGroups(), train_set, mapper, max_images=-1)
    _, results = _evaluate(_val_set(tmp_path, train_set + "_val4"), train_set, tmp_path, bank_max_images=4)
    assert math.isclose(results["grouping_oracle"]["mIoU"], 100.0)


def test_bank_dataset_must_be_set_and_match_the_classes(train_set, tmp_path, catalog_prefix):
    val = _val_set(tmp_path, catalog_prefix + "val")
    with pytest.raises(ValueError, match="TEST.KNN_BANK_DATASET"):
        GroupingOracleEvaluator(val, None, "", groups=FakeGroups())
    MetadataCatalog.get(catalog_prefix + "other").set(stuff_classes=["x", "y"])
    with pytest.raises(ValueError, match="same order"):
        GroupingOracleEvaluator(val, None, catalog_prefix + "other", groups=FakeGroups())


def test_thesis_bank_keeps_every_group_of_every_image(train_set, tmp_path, catalog_prefix):
    mapper = ZeroShotSemSegDatasetMapper(augmentations=[], load_sem_seg=True)
    bank = build_group_feature_bank(None, train_set, groups=FakeGroups(), mapper=mapper, form="thesis")
    # FakeGroups has 4 groups, 3 of them used in each of the 10 images.
    assert len(bank) == 40
    empty = bank.soft_labels.sum(dim=1) == 0
    assert int(empty.sum()) == 10 and torch.all(bank.soft_labels[~empty].max(dim=1).values == 1)
    val = _val_set(tmp_path, catalog_prefix + "val")
    evaluator, results = _evaluate(val, train_set, tmp_path, k=10, bank_form="thesis")
    assert len(evaluator.banks["grouping_oracle"]) == 40
    assert results["grouping_oracle"]["mIoU"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="KNN_BANK_FORM"):
        build_group_feature_bank(None, train_set, groups=FakeGroups(), mapper=mapper, form="images")


def test_thesis_bank_of_a_groupvit_has_its_final_groups_per_whole_image(benchmarks, eval_cfg, tmp_path):
    from detectron2.modeling import build_model

    from groupvit_d2.data.dataset_mappers import ZeroShotSemSegDatasetMapper as Mapper
    from groupvit_d2.evaluation import FinalGroups

    name = benchmarks.name("voc21_val")
    cfg = eval_cfg(tmp_path, (name,))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert FinalGroups.from_model(model).crop_size is not None  # the model evaluates in windows
    assert FinalGroups.from_model(model, whole_image=True).crop_size is None
    mapper = Mapper(cfg, is_train=False, load_sem_seg=True)
    bank = build_group_feature_bank(model, name, mapper=mapper, form="thesis", max_per_class=0)
    num_images, num_groups = len(DatasetCatalog.get(name)), cfg.MODEL.GROUPVIT.NUM_OUTPUT_GROUPS[-1]
    assert len(bank) == num_images * num_groups
    assert bank.features.shape[1] == cfg.MODEL.GROUPVIT.EMBED_DIM
