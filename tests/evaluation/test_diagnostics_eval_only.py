"""TEST.ORACLES and TEST.ENTROPY_MAPS during `train_net.py --eval-only` with a real (tiny) model."""
import math
import os

import pytest
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser

import train_net
from groupvit_d2 import add_groupvit_config
from groupvit_d2.evaluation import build_diagnostic_evaluators
from zero_shot_eval_utils import TINY_CONFIG



def test_oracles_and_entropy_maps_next_to_the_evaluation(benchmarks, tiny_weights, tmp_path):
    name = benchmarks.name("voc21_val")
    args = default_argument_parser().parse_args(
        ["--config-file", str(TINY_CONFIG), "--eval-only", "MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0",
         "MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "identity", "MODEL.WEIGHTS", tiny_weights,
         "OUTPUT_DIR", str(tmp_path), "DATASETS.TEST", repr((name,)),
         "TEST.ORACLES", '["grouping", "alignment"]', "TEST.KNN_BANK_DATASET", name, "TEST.KNN_K", "3",
         "TEST.ENTROPY_MAPS", "1"]
    )
    results = train_net.main(args)
    assert set(results) == {"sem_seg", "grouping_oracle", "grouping_oracle_no_bg", "alignment_oracle"}
    for task in ("grouping_oracle", "grouping_oracle_no_bg", "alignment_oracle"):
        assert 0.0 <= results[task]["mIoU"] <= 100.0
    # Without background the background class has no ground truth left.
    assert math.isnan(results["grouping_oracle_no_bg"]["IoU-background"])
    assert not math.isnan(results["grouping_oracle"]["IoU-background"])
    folder = tmp_path / "inference" / name
    for task in ("grouping_oracle", "grouping_oracle_no_bg", "alignment_oracle"):
        assert (folder / task / "sem_seg_evaluation.pth").is_file()
    assert os.listdir(folder / "entropy") == ["2007_000001_entropy.png"]


def test_unknown_oracle_names_the_key():
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.TEST.ORACLES = ["grouping", "telepathy"]
    with pytest.raises(ValueError, match=r"TEST.ORACLES: unknown \['telepathy'\]"):
        build_diagnostic_evaluators(cfg, "any", "/tmp/out")


def test_model_free_oracles_are_built_without_a_model(benchmarks):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(str(TINY_CONFIG))
    cfg.TEST.ORACLES = ["alignment", "grouping"]
    cfg.TEST.ENTROPY_MAPS = 2
    evaluators = build_diagnostic_evaluators(cfg, benchmarks.name("voc21_val"), "/tmp/out", model=None)
    assert [type(e).__name__ for e in evaluators] == ["AlignmentOracleEvaluator"]
