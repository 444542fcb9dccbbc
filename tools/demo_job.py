#!/usr/bin/env python
"""The main job: synthetic benchmark -> tiny GroupViT trained on captions only -> zero-shot mIoU.

1. Generate the synthetic image-text benchmark (deterministic from --seed).
2. Train configs/synthetic/groupvit_tiny.yaml on its captions (train_net.py).
3. Evaluate zero-shot on its labelled val split through SemSegEvaluator, writing the segmentation
   and group pictures of the first images.
4. Print the mIoU next to what predicting the most frequent class scores.

Step 2-3 is one run of groupvit_d2.utils.experiments: a finished run of the same command in
--output is read back, not trained again; another seed or other overrides train again there.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "synthetic", "groupvit_tiny.yaml")


def run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(ROOT, "output", "demo"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-train", type=int, default=6000)
    parser.add_argument("--num-val", type=int, default=200)
    parser.add_argument("--pictures", type=int, default=8, help="images whose pictures are written")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="train_net.py config overrides")
    args = parser.parse_args()

    start = time.time()
    data_root = os.path.join(os.environ.setdefault("DETECTRON2_DATASETS", os.path.join(ROOT, "datasets")), "synthetic")
    run([sys.executable, "tools/generate_synthetic.py", "--root", data_root, "--seed", str(args.seed),
         "--num-train", str(args.num_train), "--num-val", str(args.num_val),
         "--image-size", "96", "--max-image-size", "160", "--workers", "2"])
    with open(os.path.join(data_root, "meta.json")) as f:
        shards = os.path.join(data_root, json.load(f)["train_shards"])

    # groupvit_d2 registers its datasets on import, under DETECTRON2_DATASETS: imported once that is set.
    from groupvit_d2.utils.experiments import Run, dataset_results
    from groupvit_d2.utils.experiments import run as run_experiment

    run_experiment(Run(CONFIG, args.output, ["DATASETS.IMAGE_TEXT.SHARDS", json.dumps([shards]),
                                             "TEST.GROUP_PICTURES", str(args.pictures),
                                             "SEED", str(args.seed)] + args.opts))

    from detectron2.data import MetadataCatalog

    from groupvit_d2.analysis.baselines import most_frequent_class_scores

    eval_dir = os.path.join(args.output, "inference", "synthetic_val")
    scores = dataset_results(args.output, "synthetic_val")["sem_seg"]
    cls, baseline = most_frequent_class_scores("synthetic_val")
    name = MetadataCatalog.get("synthetic_val").stuff_classes[cls]
    ratio = scores["mIoU"] / baseline["mIoU"]
    print()
    print(f"Zero-shot mIoU on synthetic_val: {scores['mIoU']:.2f}  (pixel accuracy {scores['pACC']:.2f})")
    print(f"Most frequent class ('{name}') everywhere: mIoU {baseline['mIoU']:.2f}  -> ratio {ratio:.1f}x")
    print(f"Pictures: {os.path.join(eval_dir, 'pictures')}")
    print(f"Total time: {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
