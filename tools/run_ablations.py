#!/usr/bin/env python
"""Reproduce the structure of the GroupViT paper's ablations (Tables 1-4) on the synthetic benchmark,
with the thesis terms (from the start and as fine-tunes), PACL, CLIPpy and the supervised upper bound.

    python tools/run_ablations.py --seeds 0 1 2 3 4 --jobs 2        # everything, writes docs/RESULTS.md
    python tools/run_ablations.py --tables table1 table3 ...        # some tables
    python tools/run_ablations.py --smoke --output /tmp/abl ...     # one seed, a few iterations

Every setting is a config under configs/ablations/ (the main job's recipe, configs/synthetic/
groupvit_tiny.yaml, with what its table varies) and every (config, seed) pair one `train_net.py` run in
<output>/<config>/seed<k>: training on the synthetic captions, then the zero-shot evaluation
(SemSegEvaluator mIoU and BoundaryIoUEvaluator bIoU) on `synthetic_val`. Fine-tuning rows and the
supervised upper bound start from the main job's run of the same seed, which runs first. Table 4's
plain ViT is trained once a seed and evaluated with each non-parametric grouping (`--eval-only`).
Finished runs are read back, not repeated, so an interrupted regeneration resumes. The results go
between the ablation markers of the results page (the rest of the page is kept): per table, each
row's difference to the table's reference row (paired by seed, with a t interval), a plot, and the
same validation images for every row.
"""
import argparse
import json
import os
import statistics
import textwrap
import time
from typing import NamedTuple, Tuple

from groupvit_d2.utils.experiments import REPO_ROOT as ROOT
from groupvit_d2.utils.experiments import Run, dataset_results, run_all
from groupvit_d2.utils.results_page import section_markers, write_section

CONFIGS = os.path.join(ROOT, "configs", "ablations")
BEGIN, END = section_markers("ablations")
DATASET = "synthetic_val"


class Row(NamedTuple):
    label: Tuple[str, ...]  # the paper table's columns for this row
    config: str  # file under configs/ablations
    grouping: str = ""  # an --eval-only pass with MODEL.GROUPVIT.ZERO_SHOT.GROUPING, "" for the training run's
    paper: str = ""  # the paper's mask mIoU for the row (its scale, not ours)
    init_from: str = ""  # a config whose run of the same seed gives this row's starting weights


class Table(NamedTuple):
    key: str
    title: str
    columns: Tuple[str, ...]
    rows: Tuple[Row, ...]
    reference: Tuple[str, str]  # (config, grouping) of the row every other row is compared with
    boundary: bool = False


TABLES = (
    Table("table1", "Table 1: hard vs soft assignment, with and without the multi-label loss",
          ("assignment", "multi-label loss"), (
              Row(("soft", ""), "one_stage_soft_contrastive", paper="12.0"),
              Row(("hard", ""), "one_stage_contrastive", paper="36.7"),
              Row(("soft", "yes"), "one_stage_soft", paper="25.1"),
              Row(("hard", "yes"), "one_stage", paper="39.3"),
          ), reference=("one_stage", "")),
    Table("table2", "Table 2: number of group and output tokens", ("# group tokens", "# output tokens"), (
        Row(("16", "4"), "one_stage_g16_o4", paper="28.6"),
        Row(("16", "8"), "one_stage_g16_o8", paper="37.1"),
        Row(("32", "8"), "one_stage_g32_o8", paper="38.3"),
        Row(("64", "8"), "one_stage", paper="39.3"),
        Row(("64", "16"), "one_stage_g64_o16", paper="38.0"),
    ), reference=("one_stage", "")),
    Table("table3", "Table 3: single-stage and multi-stage grouping", ("# stages",), (
        Row(("1",), "one_stage", paper="39.3 / 31.6"),
        Row(("2",), "two_stage", paper="41.1 / 33.5"),
    ), reference=("one_stage", ""), boundary=True),
    Table("table4", "Table 4: a plain ViT with non-parametric grouping, and GroupViT", ("arch", "method"), (
        Row(("ViT", "pixel-wise"), "vit_plain", grouping="pixel", paper="20.1"),
        Row(("ViT", "K-means"), "vit_plain", grouping="kmeans", paper="25.0"),
        Row(("ViT", "mean-shift"), "vit_plain", grouping="meanshift", paper="20.7"),
        Row(("ViT", "spectral clustering"), "vit_plain", grouping="spectral", paper="19.7"),
        Row(("GroupViT", "2-stage grouping"), "two_stage", paper="51.2"),
    ), reference=("two_stage", "")),
)
# The thesis terms and the other systems, on the main job's recipe (configs/ablations/main_job.yaml).
TABLES += (
    Table("thesis_scratch", "Thesis terms trained from the start", ("term",), (
        Row(("none (the main job: non-noisy multi-label loss)",), "main_job"),
        Row(("paper's multi-label loss instead",), "scratch_paper_multi_label"),
        Row(("group entropy GE",), "scratch_ge"),
        Row(("label entropy LE",), "scratch_le"),
        Row(("segment-affinity entropy SE",), "scratch_se"),
    ), reference=("main_job", "")),
    Table("thesis_finetune", "Thesis terms as a fine-tune of the main job (80 iterations, Grouping Blocks only)",
          ("term",), (
              Row(("none (control)",), "finetune", init_from="main_job"),
              Row(("non-noisy multi-label loss",), "finetune_non_noisy", init_from="main_job"),
              Row(("group entropy GE",), "finetune_ge", init_from="main_job"),
              Row(("label entropy LE",), "finetune_le", init_from="main_job"),
              Row(("segment-affinity entropy SE",), "finetune_se", init_from="main_job"),
          ), reference=("finetune", "")),
    Table("systems", "GroupViT, PACL and CLIPpy on the same data, and the supervised upper bound", ("system",), (
        Row(("GroupViT (the main job)",), "main_job"),
        Row(("PACL",), "pacl"),
        Row(("CLIPpy",), "clippy"),
        Row(("supervised upper bound (Table 5 protocol)",), "supervised", init_from="main_job"),
    ), reference=("main_job", "")),
)
# The run whose group pictures illustrate the page.
PICTURES_FROM = "two_stage"
# Validation images shown for every row of a table (the first ones of the split, the same for all).
TABLE_PICTURES = 4
INIT_FROM = {r.config: r.init_from for t in TABLES for r in t.rows if r.init_from}
SMOKE_OPTS = ["SOLVER.MAX_ITER", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.IMS_PER_BATCH", "4",
              "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", "8", "DATASETS.IMAGE_TEXT.EPOCH_LENGTH", "8",
              "DATALOADER.NUM_WORKERS", "0"]


def _metrics(output):
    """{"mIoU", "bIoU"} of a finished run on DATASET, None when it has not finished."""
    res = dataset_results(output, DATASET)
    if res is None:
        return None
    return {"mIoU": res["sem_seg"]["mIoU"], "bIoU": res.get("boundary_iou", {}).get("bIoU")}


def training_run(config, seed, args):
    """The training run of `config` with `seed`: group pictures on the first seed, and the starting
    weights of a row that fine-tunes another config's run."""
    pictures = ["TEST.GROUP_PICTURES", str(args.pictures)] if seed == args.seeds[0] else []
    init = INIT_FROM.get(config)
    weights = ["MODEL.WEIGHTS", os.path.join(args.output, init, f"seed{seed}", "model_final.pth")] if init else []
    return Run(os.path.join(CONFIGS, config + ".yaml"), os.path.join(args.output, config, f"seed{seed}"),
               ["DATASETS.IMAGE_TEXT.SHARDS", json.dumps([args.shards])] + weights + pictures + ["SEED", str(seed)]
               + args.opts)


def evaluation_run(config, seed, grouping, args):
    """The --eval-only pass of a trained `config` with MODEL.GROUPVIT.ZERO_SHOT.GROUPING `grouping`."""
    train_dir = os.path.join(args.output, config, f"seed{seed}")
    pictures = ["TEST.GROUP_PICTURES", str(args.pictures)] if seed == args.seeds[0] else []
    return Run(os.path.join(CONFIGS, config + ".yaml"), os.path.join(train_dir, f"eval_{grouping}"),
               ["MODEL.WEIGHTS", os.path.join(train_dir, "model_final.pth"), "MODEL.GROUPVIT.ZERO_SHOT.GROUPING",
                grouping] + pictures + ["SEED", str(seed)] + args.opts, eval_only=True)


def mean_std(values):
    """(mean, sample std) of a list of numbers; std is 0 for a single value."""
    if not values:
        raise ValueError("mean_std of no values")
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def paired_difference(values, reference, confidence=0.95):
    """(mean, low, high, n) of values[i] - reference[i] over the seeds where both ran (None marks
    a run that did not), with Student's t interval; low and high are nan below two pairs."""
    import math

    from scipy import stats

    if len(values) != len(reference):
        raise ValueError(f"paired_difference needs one value a seed on both sides: {len(values)} vs {len(reference)}")
    diffs = [v - r for v, r in zip(values, reference) if v is not None and r is not None]
    if not diffs:
        raise ValueError("paired_difference of no pairs")
    mean = statistics.mean(diffs)
    if len(diffs) < 2:
        return mean, math.nan, math.nan, 1
    half = stats.t.ppf(0.5 + confidence / 2, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return mean, mean - half, mean + half, len(diffs)


def _difference_cell(row, table, metrics):
    if (row.config, row.grouping) == table.reference:
        return "reference"
    values = [r["mIoU"] if r is not None else None for r in metrics[(row.config, row.grouping)]]
    reference = [r["mIoU"] if r is not None else None for r in metrics[table.reference]]
    if not any(v is not None and r is not None for v, r in zip(values, reference)):
        return "-"
    mean, low, high, n = paired_difference(values, reference)
    if n < 2:
        return f"{mean:+.2f} (1 seed)"
    return f"{mean:+.2f} ({low:+.2f} to {high:+.2f})"


def _cell(values):
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}"


def table_markdown(table, metrics, seeds):
    """A markdown table for `table`; metrics maps (config, grouping) -> list of per-seed dicts."""
    head = list(table.columns) + ["mask mIoU"] + (["boundary IoU"] if table.boundary else []) + [
        "difference (95% interval)", "per seed (mIoU)", "paper"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table.rows:
        runs = [r for r in metrics[(row.config, row.grouping)] if r is not None]
        if not runs:
            lines.append("| " + " | ".join(list(row.label) + ["not run"] * (len(head) - len(row.label) - 1)
                                           + [row.paper]) + " |")
            continue
        miou = [r["mIoU"] for r in runs]
        cells = list(row.label) + [_cell(miou)]
        if table.boundary:
            cells.append(_cell([r["bIoU"] for r in runs]))
        cells += [_difference_cell(row, table, metrics), ", ".join(f"{v:.2f}" for v in miou), row.paper]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Configs: " + ", ".join(sorted({f"`configs/ablations/{r.config}.yaml`" for r in table.rows}))
                 + f"; seeds {' '.join(map(str, seeds))}; mean ± sample standard deviation over the seeds"
                 " that ran (the per-seed column lists them). The difference is the row's mask mIoU minus the"
                 " reference row's, paired by seed, with Student's t 95% interval.")
    return "\n".join(lines)


def plot_table(table, metrics, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [" / ".join(x for x in r.label if x) or "-" for r in table.rows]
    keys = ["mIoU"] + (["bIoU"] if table.boundary else [])
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names), 3.2))
    width = 0.8 / len(keys)
    for k, key in enumerate(keys):
        stats = [mean_std([r[key] for r in metrics[(row.config, row.grouping)] if r is not None] or [0.0])
                 for row in table.rows]
        xs = [i + (k - (len(keys) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, [s[0] for s in stats], width, yerr=[s[1] for s in stats], capsize=3,
               label="mask mIoU" if key == "mIoU" else "boundary IoU")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8, rotation=15)
    ax.set_ylabel("%")
    ax.set_title(table.title.split(":")[0], fontsize=9)
    if len(keys) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def collect_pictures(args, target):
    """Concatenate the first group pictures of the pictures run into one strip; False if none."""
    import numpy as np
    from PIL import Image

    folder = os.path.join(args.output, PICTURES_FROM, f"seed{args.seeds[0]}", "inference", DATASET, "pictures")
    if not os.path.isdir(folder):
        return False
    rows = []
    for stem in sorted({f.rsplit("_", 1)[0] for f in os.listdir(folder) if f.endswith("_seg.png")})[:4]:
        names = [f"{stem}_seg.png"] + sorted(f for f in os.listdir(folder) if f.startswith(stem + "_groups_stage"))
        images = [np.asarray(Image.open(os.path.join(folder, n)).convert("RGB")) for n in names]
        height = min(i.shape[0] for i in images)
        rows.append(np.concatenate([i[:height] for i in images], axis=1))
    if not rows:
        return False
    width = min(r.shape[1] for r in rows)
    Image.fromarray(np.concatenate([r[:, :width] for r in rows], axis=0)).save(target)
    return True


def _pictures_folder(args, config, grouping):
    run = evaluation_run(config, args.seeds[0], grouping, args) if grouping else training_run(config, args.seeds[0], args)
    return os.path.join(run.output_dir, "inference", DATASET, "pictures")


def table_pictures(table, args, target):
    """One strip per row of `table`, stacked: for the same first validation images, the row's
    segmentation and its last stage's groups (a plain ViT has no groups: its segmentation only),
    from the first seed's run. False when no row has pictures."""
    import numpy as np
    from PIL import Image, ImageDraw

    strips, width = [], 0
    for row in table.rows:
        folder = _pictures_folder(args, row.config, row.grouping)
        if not os.path.isdir(folder):
            continue
        files = os.listdir(folder)
        tiles = []
        for stem in sorted({f[:-len("_seg.png")] for f in files if f.endswith("_seg.png")})[:TABLE_PICTURES]:
            groups = sorted(f for f in files if f.startswith(stem + "_groups_stage"))
            for name in [f"{stem}_seg.png"] + groups[-1:]:
                tiles.append(np.asarray(Image.open(os.path.join(folder, name)).convert("RGB").resize((160, 160))))
        if not tiles:
            continue
        caption = Image.new("RGB", (170, 160), "white")
        lines = [line for x in row.label if x for line in textwrap.wrap(x, 26)]
        ImageDraw.Draw(caption).multiline_text((4, 50), "\n".join(lines), fill="black")
        strips.append(np.concatenate([np.asarray(caption)] + tiles, axis=1))
        width = max(width, strips[-1].shape[1])
    if not strips:
        return False
    strips = [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    Image.fromarray(np.concatenate(strips, axis=0)).save(target)
    return True


def write_page(page, section):
    """Replace the ablation section of `page` (between the markers), or append it."""
    write_section(page, "ablations", section)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", default=None,
                        help="training shard pattern (default: from $DETECTRON2_DATASETS/synthetic/meta.json)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--tables", nargs="+", default=[t.key for t in TABLES], choices=[t.key for t in TABLES])
    parser.add_argument("--output", default=os.path.join(ROOT, "output", "ablations"))
    parser.add_argument("--page", default=os.path.join(ROOT, "docs", "RESULTS.md"))
    parser.add_argument("--figures", default=None, help="folder of the plots (default: <page dir>/results)")
    parser.add_argument("--pictures", type=int, default=4, help="group pictures written by the pictures run")
    parser.add_argument("--smoke", action="store_true", help="one seed, a few iterations: checks the pipeline")
    parser.add_argument("--collect-only", action="store_true",
                        help="run nothing: write the page from the runs that have finished")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides for every run")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds = args.seeds[:1]
        args.opts = SMOKE_OPTS + args.opts
    if args.shards is None:
        meta = os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), "synthetic", "meta.json")
        if not os.path.isfile(meta):
            raise SystemExit(f"{meta} not found: generate the benchmark (tools/generate_synthetic.py) or pass --shards")
        with open(meta) as f:
            args.shards = os.path.join(os.path.dirname(meta), json.load(f)["train_shards"])
    tables = [t for t in TABLES if t.key in args.tables]
    figures = args.figures or os.path.join(os.path.dirname(os.path.abspath(args.page)), "results")
    os.makedirs(figures, exist_ok=True)

    # Training runs first (one per config and seed), then the extra --eval-only passes.
    settings = sorted({(r.config, r.grouping) for t in tables for r in t.rows}, key=lambda s: (s[1] != "", s))
    # A row that starts from another config's run needs that run, of every seed, first.
    configs = {c for c, _ in settings} | {INIT_FROM[c] for c, _ in settings if c in INIT_FROM}
    trains = sorted((c, s) for c in configs for s in args.seeds)
    start = time.time()
    if not args.collect_only:
        for later in (False, True):
            run_all([training_run(c, s, args) for c, s in trains if (c in INIT_FROM) == later], jobs=args.jobs,
                    log_name="run.log")
        run_all([evaluation_run(c, s, g, args) for c, g in settings if g for s in args.seeds], jobs=args.jobs,
                log_name="run.log")
    metrics = {(c, g): [_metrics(evaluation_run(c, s, g, args).output_dir if g else
                                 training_run(c, s, args).output_dir) for s in args.seeds]
               for c, g in settings}
    elapsed = time.time() - start

    parts = ["## Ablations at small scale (GroupViT paper, Tables 1-4; thesis terms; PACL and CLIPpy)", "",
             "Regenerate with `python tools/run_ablations.py --seeds " + " ".join(map(str, args.seeds))
             + " --jobs 2`" + (" (smoke run)" if args.smoke else "")
             + (f", overrides `{' '.join(args.opts)}`" if args.opts else "") + ". "
             "Each row trains the config on the synthetic captions and evaluates it zero-shot on `synthetic_val` "
             "(200 images, 13 classes, background included) with `SemSegEvaluator` and `BoundaryIoUEvaluator`. "
             "The paper's column is its PASCAL VOC mask mIoU (CC12M, 1-stage unless stated), for the order only."]
    for table in tables:
        plot = os.path.join(figures, f"ablation_{table.key}.png")
        plot_table(table, metrics, plot)
        parts += ["", f"### {table.title}", "", table_markdown(table, metrics, args.seeds), "",
                  f"![{table.title}]({os.path.relpath(plot, os.path.dirname(os.path.abspath(args.page)))})"]
        pictures = os.path.join(figures, f"ablation_{table.key}_groups.png")
        if table_pictures(table, args, pictures):
            parts += ["", f"The same {TABLE_PICTURES} validation images for each row (seed {args.seeds[0]}): the "
                      "segmentation, then the last stage's groups.", "",
                      f"![{table.title}, groups]({os.path.relpath(pictures, os.path.dirname(os.path.abspath(args.page)))})"]
    strip = os.path.join(figures, "ablation_groups.png")
    if collect_pictures(args, strip):
        parts += ["", "### Example groups", "",
                  f"`configs/ablations/{PICTURES_FROM}.yaml`, seed {args.seeds[0]}: segmentation, then the "
                  "groups of each stage.", "",
                  f"![groups]({os.path.relpath(strip, os.path.dirname(os.path.abspath(args.page)))})"]
    write_page(args.page, "\n".join(parts))
    print(f"wrote {args.page} and the plots in {figures} ({elapsed:.0f} s of runs)")
    return metrics


if __name__ == "__main__":
    main()
