"""`train_net.py --num-gpus 2` on CPUs (gloo): Detectron2's launcher, DistributedDataParallel, the
loss's gather, the checkpointer and --resume, end to end. Two processes with batch B each, stopped
after a checkpoint and resumed, train like one uninterrupted process with batch 2B."""
import os

import pytest
import torch
import torch.distributed as dist
from detectron2.engine import default_argument_parser

from groupvit_d2.data.synthetic import generate_synthetic_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "groupvit", "tiny.yaml")

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")


def _opts(out_dir, captions="synthetic_train_captions", max_iter=4):
    return [
        "DATASETS.IMAGE_TEXT.NAMES", f'("{captions}",)', "DATASETS.TEST", "()",
        "SEED", "3", "MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0",
        # The global batch of 8 is 4 + 4 with two processes.
        "SOLVER.IMS_PER_BATCH", "8", "SOLVER.MAX_ITER", str(max_iter), "SOLVER.CHECKPOINT_PERIOD", "100",
        # A constant learning rate, so that a run stopped at MAX_ITER 2 and resumed to 4 follows the
        # same schedule as a run to 4.
        "SOLVER.LR_SCHEDULER_NAME", "WarmupMultiStepLR", "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", "0",
        # Plain SGD: AdamW turns the float noise of gradients that are zero in exact arithmetic (biases
        # right before a BatchNorm) into whole learning-rate steps, whose sign depends on summation order.
        "SOLVER.OPTIMIZER", "SGD", "SOLVER.BASE_LR", "0.005",
        # Nothing random per process: no Gumbel noise, no augmentation (64x64 images, 64 crops of scale
        # 1), the caption as the only label, one template.
        "MODEL.GROUPVIT.GUMBEL", "False", "INPUT.IMAGE_TEXT.RAND_AUGMENT", "none",
        "INPUT.IMAGE_TEXT.COLOR_JITTER", "0.0", "INPUT.IMAGE_TEXT.HFLIP", "False",
        "INPUT.IMAGE_TEXT.CROP_SCALE", "[1.0, 1.0]", "INPUT.IMAGE_TEXT.RANDOM_ERASING", "0.0",
        "INPUT.IMAGE_TEXT.LABEL_SOURCES", '["caption"]', "INPUT.IMAGE_TEXT.NUM_LABELS", "1",
        "INPUT.IMAGE_TEXT.TEMPLATES", "identity",
        "OUTPUT_DIR", str(out_dir),
    ]


def _two_processes(data_root, out_dir, *extra, max_iter=4):
    """train_net.py --num-gpus 2 through Detectron2's launcher (two spawned processes, gloo); run from
    here rather than as a command, which spares one interpreter start. Returns rank 0's log."""
    import train_net
    from detectron2.engine import launch

    args = default_argument_parser().parse_args(["--config-file", CONFIG, "--num-gpus", "2", *extra]
                                                + _opts(out_dir, max_iter=max_iter))
    env = {"OMP_NUM_THREADS": "1", "DETECTRON2_DATASETS": str(data_root)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # what the spawned processes start with
    try:
        launch(train_net.main, 2, num_machines=1, machine_rank=0, dist_url="auto", args=(args,))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
    with open(os.path.join(out_dir, "log.txt")) as f:
        return f.read()


def _weights(path):
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint["iteration"], checkpoint["model"]


def _metrics(out_dir):
    import json

    with open(os.path.join(out_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f if line.strip()]


def _stopped_after_two_iterations(out_dir):
    """Turn a finished MAX_ITER 2 run into one stopped after the checkpoint of iteration 1."""
    assert (out_dir / "last_checkpoint").read_text().strip() == "model_final.pth"
    os.replace(out_dir / "model_final.pth", out_dir / "model_0000001.pth")
    (out_dir / "last_checkpoint").write_text("model_0000001.pth")


def test_two_processes_stopped_and_resumed_train_like_one_with_the_global_batch(tmp_path):
    import train_net
    from detectron2.data import DatasetCatalog

    from groupvit_d2.data.datasets.register_synthetic import load_synthetic_captions

    data_root = tmp_path / "data"
    folder = str(data_root / "synthetic")
    generate_synthetic_dataset(folder, seed=0, num_train=16, num_val=2, image_size=64, shard_size=16, workers=1)
    one, two = tmp_path / "one", tmp_path / "two"
    # The spawned processes register synthetic_train_captions under DETECTRON2_DATASETS; this one
    # registers the same files under its own name.
    name = "multiprocess_test_train_captions"
    DatasetCatalog.register(name, lambda: load_synthetic_captions(folder, name))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # One process, stopped and resumed like the two below, so that metrics.json's losses
        # (medians over the iterations a run has done) compare.
        for max_iter, resume in ((2, []), (4, ["--resume"])):
            if resume:
                _stopped_after_two_iterations(one)
            train_net.main(default_argument_parser().parse_args(
                ["--config-file", CONFIG, *resume] + _opts(one, captions=name, max_iter=max_iter)))
    finally:
        torch.set_num_threads(threads)
        DatasetCatalog.remove(name)
    first_half_one = _metrics(one)[0]

    # Two processes: two iterations (the checkpoint of iteration 1), then --resume to the end.
    _two_processes(data_root, two, max_iter=2)
    _stopped_after_two_iterations(two)
    log = _two_processes(data_root, two, "--resume")
    assert "Resuming the training data stream after 2 iterations" in log

    it_one, w_one = _weights(one / "model_final.pth")
    it_two, w_two = _weights(two / "model_final.pth")
    assert it_one == it_two == 3
    _, w_start = _weights(two / "model_0000001.pth")
    assert [row["iteration"] for row in _metrics(two)] == [1, 3]
    # Running variances are left out: Detectron2's NaiveSyncBatchNorm, which the projectors use
    # across processes, keeps the biased variance, BatchNorm in one process the unbiased one.
    trained = [k for k in w_one if not k.endswith(("running_var", "num_batches_tracked"))]
    for key in trained:
        assert torch.allclose(w_two[key].float(), w_one[key].float(), rtol=0, atol=1e-5), key
    assert sum(not torch.equal(w_one[k], w_start[k]) for k in trained) > 50  # the resumed half trained

    for one_row, two_row in zip((first_half_one, _metrics(one)[-1]), _metrics(two)):
        assert one_row["iteration"] == two_row["iteration"]
        for key in ("total_loss", "loss_contrastive", "loss_multi_label"):
            assert two_row[key] == pytest.approx(one_row[key], rel=1e-5), (key, one_row["iteration"])
