"""TEST.GROUP_PICTURES during `train_net.py --eval-only`."""
import os

from detectron2.engine import default_argument_parser
from PIL import Image

import train_net
from zero_shot_eval_utils import TINY_CONFIG


def test_group_pictures_for_the_first_images_only(benchmarks, tiny_weights, tmp_path, resized_size):
    name = benchmarks.name("voc21_val")
    args = default_argument_parser().parse_args(
        ["--config-file", str(TINY_CONFIG), "--eval-only", "MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0",
         "MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "identity", "MODEL.WEIGHTS", tiny_weights,
         "OUTPUT_DIR", str(tmp_path), "DATASETS.TEST", repr((name,)), "TEST.GROUP_PICTURES", "2"]
    )
    results = train_net.main(args)
    assert "mIoU" in results["sem_seg"]  # the pictures do not replace the evaluation

    folder = tmp_path / "inference" / name / "pictures"
    # voc21_val lists 2007_000001 (32x48), 2007_000002 (48x32) and 2007_000003, in that order.
    expected = {
        f"{stem}_{kind}.png": resized_size(*size)
        for stem, size in (("2007_000001", (32, 48)), ("2007_000002", (48, 32)))
        for kind in ("seg", "groups_stage1", "groups_stage2")
    }
    assert sorted(os.listdir(folder)) == sorted(expected)
    for file, (height, width) in expected.items():
        with Image.open(folder / file) as im:
            assert im.format == "PNG" and im.mode == "RGB"
            assert im.size == (width, height), file
            im.verify()


def test_a_model_without_groups_gets_its_segmentation_picture_only(tmp_path):
    import torch
    from detectron2.data import MetadataCatalog

    from groupvit_d2.evaluation.group_pictures import GroupPicturesWriter

    name = "pictures_without_groups_test"
    MetadataCatalog.get(name).set(stuff_classes=["background", "ball"], stuff_colors=[(0, 0, 0), (255, 0, 0)])
    model = torch.nn.Identity()  # no group_maps: a supervised head or PACL
    writer = GroupPicturesWriter(name, model, str(tmp_path), max_images=1)
    sample = {"image": torch.zeros(3, 16, 24, dtype=torch.uint8), "file_name": "a/img.jpg"}
    sem_seg = torch.zeros(2, 16, 24)
    sem_seg[1, :, 12:] = 1.0
    writer.process([sample, dict(sample, file_name="b.jpg")], [{"sem_seg": sem_seg}] * 2)
    assert os.listdir(tmp_path) == ["img_seg.png"]
    with Image.open(tmp_path / "img_seg.png") as im:
        assert im.size == (24, 16)
