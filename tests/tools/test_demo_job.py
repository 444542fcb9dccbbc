"""The README's main job end to end (tools/demo_job.py) at a toy size: generate, train, evaluate
zero-shot, write pictures and print the mIoU next to the most-frequent-class baseline."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_job_runs_end_to_end(tmp_path):
    env = dict(os.environ, DETECTRON2_DATASETS=str(tmp_path / "datasets"), OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "demo_job.py"), "--output", str(tmp_path / "demo"),
         "--num-train", "8", "--num-val", "2", "--pictures", "1",
         "SOLVER.MAX_ITER", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.IMS_PER_BATCH", "4",
         "DATASETS.IMAGE_TEXT.EPOCH_LENGTH", "8", "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", "8",
         "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=1200,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    miou = [l for l in lines if l.startswith("Zero-shot mIoU on synthetic_val:")]
    baseline = [l for l in lines if l.startswith("Most frequent class ('background') everywhere:")]
    assert len(miou) == 1 and len(baseline) == 1
    assert 0.0 <= float(miou[0].split(":")[1].split()[0]) <= 100.0
    pictures = tmp_path / "demo" / "inference" / "synthetic_val" / "pictures"
    assert any(p.name.endswith("_seg.png") for p in pictures.iterdir())
    assert (tmp_path / "demo" / "model_final.pth").is_file()
