"""The service's four-job experiment on the babyweight example, through the CLI.

    .venv/bin/python benchmarks/seed_table.py [--out DIR] [--trials 40] [--more 20]

1. 40 trials, isolated, no early stopping;
2. 40 trials, early stopping, a similar name (learns from job 1);
3. 20 more trials, an independent job with a similar name;
4. job 2 resumed (``resumePreviousJobId``) for 20 trials.
Each job runs `tf-hptune jobs submit training` with the 40-trial config's parameters and
5 trials in parallel, then the table is printed from `jobs describe`. Compute consumed is the
sum of the trials' run times (the jobs' ``consumedMLUnits``, in trial-seconds).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "trainer_examples" / "babyweight" / "trainer"
TRAINER_ARGS = ["--train_examples", "20000", "--eval_steps", "20", "--num_evals", "8"]


def cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tf_hptune.cli", *args], text=True, **kwargs)


def run_job(name: str, hyperparameters: dict[str, Any], work: Path, store: str) -> dict:
    cfg = work / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"trainingInput": {"hyperparameters": hyperparameters}}))
    t0 = time.monotonic()
    # --stream-logs runs the job in the foreground: the next job starts after this one ends
    proc = cli("jobs", "submit", "training", name, "--config", str(cfg),
               "--module-name", "trainer.task", "--package-path", str(PACKAGE),
               "--job-dir", str(work / name), "--store", store, "--stream-logs", "--",
               *TRAINER_ARGS, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    print(f"  {name}: exit {proc.returncode} after {time.monotonic() - t0:.0f} s",
          file=sys.stderr, flush=True)
    return describe(name, store)


def row(job: dict, comment: str) -> list[str]:
    out = job["trainingOutput"]
    finals = [t for t in out["trials"] if "finalMetric" in t and t["state"] == "SUCCEEDED"]
    full = [t for t in finals if not t["isTrialStoppedEarly"]]
    best, worst = finals[0], finals[-1]
    stopped = len(finals) - len(full)
    params = " ".join(f"{k}={v}" for k, v in best["hyperparameters"].items())
    note = comment + (f"; {stopped} stopped early" if stopped else "")
    learned = ", ".join(name[-1] for name in out.get("learnedFromJobs", []))
    note += f"; learned from job {learned}" if learned else ""
    return [job["jobId"][-1], str(len(out["trials"])), f"{out['consumedMLUnits']:.0f}", params,
            f"{best['finalMetric']['objectiveValue']:.4f}",
            f"{worst['finalMetric']['objectiveValue']:.4f}",
            f"{full[-1]['finalMetric']['objectiveValue']:.4f}", note]


def describe(name: str, store: str) -> dict:
    return json.loads(cli("jobs", "describe", name, "--store", store, "--format", "json",
                          capture_output=True, check=True).stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="work directory (default: a temporary one)")
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--more", type=int, default=20)
    p.add_argument("--parallel", type=int, default=5)
    p.add_argument("--table-only", action="store_true",
                   help="print the table of the four jobs already in --out's store")
    args = p.parse_args()
    work = Path(args.out or tempfile.mkdtemp(prefix="seed_table_"))
    work.mkdir(parents=True, exist_ok=True)
    store = str(work / "store.db")
    base = yaml.safe_load((ROOT / "configs" / "hyperparam.yaml").read_text())
    hp = base["trainingInput"]["hyperparameters"]
    hp.update(maxParallelTrials=args.parallel)
    stamp = time.strftime("%Y%m%d_%H%M%S")
    jobs = [
        (f"babyweight_regression_{stamp}_1", dict(hp, maxTrials=args.trials,
                                                  enableTrialEarlyStopping=False),
         "isolated, no early stopping"),
        (f"babyweight_regression_{stamp}_2", dict(hp, maxTrials=args.trials),
         "early stopping, similar name"),
        (f"babyweight_regression_{stamp}_3", dict(hp, maxTrials=args.more),
         "independent, similar name"),
        (f"babyweight_regression_{stamp}_4", {
            "maxTrials": args.more, "maxParallelTrials": args.parallel,
            "enableTrialEarlyStopping": True,
            "resumePreviousJobId": f"babyweight_regression_{stamp}_2"},
         "job 2 resumed"),
    ]
    if args.table_only:
        names = [j["jobId"] for j in json.loads(cli(
            "jobs", "list", "--store", store, "--format", "json", capture_output=True,
            check=True).stdout)]
        rows = [row(describe(name, store), comment)
                for name, (_, _, comment) in zip(sorted(names), jobs)]
    else:
        rows = [row(run_job(name, hyperparameters, work, store), comment)
                for name, hyperparameters, comment in jobs]
    header = ["job", "trials", "compute (trial-s)", "best params", "best RMSE", "worst RMSE",
              "worst RMSE, trials run to the end", "comment"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\nwork directory: {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
