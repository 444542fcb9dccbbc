"""PACL and CLIPpy through train_net.py: a few training iterations on a tiny synthetic benchmark,
then the zero-shot `--eval-only` path (checkpoint -> SemSegEvaluator, and the Jaccard index for
CLIPpy's bottom-up groups)."""
import json
import os
import uuid

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import default_argument_parser

import train_net
from groupvit_d2.data.datasets.register_synthetic import register_all_synthetic
from groupvit_d2.data.synthetic import generate_synthetic_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Smaller towers than the synthetic_tiny configs, merged into their override mappings.
TINY_OVERRIDES = {
    "pacl": """
MODEL:
  PACL:
    MODEL_OVERRIDES:
      embed_dim: 16
      vision_cfg: {image_size: 32, layers: 1, width: 16, head_width: 8, patch_size: 8}
      text_cfg: {width: 16, heads: 2, layers: 1}
    TEST_STRIDE: 4
""",
    "clippy": """
MODEL:
  CLIPPY:
    IMAGE_OVERRIDES: {img_size: 16, embed_dim: 16, depth: 1, num_heads: 2}
    TEXT_OVERRIDES: {d_model: 16, d_kv: 8, d_ff: 32, num_layers: 1, num_heads: 2}
    EMBED_DIM: 8
""",
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    meta = generate_synthetic_dataset(str(root / "synthetic"), seed=0, num_train=8, num_val=2, image_size=40,
                                      max_image_size=48, shard_size=8, write_train_seg=False)
    prefix = f"e2e_{uuid.uuid4().hex[:8]}_"
    register_all_synthetic(str(root), prefix=prefix)
    yield os.path.join(str(root / "synthetic"), meta["train_shards"]), prefix + "synthetic_val"
    for name in [n for n in DatasetCatalog.list() if n.startswith(prefix)]:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _main(config, output, *opts, eval_only=False):
    args = default_argument_parser().parse_args(
        ["--config-file", str(config)] + (["--eval-only"] if eval_only else [])
        + ["MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0", "OUTPUT_DIR", str(output)] + list(opts)
    )
    return train_net.main(args)


@pytest.mark.parametrize("name", ["pacl", "clippy"])
def test_train_then_eval_only(name, synthetic, tmp_path):
    shards, val = synthetic
    config = tmp_path / f"{name}.yaml"
    base = os.path.join(REPO, "configs", name, "synthetic_tiny.yaml")
    config.write_text(f'_BASE_: "{base}"\n' + TINY_OVERRIDES[name])
    common = [
        "DATASETS.TEST", f"('{val}',)",
        "INPUT.MIN_SIZE_TEST", "32", "TEST.SLIDING_WINDOW.CROP_SIZE", "32", "TEST.SLIDING_WINDOW.STRIDE", "16",
        f"MODEL.{name.upper()}.TEMPLATES", "identity",
    ]
    _main(config, tmp_path / "train", *common,
                    "DATASETS.IMAGE_TEXT.SHARDS", json.dumps([shards]), "DATASETS.IMAGE_TEXT.EPOCH_LENGTH", "8",
                    "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", "8", "INPUT.IMAGE_TEXT.CROP_SIZE", "32",
                    "SOLVER.IMS_PER_BATCH", "4", "SOLVER.MAX_ITER", "3", "SOLVER.WARMUP_ITERS", "1")
    weights = tmp_path / "train" / "model_final.pth"
    assert weights.is_file()

    results = _main(config, tmp_path / "eval", *common, "MODEL.WEIGHTS", str(weights), eval_only=True)
    miou = results["sem_seg"]["mIoU"]
    assert 0.0 <= miou <= 100.0
    # The evaluation that ended training and the one from the saved checkpoint see the same weights.
    with open(tmp_path / "train" / "metrics.json") as f:
        after_training = [json.loads(line) for line in f if "sem_seg/mIoU" in line][-1]
    assert miou == pytest.approx(after_training["sem_seg/mIoU"])
    # --eval-only leaves its results in a plain JSON file too.
    with open(tmp_path / "eval" / "inference" / "results.json") as f:
        assert json.load(f)[val]["sem_seg"]["mIoU"] == pytest.approx(miou)
    if name == "clippy":  # Base-CLIPpy.yaml turns the Jaccard evaluator on
        grouping = results["bottom_up_grouping"]
        assert grouping["num_images"] == 2 and 0.0 < grouping["Jaccard"] <= 100.0
        assert grouping["Jaccard"] == pytest.approx(after_training["bottom_up_grouping/Jaccard"])
