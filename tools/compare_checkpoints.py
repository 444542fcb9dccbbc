#!/usr/bin/env python
"""Per-class IoU differences between two checkpoints: a table and a bar plot.

From two finished evaluations (sem_seg_evaluation.pth, or the folders holding them, i.e.
<OUTPUT_DIR>/inference/<dataset>/):
    python tools/compare_checkpoints.py runA/inference/voc21_val runB/inference/voc21_val \
        --names original finetuned --plot voc_diff.png

Or evaluate both checkpoints first (every dataset of DATASETS.TEST; results under --output-dir):
    python tools/compare_checkpoints.py --config-file configs/zero_shot/voc21.yaml \
        --weights original.pth finetuned.pth --output-dir output/compare [KEY VALUE ...]
"""
import argparse
import os

from groupvit_d2.analysis.iou_comparison import (
    RESULTS_FILE,
    compare_per_class_iou,
    format_comparison,
    load_sem_seg_results,
    plot_comparison,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", metavar="RESULTS_OR_OPTS",
                        help="two sem_seg_evaluation.pth files (or their folders); with --config-file, config "
                             "overrides as KEY VALUE pairs")
    parser.add_argument("--config-file", help="evaluate --weights with this config instead of reading results")
    parser.add_argument("--weights", nargs=2, metavar=("A", "B"), help="the two checkpoints to evaluate")
    parser.add_argument("--output-dir", default="output/compare_checkpoints",
                        help="where the evaluations and plots go (with --config-file)")
    parser.add_argument("--names", nargs=2, default=("A", "B"), metavar=("A", "B"), help="column names")
    parser.add_argument("--plot",
                        help="bar plot file (default with --config-file: <output-dir>/<dataset>_iou_diff.png)")
    args = parser.parse_intermixed_args(argv)
    args.results, args.opts = (list(args.inputs), []) if not args.config_file else ([], list(args.inputs))
    if args.config_file and not args.weights:
        parser.error("--config-file needs --weights A B")
    if not args.config_file and len(args.results) != 2:
        parser.error("give two result files (or folders), or --config-file with --weights")
    return args


def evaluate_checkpoints(config_file, weights, names, output_dir, opts):
    """Evaluate both checkpoints on the config's DATASETS.TEST; returns {dataset: (folder a, folder b)}."""
    from groupvit_d2 import load_config
    from groupvit_d2.checkpoint import GroupViTCheckpointer
    from groupvit_d2.engine.trainer import Trainer

    folders = {}
    for name, path in zip(names, weights):
        cfg = load_config(config_file, list(opts) + ["OUTPUT_DIR", os.path.join(output_dir, name)])
        model = Trainer.build_model(cfg)
        GroupViTCheckpointer(model, save_dir=cfg.OUTPUT_DIR).load(path)
        Trainer.test(cfg, model)
        for dataset in cfg.DATASETS.TEST:
            folders.setdefault(dataset, []).append(os.path.join(cfg.OUTPUT_DIR, "inference", dataset))
    return folders


def compare(result_a, result_b, names, plot=None):
    """Print the table of two results (files or folders); save the bar plot when `plot` is set."""
    rows = compare_per_class_iou(load_sem_seg_results(result_a), load_sem_seg_results(result_b))
    print(format_comparison(rows, names))
    if plot:
        print(f"Saved {plot_comparison(rows, plot, names)}")
    return rows


def main(argv=None):
    args = parse_args(argv)
    if not args.config_file:
        return {"": compare(args.results[0], args.results[1], args.names, args.plot)}
    folders = evaluate_checkpoints(args.config_file, args.weights, args.names, args.output_dir, args.opts)
    out = {}
    for dataset, (a, b) in folders.items():
        print(f"\n{dataset} ({os.path.join(a, RESULTS_FILE)} vs {os.path.join(b, RESULTS_FILE)})")
        plot = args.plot if args.plot and len(folders) == 1 else None
        plot = plot or os.path.join(args.output_dir, f"{dataset}_iou_diff.png")
        out[dataset] = compare(a, b, args.names, plot)
    return out


if __name__ == "__main__":
    main()
