"""TEST.GROUPING_HEALTH.ENABLED during `train_net.py --eval-only`: the grouping figures and the
naming of the groups next to the mIoU."""
from detectron2.engine import default_argument_parser

import train_net
from zero_shot_eval_utils import TINY_CONFIG



def test_grouping_health_is_reported_by_eval_only(benchmarks, tiny_weights, tmp_path):
    name = benchmarks.name("voc21_val")
    args = default_argument_parser().parse_args(
        ["--config-file", str(TINY_CONFIG), "--eval-only", "MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0",
         "MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "identity", "MODEL.WEIGHTS", tiny_weights,
         "OUTPUT_DIR", str(tmp_path), "DATASETS.TEST", repr((name,)), "TEST.GROUPING_HEALTH.ENABLED", "True"]
    )
    results = train_net.main(args)
    health = results["grouping_health"]
    for stage in (1, 2):
        assert 0.0 <= health[f"stage{stage}/map_entropy"] <= 1.0 + 1e-6
        assert 1.0 <= health[f"stage{stage}/groups_used"]
        assert health[f"stage{stage}/logit_std"] >= 0.0
    # The tiny config has 4 final groups.
    assert health["stage2/groups_used"] <= 4.0
    # A random model's soft maps are uniform: the figures must call it collapsed.
    assert health["stage2/map_entropy"] > 0.99
    assert 0.0 < health["naming/best_score"] <= 1.0
    assert 0.0 <= health["naming/clears_background"] <= 100.0
    assert 0.0 <= health["naming/best_group_is_object"] <= 100.0
    assert 0.0 <= health["naming/object_group_named"] <= 100.0
