import pathlib

import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from groupvit_d2 import add_groupvit_config

ZERO_SHOT = pathlib.Path(__file__).resolve().parents[2] / "configs" / "zero_shot"
PROTOCOL = ("voc21_val", "voc20_val", "context60_val", "context59_val", "coco_object_val", "coco_stuff171_val",
            "cityscapes_fine_val", "ade20k_150_val")


def _load(name):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(str(ZERO_SHOT / name))
    return cfg


def test_eval_all_is_the_8_benchmark_protocol_on_the_released_model():
    cfg = _load("eval_all.yaml")
    assert tuple(cfg.DATASETS.TEST) == PROTOCOL
    assert tuple(_load("eval_large_vocab.yaml").DATASETS.TEST) == ("ade20k_847_val", "context459_val")
    # The released 2-stage architecture, evaluated as the official code does.
    g = cfg.MODEL.GROUPVIT
    assert (list(g.DEPTHS), list(g.NUM_GROUP_TOKENS), list(g.NUM_OUTPUT_GROUPS)) == ([6, 3, 3], [64, 8, 0], [64, 8])
    assert g.ZERO_SHOT.TEMPLATES == "full"
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) == (448, 2048)
    assert (cfg.TEST.SLIDING_WINDOW.CROP_SIZE, cfg.TEST.SLIDING_WINDOW.STRIDE) == (448, 224)


@pytest.mark.parametrize("file", sorted(p.name for p in ZERO_SHOT.glob("*.yaml")))
def test_every_dataset_is_registered_for_sem_seg_evaluation(file):
    names = _load(file).DATASETS.TEST
    assert names
    for name in names:
        assert name in DatasetCatalog.list(), f"{file}: {name} is not registered"
        assert MetadataCatalog.get(name).evaluator_type == "sem_seg"


def test_one_config_per_benchmark():
    single = {}
    for path in ZERO_SHOT.glob("*.yaml"):
        if path.name.startswith("eval_"):
            continue
        names = _load(path.name).DATASETS.TEST
        assert len(names) == 1, path.name
        single[names[0]] = path.name
    assert set(single) == set(PROTOCOL) | {"ade20k_847_val", "context459_val"}


def test_one_config_per_prompt_protocol_evaluates_all_eight():
    official, tcl = _load("eval_all.yaml"), _load("eval_all_tcl.yaml")
    assert (official.TEST.PROMPT_PROTOCOL, tcl.TEST.PROMPT_PROTOCOL) == ("official", "tcl")
    assert tuple(official.DATASETS.TEST) == tuple(tcl.DATASETS.TEST) == PROTOCOL
    assert _load("voc20.yaml").TEST.PROMPT_PROTOCOL == "official"
    # Only the prompt names differ.
    tcl.TEST.PROMPT_PROTOCOL = "official"
    assert tcl.dump() == official.dump()
