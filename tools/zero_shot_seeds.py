#!/usr/bin/env python
"""Train and evaluate configs on the synthetic benchmark with several seeds; print mIoU mean ± std.

    python tools/zero_shot_seeds.py --shards "datasets/synthetic/train/train-{000000..000011}.tar" \
        --configs configs/pacl/synthetic_tiny.yaml configs/clippy/synthetic_tiny.yaml \
        --seeds 0 1 2 --output output/seeds -- SOLVER.MAX_ITER 150

Every (config, seed) pair is one `train_net.py` run (training, then the zero-shot evaluation of its
DATASETS.TEST, one dataset) in <output>/<config name>/seed<k>; a run whose inference/results.json
exists is not repeated (groupvit_d2.utils.experiments). The arguments after `--` are config
overrides for every run (without `--`, --configs would take them for config files; they are
refused before anything runs).
"""
import argparse
import json
import os
import statistics

from groupvit_d2.utils.experiments import REPO_ROOT as ROOT
from groupvit_d2.utils.experiments import Run, dataset_results, run


def _name(config):
    return os.path.relpath(os.path.splitext(os.path.abspath(config))[0], os.path.join(ROOT, "configs"))


def _run(config, seed, shards, output, opts):
    """{task: {metric: value}} of the run's one evaluation dataset, training it first if needed."""
    run(Run(config, output, ["DATASETS.IMAGE_TEXT.SHARDS", json.dumps([shards]), "SEED", str(seed)] + list(opts)))
    return dataset_results(output)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--shards", required=True, help="webdataset shard pattern of the training captions")
    parser.add_argument("--output", default=os.path.join(ROOT, "output", "seeds"))
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides for every run")
    args = parser.parse_args(argv)
    if args.opts[:1] == ["--"]:
        args.opts = args.opts[1:]
    for config in args.configs:
        if not os.path.isfile(config):
            raise SystemExit(
                f"--configs: {config!r} is not a config file. Config overrides go after '--', as in "
                "--configs A.yaml B.yaml -- SOLVER.MAX_ITER 100"
            )
    if len(args.opts) % 2:
        raise SystemExit(f"config overrides come in KEY VALUE pairs, got {args.opts}")

    lines = ["| config | seeds | mIoU per seed | mIoU mean ± std | Jaccard mean ± std |", "|---|---|---|---|---|"]
    for config in args.configs:
        runs = [
            _run(config, seed, args.shards,
                 os.path.join(args.output, _name(config).replace(os.sep, "_"), f"seed{seed}"), args.opts)
            for seed in args.seeds
        ]
        miou = [r["sem_seg"]["mIoU"] for r in runs]
        jaccard = [r["bottom_up_grouping"]["Jaccard"] for r in runs if "Jaccard" in r.get("bottom_up_grouping", {})]
        per_seed = ", ".join(f"{s:.2f}" for s in miou)
        lines.append(f"| {_name(config)} | {' '.join(map(str, args.seeds))} | {per_seed} | {_mean_std(miou)} | "
                     f"{_mean_std(jaccard) if jaccard else '-'} |")
    print("\n" + "\n".join(lines))
    return lines


def _mean_std(values):
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


if __name__ == "__main__":
    main()
