"""Running `train_net.py` over configs and seeds: one subprocess a run, several at once, finished
runs read back instead of repeated, and one results file per run.

Every run's results are `<OUTPUT_DIR>/inference/results.json`, which `train_net.py` writes after
each zero-shot evaluation (at the end of training and with `--eval-only`):
{dataset: {task: {metric: value}}}, e.g. {"voc21_val": {"sem_seg": {"mIoU": 12.3, ...}}}. A run
whose file exists counts as finished, so an interrupted sweep resumes where it stopped. Each run
also leaves `<OUTPUT_DIR>/run.json` (its config, overrides and mode): a finished run made by another
command (e.g. the main job again with another --seed into the same folder) is made again, not read
back.

tools/run_ablations.py, tools/zero_shot_seeds.py and tools/demo_job.py are thin uses of this module.
"""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, NamedTuple, Optional, Sequence

__all__ = ["REPO_ROOT", "TRAIN_NET", "RESULTS_FILE", "RUN_FILE", "Run", "read_results", "dataset_results", "run",
           "run_all"]

# The checkout the package is installed from (editable): train_net.py and configs/ lie there.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_NET = os.path.join(REPO_ROOT, "train_net.py")
RESULTS_FILE = os.path.join("inference", "results.json")
RUN_FILE = "run.json"


class Run(NamedTuple):
    """One `train_net.py` run: `config` with config overrides `opts` (KEY VALUE ...), its results
    under `output_dir`; `eval_only` evaluates (MODEL.WEIGHTS among the opts) instead of training."""

    config: str
    output_dir: str
    opts: Sequence[str] = ()
    eval_only: bool = False

    def command(self) -> List[str]:
        """The command line, with SEED and the rest in `opts` and OUTPUT_DIR last."""
        return ([sys.executable, TRAIN_NET, "--config-file", self.config] + (["--eval-only"] if self.eval_only else [])
                + list(self.opts) + ["OUTPUT_DIR", self.output_dir])

    def record(self) -> dict:
        """What decides a run's results: the config file, the overrides and the mode."""
        return {"config": os.path.abspath(self.config), "opts": [str(o) for o in self.opts],
                "eval_only": bool(self.eval_only)}


def _read_json(path) -> Optional[dict]:
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _write_record(spec: Run):
    path = os.path.join(spec.output_dir, RUN_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump(spec.record(), f, indent=1)
    os.replace(path + ".tmp", path)


def read_results(output_dir) -> Optional[dict]:
    """The results of a finished run ({dataset: {task: {metric: value}}}), None when it has none."""
    return _read_json(os.path.join(output_dir, RESULTS_FILE))


def dataset_results(output_dir, dataset=None) -> Optional[dict]:
    """{task: {metric: value}} of one dataset of a finished run (None when it has no results): the
    named `dataset`, or the run's only one when `dataset` is None."""
    results = read_results(output_dir)
    if results is None:
        return None
    path = os.path.join(output_dir, RESULTS_FILE)
    if dataset is None:
        if len(results) != 1:
            raise RuntimeError(f"{path} holds results of {sorted(results)}; expected exactly one dataset "
                               "(DATASETS.TEST with one entry) or a dataset named")
        return next(iter(results.values()))
    if dataset not in results:
        raise RuntimeError(f"{path} holds no results for {dataset} (has {sorted(results)})")
    return results[dataset]


def run(spec: Run, log_path=None, threads=None, echo=True) -> dict:
    """Run `spec` unless its results exist; returns its results (see read_results).

    Args:
        log_path: file for the run's output; None lets it write to this process's stdout/stderr.
        threads: OMP_NUM_THREADS of the run (None: this process's environment decides).
        echo: print the command line and the time the run took.

    Raises RuntimeError naming the log when the run fails or leaves no results file.
    """
    results = read_results(spec.output_dir)
    recorded = _read_json(os.path.join(spec.output_dir, RUN_FILE))
    if results is not None:
        # A folder without run.json predates the record: its results are taken as they are.
        if recorded is None or recorded == spec.record():
            return results
        if echo:
            print(f"{spec.output_dir} holds the results of another command; running this one there", flush=True)
        os.remove(os.path.join(spec.output_dir, RESULTS_FILE))
    os.makedirs(spec.output_dir, exist_ok=True)
    _write_record(spec)
    cmd = spec.command()
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    if echo:
        print("+ " + " ".join(cmd), flush=True)
    start = time.time()
    if log_path is None:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env)
    else:
        with open(log_path, "w") as log:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    where = f", see {log_path}" if log_path else ""
    if proc.returncode:
        raise RuntimeError(f"run failed (exit {proc.returncode}){where}:\n  " + " ".join(cmd))
    if echo:
        print(f"  {time.time() - start:.0f} s: {spec.output_dir}", flush=True)
    results = read_results(spec.output_dir)
    if results is None:
        raise RuntimeError(f"{spec.output_dir} has no {RESULTS_FILE} after its run{where}: did it evaluate "
                           "DATASETS.TEST?")
    return results


def run_all(specs: Sequence[Run], jobs=1, log_name=None, echo=True) -> List[dict]:
    """run() of every spec, `jobs` at a time, each with one thread when several run together;
    results in the order of `specs`. `log_name`: a file name in each run's output folder for its
    output (None: this process's stdout)."""
    jobs = max(1, int(jobs))
    threads = 1 if jobs > 1 else None

    def one(spec):
        log = os.path.join(spec.output_dir, log_name) if log_name else None
        if log:
            os.makedirs(spec.output_dir, exist_ok=True)
        return run(spec, log, threads=threads, echo=echo)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, specs))
