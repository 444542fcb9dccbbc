"""A run killed (SIGKILL) during training or during a checkpoint save resumes from the last intact
checkpoint and then trains exactly like the uninterrupted run: same data stream, same random draws,
same losses and final weights."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from detectron2.engine import default_argument_parser

from groupvit_d2.data.synthetic import generate_synthetic_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "groupvit", "tiny.yaml")


def _opts(data_root, out_dir):
    shards = os.path.join(data_root, "train", "train-{000000..000001}.tar")
    return [
        "DATASETS.IMAGE_TEXT.SHARDS", f'["{shards}"]',
        # Ten samples an epoch: the resumed run starts in the second epoch, two samples in.
        "DATASETS.IMAGE_TEXT.EPOCH_LENGTH", "10",
        "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", "8",
        "DATASETS.TEST", "()",
        "SEED", "5",
        "MODEL.DEVICE", "cpu",
        "SOLVER.IMS_PER_BATCH", "4",
        "SOLVER.MAX_ITER", "8",
        "SOLVER.WARMUP_ITERS", "2",
        "SOLVER.CHECKPOINT_PERIOD", "3",
        "DATALOADER.NUM_WORKERS", "0",
        "INPUT.IMAGE_TEXT.RAND_AUGMENT", "none",
        "OUTPUT_DIR", str(out_dir),
    ]


def _train_in_process(data_root, out_dir, resume=False):
    import train_net

    args = default_argument_parser().parse_args(
        ["--config-file", CONFIG] + (["--resume"] if resume else []) + _opts(data_root, out_dir))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # train_net.main, keeping the trainer for its per-iteration losses.
        trainer = train_net.Trainer(train_net.setup(args))
        trainer.resume_or_load(resume=resume)
        trainer.train()
    finally:
        torch.set_num_threads(threads)
    return {name: dict((it, v) for v, it in trainer.storage.history(name).values())
            for name in ("total_loss", "loss_contrastive", "loss_multi_label")}


def _last_metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f if line.strip()][-1]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic_dataset(str(root), seed=0, num_train=32, num_val=2, image_size=64, shard_size=16,
                               workers=1, write_train_seg=False)
    return root


@pytest.fixture(scope="module")
def whole(data_root, tmp_path_factory):
    """The uninterrupted run: (output folder, per-iteration losses)."""
    out = tmp_path_factory.mktemp("whole")
    return out, _train_in_process(data_root, out)


# Code run before train_net.py in the killed process: SIGKILL half-way through writing the second
# checkpoint, or at the start of an iteration after the first checkpoint.
KILLS = {
    "during_a_save": """
        real_save = torch.save
        def save(data, f, *args, **kwargs):
            real_save(data, f, *args, **kwargs)
            if os.path.basename(getattr(f, "name", "")).startswith("model_0000005.pth"):
                f.flush()
                f.truncate(f.tell() // 2)
                os.kill(os.getpid(), signal.SIGKILL)
        torch.save = save
    """,
    "during_training": """
        from detectron2.engine import SimpleTrainer
        real_step = SimpleTrainer.run_step
        def run_step(self):
            if self.iter == 4:
                os.kill(os.getpid(), signal.SIGKILL)
            real_step(self)
        SimpleTrainer.run_step = run_step
    """,
}


@pytest.mark.parametrize("kill", sorted(KILLS))
def test_killed_run_resumes_like_the_uninterrupted_run(data_root, whole, tmp_path, kill):
    (whole, whole_losses), broken = whole, tmp_path / "broken"
    script = "import os, runpy, signal, sys, torch\n" + textwrap.dedent(KILLS[kill]) + textwrap.dedent(f"""
        sys.path.insert(0, {ROOT!r})
        sys.argv = ["train_net.py", "--config-file", {CONFIG!r}] + {_opts(data_root, broken)!r}
        runpy.run_path({os.path.join(ROOT, "train_net.py")!r}, run_name="__main__")
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    # last_checkpoint never names a truncated file.
    assert (broken / "last_checkpoint").read_text().strip() == "model_0000002.pth"
    assert not (broken / "model_0000005.pth").exists() and not (broken / "model_final.pth").exists()

    resumed_losses = _train_in_process(data_root, broken, resume=True)

    final_whole = torch.load(whole / "model_final.pth", map_location="cpu", weights_only=True)
    final_resumed = torch.load(broken / "model_final.pth", map_location="cpu", weights_only=True)
    assert final_resumed["iteration"] == final_whole["iteration"] == 7
    assert final_whole["model"].keys() == final_resumed["model"].keys()
    for key, value in final_whole["model"].items():
        assert torch.equal(final_resumed["model"][key], value), key
    # Every loss of iterations 3..7, as computed (not smoothed), equals the uninterrupted run's.
    for name, by_iter in resumed_losses.items():
        assert sorted(by_iter) == [3, 4, 5, 6, 7], name
        for it, value in by_iter.items():
            assert value == whole_losses[name][it], (name, it)
    metrics = _last_metrics(broken)
    assert metrics["iteration"] == 7 and metrics["data/skipped"] == 0 and metrics["data/samples_read"] > 0
