"""A training run killed mid-way resumes at the right iteration with its lr and optimizer state."""
import os
import signal
import subprocess
import sys
import time

import torch
from detectron2.config import get_cfg

from groupvit_d2 import add_groupvit_config
from groupvit_d2.data.synthetic import generate_synthetic_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _opts(data_root, out_dir):
    shards = os.path.join(data_root, "train", "train-{000000..000001}.tar")
    return [
        "DATASETS.IMAGE_TEXT.SHARDS", f'["{shards}"]',
        "DATASETS.TEST", "()",
        "SOLVER.IMS_PER_BATCH", "4",
        "SOLVER.MAX_ITER", "200",
        "SOLVER.WARMUP_ITERS", "5",
        "SOLVER.CHECKPOINT_PERIOD", "2",
        "DATALOADER.NUM_WORKERS", "0",
        "INPUT.IMAGE_TEXT.RAND_AUGMENT", "none",
        "OUTPUT_DIR", str(out_dir),
    ]


def test_killed_run_resumes_with_its_iteration_lr_and_optimizer(tmp_path):
    data_root = tmp_path / "synthetic"
    generate_synthetic_dataset(str(data_root), seed=0, num_train=32, num_val=2, image_size=64, shard_size=16,
                               workers=1, write_train_seg=False)
    out_dir = tmp_path / "out"
    cmd = [sys.executable, os.path.join(ROOT, "train_net.py"), "--config-file",
           os.path.join(ROOT, "configs", "groupvit", "tiny.yaml")] + _opts(data_root, out_dir)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out_dir / "model_0000003.pth"
    deadline = time.time() + 240
    try:
        while not (ckpt.exists() and (out_dir / "last_checkpoint").read_text().strip() == ckpt.name):
            assert proc.poll() is None, "training exited before it could be killed"
            assert time.time() < deadline, "no checkpoint after 240 s"
            time.sleep(0.2)
        time.sleep(0.5)  # let the checkpoint file be complete, then crash hard
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out_dir / "model_final.pth").exists()

    from groupvit_d2.engine.trainer import Trainer

    cfg = get_cfg()
    add_groupvit_config(cfg)
    cfg.merge_from_file(os.path.join(ROOT, "configs", "groupvit", "tiny.yaml"))
    cfg.merge_from_list(_opts(data_root, out_dir))
    last = (out_dir / "last_checkpoint").read_text().strip()
    saved = torch.load(out_dir / last, map_location="cpu", weights_only=False)

    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=True)
    assert trainer.start_iter == saved["iteration"] + 1

    # The restored lr is the uninterrupted schedule's lr at that iteration.
    probe = torch.nn.Parameter(torch.zeros(1))
    reference_opt = torch.optim.SGD([probe], lr=cfg.SOLVER.BASE_LR)
    reference = Trainer.build_lr_scheduler(cfg, reference_opt)
    for _ in range(trainer.start_iter):
        reference_opt.step()
        reference.step()
    assert trainer.scheduler.last_epoch == trainer.start_iter
    assert trainer.optimizer.param_groups[0]["lr"] == reference_opt.param_groups[0]["lr"]
    assert 0 < reference_opt.param_groups[0]["lr"] < cfg.SOLVER.BASE_LR

    restored = trainer.optimizer.state_dict()["state"]
    expected = saved["trainer"]["_trainer"]["optimizer"]["state"] if "trainer" in saved else saved["optimizer"]["state"]
    assert restored.keys() == expected.keys() and len(restored) > 0
    for k in expected:
        assert torch.equal(restored[k]["exp_avg"], expected[k]["exp_avg"])
        assert torch.equal(restored[k]["step"], expected[k]["step"])

    # And it goes on from there to the end.
    trainer.max_iter = trainer.start_iter + 2
    trainer.train()
    assert trainer.iter == trainer.max_iter
    assert (out_dir / "model_final.pth").exists()
