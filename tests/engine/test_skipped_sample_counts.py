"""Skipped training samples reach metrics.json at every log period and a summary at the end."""
import io
import json
import logging
import os

import numpy as np
import torch
import webdataset as wds
from detectron2.engine import default_argument_parser
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _jpeg(seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG")
    return buf.getvalue()


def test_counts_in_the_event_storage_and_a_summary(tmp_path):
    import train_net

    shard = tmp_path / "odd-000000.tar"
    with wds.TarWriter(str(shard), encoder=False) as writer:
        # The unusable samples come first, so that the first batches step over them.
        writer.write({"__key__": "corrupt", "jpg": b"\xff\xd8 broken", "txt": b"a ball"})
        writer.write({"__key__": "empty", "jpg": _jpeg(1), "txt": b"   "})
        writer.write({"__key__": "nocaption", "jpg": _jpeg(2)})
        for i in range(12):
            writer.write({"__key__": f"good{i:02d}", "jpg": _jpeg(10 + i), "txt": f"a red ball number {i}".encode()})
    out = tmp_path / "out"
    args = default_argument_parser().parse_args(
        ["--config-file", os.path.join(ROOT, "configs", "groupvit", "tiny.yaml"),
         "DATASETS.IMAGE_TEXT.SHARDS", f'["{shard}"]', "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", "0",
         "DATASETS.TEST", "()", "MODEL.DEVICE", "cpu", "SOLVER.IMS_PER_BATCH", "4", "SOLVER.MAX_ITER", "2",
         "SOLVER.CHECKPOINT_PERIOD", "100", "DATALOADER.NUM_WORKERS", "0", "INPUT.IMAGE_TEXT.RAND_AUGMENT", "none",
         "SEED", "1", "OUTPUT_DIR", str(out)])
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    cfg = train_net.setup(args)
    logger = logging.getLogger("groupvit_d2")
    handler = Collect(level=logging.INFO)
    logger.addHandler(handler)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = train_net.Trainer(cfg)
        trainer.resume_or_load(resume=False)
        trainer.train()
    finally:
        logger.removeHandler(handler)
        torch.set_num_threads(threads)

    dataset = trainer.data_loader.dataset
    assert dataset.skipped["corrupt_image"] == 1 and dataset.skipped["empty_caption"] == 1
    assert dataset.skipped["missing_caption"] == 1
    with open(out / "metrics.json") as f:
        metrics = [json.loads(line) for line in f if line.strip()][-1]
    assert metrics["iteration"] == 1
    assert metrics["data/skipped/corrupt_image"] == 1
    assert metrics["data/skipped/empty_caption"] == 1
    assert metrics["data/skipped/missing_caption"] == 1
    assert metrics["data/skipped"] == 3
    assert metrics["data/samples_read"] == dataset.counter.seen >= 11
    summary = [line for line in lines if "Image-text data over the whole run" in line]
    assert len(summary) == 1 and "3 skipped" in summary[0] and "'corrupt_image': 1" in summary[0]
