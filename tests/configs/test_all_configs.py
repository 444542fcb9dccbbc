"""Every config under configs/ loads and builds; the thesis configs say what their names say."""
import functools
import math
import pathlib

from unittest import mock

import pytest
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from groupvit_d2 import add_groupvit_config
from groupvit_d2.modeling import freeze_except
from groupvit_d2.modeling.groupvit import image_encoder as backbone_module

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
ALL = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml"))
# The fine-tuning recipes (table1_oracles.yaml evaluates the released model).
THESIS = [
    name for name in ALL if name.startswith("thesis/") and not name.startswith(("thesis/synthetic/", "thesis/table1"))
]


def _load(name):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(str(CONFIGS / name))
    cfg.MODEL.DEVICE = "cpu"
    return cfg


def _architecture(cfg):
    """What a built model depends on, less the loss weights, freezing and weights file."""
    model = cfg.MODEL.clone()
    model.defrost()
    model.pop("WEIGHTS")
    model.GROUPVIT.pop("LOSS")
    return model.dump() + repr((cfg.INPUT.IMAGE_TEXT.RANDOM_ERASING, cfg.TEST.SLIDING_WINDOW))


@functools.lru_cache(maxsize=None)
def _built(architecture, name):
    cfg = _load(name)
    cfg.SOLVER.TRAINABLE_PATTERNS = []
    # Truncated-normal initialisation is most of the build time on a CPU, and values do not matter.
    with mock.patch.object(backbone_module, "trunc_normal_", lambda tensor, **kwargs: tensor):
        return build_model(cfg)


_FIRST = {}


@pytest.mark.parametrize("name", ALL)
def test_config_loads(name):
    cfg = _load(name)
    assert cfg.MODEL.META_ARCHITECTURE


@pytest.mark.parametrize("name", [n for n in ALL if _load(n).MODEL.META_ARCHITECTURE == "GroupViT"])
def test_groupvit_config_builds(name):
    cfg = _load(name)
    architecture = _architecture(cfg)
    # Building the released architecture takes seconds on a CPU: one build per architecture, then
    # this config's own parts (freezing, loss settings) on it.
    model = _built(architecture, _FIRST.setdefault(architecture, name))
    summary = freeze_except(model, cfg.SOLVER.TRAINABLE_PATTERNS)
    if cfg.SOLVER.TRAINABLE_PATTERNS:
        assert 0 < summary.num_trainable < summary.num_total
    assert model.backbone.pos_embed.shape[1] == (cfg.MODEL.GROUPVIT.IMAGE_SIZE // cfg.MODEL.GROUPVIT.PATCH_SIZE) ** 2


@pytest.mark.parametrize("name", ["groupvit/gcc_yfcc_30e.yaml", "groupvit/gcc_redcap_30e.yaml"])
def test_released_recipes_use_the_official_multi_label_form(name):
    assert _load(name).MODEL.GROUPVIT.LOSS.MULTI_LABEL_FORM == "official"


@pytest.mark.parametrize("name", THESIS)
def test_thesis_config_names_match_their_settings(name):
    cfg = _load(name)
    stem = pathlib.Path(name).stem
    lo, it = cfg.MODEL.GROUPVIT.LOSS, cfg.INPUT.IMAGE_TEXT
    assert cfg.MODEL.WEIGHTS == "groupvit://gcc_yfcc_30e"
    assert list(cfg.DATASETS.IMAGE_TEXT.NAMES) == ["coco_captions_train2017"]
    assert tuple(cfg.DATASETS.TEST) == ("coco_object_val",) and cfg.TEST.EVAL_PERIOD > 0
    # One warm-up epoch; a whole number of epochs (thesis epoch: 591,753 captions).
    epoch = math.ceil(591753 / cfg.SOLVER.IMS_PER_BATCH)
    assert cfg.SOLVER.WARMUP_ITERS == cfg.TEST.EVAL_PERIOD == epoch
    assert cfg.SOLVER.MAX_ITER in (math.ceil(591753 * 15 / cfg.SOLVER.IMS_PER_BATCH),
                                   math.ceil(591753 * 30 / cfg.SOLVER.IMS_PER_BATCH))
    assert cfg.SOLVER.BASE_LR == pytest.approx(1.6e-3 * cfg.SOLVER.IMS_PER_BATCH / 4096)
    # Cosine annealing with restarts: 12 decay epochs, 2 cycles.
    assert cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupCosineRestartsLR"
    assert (cfg.SOLVER.COSINE_RESTARTS.PERIOD, cfg.SOLVER.COSINE_RESTARTS.NUM_CYCLES) == (12 * epoch, 2)
    assert cfg.MODEL.GROUPVIT.LOSS.MULTI_LABEL_FORM == "official"
    assert cfg.TEST.KNN_BANK_FORM == "thesis"
    size = 384 if "384" in stem else 224
    assert cfg.MODEL.GROUPVIT.IMAGE_SIZE == it.CROP_SIZE == size
    assert (lo.GROUP_ENTROPY_WEIGHT > 0) == ("_ge" in stem)
    assert (lo.LABEL_ENTROPY_WEIGHT > 0) == ("le" in stem.split("_"))
    assert (lo.SEGMENT_ENTROPY_WEIGHT > 0) == ("se" in stem.split("_"))
    assert lo.NON_NOISY == ("non_noisy" in stem)
    assert cfg.SOLVER.IMS_PER_BATCH == (512 if stem.startswith("table11") else 256)
    if stem.startswith("table3"):
        expected = stem[len("table3_"):].replace("_image_projector", "+image_projector").replace(
            "_projectors", "+projectors").split("+")
        assert list(cfg.SOLVER.TRAINABLE_PATTERNS) == expected
        assert (it.NUM_LABELS, list(it.LABEL_SOURCES), it.LABEL_FILL) == (3, ["nouns"], "caption")
    else:
        assert list(cfg.SOLVER.TRAINABLE_PATTERNS) == ["both_grouping_blocks"]
    if stem.startswith(("table9", "table10", "table11")) or stem.startswith("Base-COCO"):
        assert (it.NUM_LABELS, list(it.LABEL_SOURCES), it.LABEL_FILL) == (5, ["noun_phrases", "nouns"], "pad")


def test_thesis_table1_config_runs_the_thesis_oracles():
    from groupvit_d2.evaluation import ORACLE_EVALUATORS

    cfg = _load("thesis/table1_oracles.yaml")
    assert cfg.MODEL.WEIGHTS == "groupvit://gcc_yfcc_30e" and tuple(cfg.DATASETS.TEST) == ("voc21_val",)
    assert list(cfg.TEST.ORACLES) == ["grouping", "alignment"] and set(cfg.TEST.ORACLES) <= set(ORACLE_EVALUATORS)
    assert (cfg.TEST.KNN_BANK_DATASET, cfg.TEST.KNN_BANK_FORM, cfg.TEST.KNN_K) == ("voc21_train", "thesis", 10)
    assert cfg.TEST.KNN_WITHOUT_BACKGROUND and cfg.TEST.PROMPT_PROTOCOL == "official"
