import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from groupvit_d2.analysis.baselines import most_frequent_class, most_frequent_class_scores


def test_most_frequent_class_miou_matches_hand_count(tmp_path):
    # Two 4x5 label maps: class 0 covers 30 of 40 pixels, class 2 covers 10; 255 is ignored.
    a = np.zeros((4, 5), np.uint8)
    a[0, :] = 2
    b = np.zeros((4, 5), np.uint8)
    b[1, :] = 2
    b[3, 4] = 255
    dicts = []
    for i, label in enumerate((a, b)):
        Image.fromarray(label).save(tmp_path / f"{i}.png")
        Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / f"{i}.jpg")
        dicts.append({"file_name": str(tmp_path / f"{i}.jpg"), "sem_seg_file_name": str(tmp_path / f"{i}.png")})
    name = "_test_most_frequent_class"
    DatasetCatalog.register(name, lambda: dicts)
    MetadataCatalog.get(name).set(stuff_classes=["background", "ball", "box"], ignore_label=255,
                                  evaluator_type="sem_seg")
    try:
        assert most_frequent_class(name) == 0
        cls, scores = most_frequent_class_scores(name)
        assert cls == 0
        # IoU(background) = 29 / 39 (29 of 39 labelled pixels); box: 0; ball is absent and not averaged.
        assert np.isclose(scores["IoU-background"], 100 * 29 / 39)
        assert np.isclose(scores["mIoU"], 100 * 29 / 39 / 2)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
