"""Supervised transfer (paper Table 5): the GroupViT encoder under Detectron2's SemanticSegmentor with
the 1x1 conv head, trained on the synthetic label maps through train_net's Trainer."""
import os

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

import train_net
from groupvit_d2 import add_groupvit_config
from groupvit_d2.checkpoint import GroupViTCheckpointer
from groupvit_d2.checkpoint.official import ours_to_official
from groupvit_d2.config import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD
from groupvit_d2.data.datasets.register_synthetic import register_all_synthetic
from groupvit_d2.data.synthetic import generate_synthetic_dataset
from groupvit_d2.analysis.iou_comparison import load_sem_seg_results

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "supervised", "groupvit_linear_synthetic.yaml")
PREFIX = "supervised_test_"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate_synthetic_dataset(str(root / "synthetic"), seed=0, num_train=4, num_val=2, image_size=48,
                               max_image_size=64, shard_size=4, workers=1)
    register_all_synthetic(str(root), prefix=PREFIX)
    yield root
    for name in [n for n in DatasetCatalog.list() if n.startswith(PREFIX)]:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _cfg(out_dir, *opts):
    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(CONFIG)
    cfg.merge_from_list([
        "MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(out_dir), "DATALOADER.NUM_WORKERS", "0",
        "DATASETS.TRAIN", f"('{PREFIX}synthetic_train_seg',)", "DATASETS.TEST", f"('{PREFIX}synthetic_val',)",
        "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "3", "SOLVER.WARMUP_ITERS", "1",
        "SOLVER.CHECKPOINT_PERIOD", "100", "INPUT.MIN_SIZE_TRAIN", "(48,)", "INPUT.CROP.SIZE", "(32, 32)",
        "INPUT.MIN_SIZE_TEST", "48", "INPUT.MAX_SIZE_TEST", "96",
    ] + list(opts))
    return cfg


def test_trainer_trains_on_label_maps_and_evaluates_at_full_size(synthetic, tmp_path):
    cfg = _cfg(tmp_path)
    assert cfg.MODEL.META_ARCHITECTURE == "SemanticSegmentor" and cfg.INPUT.DATASET_MAPPER_NAME == "semantic"
    trainer = train_net.Trainer(cfg)
    batch = next(iter(trainer.build_train_loader(cfg)))
    assert len(batch) == 2
    for sample in batch:
        assert sample["image"].dtype == torch.uint8 and sample["image"].shape[1:] == (32, 32)
        assert sample["sem_seg"].shape == (32, 32) and int(sample["sem_seg"].max()) < 13

    trainer.resume_or_load(resume=False)
    trainer.train()
    assert trainer.iter == cfg.SOLVER.MAX_ITER and (tmp_path / "model_final.pth").is_file()
    # The evaluation after the last iteration.
    results = load_sem_seg_results(str(tmp_path / "inference" / f"{PREFIX}synthetic_val"))
    assert 0.0 <= results["mIoU"] <= 100.0

    model = trainer.model.eval()
    sample = next(iter(train_net.Trainer.build_test_loader(cfg, f"{PREFIX}synthetic_val")))[0]
    with torch.no_grad():
        out = model([sample])[0]["sem_seg"]
    assert out.shape == (13, sample["height"], sample["width"])  # the original size, not the resized one
    assert tuple(sample["image"].shape[1:]) != (sample["height"], sample["width"])


def test_loss_decreases_on_a_fixed_batch(synthetic, tmp_path):
    cfg = _cfg(tmp_path)
    np.random.seed(0)  # the sampler's seed and the crop positions
    torch.manual_seed(0)
    model = build_model(cfg).train()
    assert model.pixel_mean.flatten().tolist() == pytest.approx(IMAGENET_PIXEL_MEAN)
    assert model.pixel_std.flatten().tolist() == pytest.approx(IMAGENET_PIXEL_STD)
    batch = next(iter(train_net.Trainer.build_train_loader(cfg)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = model.backbone.patch_embed.proj.weight.detach().clone()
    losses = []
    for _ in range(20):
        loss = model(batch)["loss_sem_seg"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0], losses
    # The whole network is fine-tuned, not only the head.
    assert not torch.equal(model.backbone.patch_embed.proj.weight, before)


@pytest.mark.parametrize("fmt", ["detectron2", "official"])
def test_groupvit_checkpoint_loads_into_the_backbone(synthetic, tmp_path, fmt):
    groupvit_cfg = _cfg(tmp_path, "MODEL.META_ARCHITECTURE", "GroupViT")
    torch.manual_seed(1)
    groupvit = build_model(groupvit_cfg)
    state = {k: v for k, v in groupvit.state_dict().items()}
    if fmt == "official":
        state = ours_to_official(state)[0]
    torch.save({"model": state}, tmp_path / "groupvit.pth")

    torch.manual_seed(2)
    segmentor = build_model(_cfg(tmp_path))
    checkpointer = GroupViTCheckpointer(segmentor)
    checkpointer.load(str(tmp_path / "groupvit.pth"))
    report = checkpointer.last_report
    ours = groupvit.backbone.state_dict()
    for key, value in segmentor.backbone.state_dict().items():
        assert torch.equal(value, ours[key]), key
    assert sorted(report.missing) == ["sem_seg_head.predictor.bias", "sem_seg_head.predictor.weight"]
    unexpected_parts = {k.split(".")[0] for k in report.unexpected}
    assert {"text_encoder", "img_projector", "text_projector", "logit_scale"} <= unexpected_parts
    assert not any(k.startswith("backbone.") for k in report.unexpected)
    # The normalisation stays the config's ImageNet statistics (non-persistent buffers).
    assert segmentor.pixel_mean.flatten().tolist() == pytest.approx(IMAGENET_PIXEL_MEAN)
