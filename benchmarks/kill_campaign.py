"""Kill campaign: SIGKILL a job's tuner again and again, at random moments, and check what
survived.

    .venv/bin/python benchmarks/kill_campaign.py [--kills 20] [--trials 60] [--parallel 4]
        [--trial-seconds 1.5] [--seed 0]

A job of ``--trials`` trials of a trainer that always succeeds (3 reports, then exit 0) runs in
a foreground tuner (``jobs submit --wait``, then ``jobs resume``). Once a tuner has taken the
job over (it recorded itself), after a random delay (0 to 2 s), it is killed with SIGKILL;
every other time the campaign then waits until every trial process has ended, so that those
trials end while no tuner runs; then it resumes. After ``--kills`` kills the last tuner runs
the job to its end. Printed: the kills, the trials that ended with no tuner, and what was lost:
trials not SUCCEEDED, trials run twice (more than one start of the trainer), reports missing
from the store, skipped or repeated trial ids, and the store's integrity check. Run it against
another checkout with that checkout first on ``PYTHONPATH``.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tf_hptune.launch import pid_alive
from tf_hptune.store import State, open_store

TRAINER = """\
import json, os, sys, time
job_dir = sys.argv[sys.argv.index('--job-dir') + 1]
os.makedirs(job_dir, exist_ok=True)
with open(os.path.join(job_dir, 'starts.log'), 'a') as f:
    f.write(f"{os.getpid()} {os.getpgid(0)}\\n")
seconds = float(sys.argv[sys.argv.index('--seconds') + 1])
for step in (1, 2, 3):
    time.sleep(seconds / 3)
    with open(os.environ['CLOUD_ML_HP_METRIC_FILE'], 'a') as f:
        f.write(json.dumps({'global_step': str(step), 'loss': str(1.0 / step)}) + '\\n')
"""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tf_hptune.cli", *args]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--trials", type=int, default=60)
    p.add_argument("--parallel", type=int, default=4)
    p.add_argument("--trial-seconds", type=float, default=1.5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="tf_hptune_kills_"))
    (work / "pkg" / "trainer").mkdir(parents=True)
    (work / "pkg" / "trainer" / "__init__.py").write_text("")
    (work / "pkg" / "trainer" / "task.py").write_text(TRAINER)
    (work / "c.yaml").write_text(yaml.safe_dump({"hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": args.trials,
        "maxParallelTrials": args.parallel, "maxFailedTrials": args.trials,
        "algorithm": "RANDOM_SEARCH",
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}]}}))
    db = str(work / "s.db")
    common = ["--store", db, "--poll-interval", "0.1"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    tuner = subprocess.Popen(cli(
        "jobs", "submit", "training", "job", "--config", str(work / "c.yaml"), "--module-name",
        "trainer.task", "--package-path", str(work / "pkg" / "trainer"), "--job-dir",
        str(work / "out"), "--wait", *common, "--", "--seconds", str(args.trial_seconds)),
        **quiet)
    store = open_store(db)
    kills = unwatched = 0
    started = time.monotonic()
    while kills < args.kills:
        while tuner.poll() is None and not any(  # until this tuner has taken the job over
                j.name == "job" and j.tuner_pid == tuner.pid for j in store.list_jobs()):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 2.0))
        if tuner.poll() is not None:
            break
        tuner.send_signal(signal.SIGKILL)
        tuner.wait()
        kills += 1
        if kills % 2 == 0:  # let every trial end while no tuner runs
            pids = [t.pid for t in store.list_trials("job") if t.pid]
            running = [t for t in store.list_trials("job")
                       if t.state is State.RUNNING and t.pid and pid_alive(t.pid)]
            while any(pid_alive(pid) for pid in pids):
                time.sleep(0.05)
            unwatched += len(running)
        tuner = subprocess.Popen(cli("jobs", "resume", "job", "--quiet", *common), **quiet)
    tuner.wait()
    wall = time.monotonic() - started

    trials = store.list_trials("job")
    starts = {t.trial_id: (work / "out" / t.trial_id / "starts.log").read_text().splitlines()
              for t in trials if (work / "out" / t.trial_id / "starts.log").exists()}
    twice = sum(len(lines) > 1 for lines in starts.values())
    missing = sum(3 - len(t.measurements) for t in trials)
    ids = [t.number for t in trials] == list(range(1, len(trials) + 1))
    with sqlite3.connect(db) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    failed = [f"{t.trial_id}: {t.reason}" for t in trials if t.state is not State.SUCCEEDED]
    rows = [
        ("kills (SIGKILL of the tuner)", kills),
        ("trials running at a kill that then ended with no tuner", unwatched),
        ("trials", f"{len(trials)} of {args.trials}"),
        ("job state", store.get_job("job").state.value),
        ("trials not SUCCEEDED", len(failed)),
        ("trials run twice", twice),
        ("reports missing from the store", missing),
        ("trial ids 1..N, none skipped or repeated", ids),
        ("store integrity_check", integrity),
        ("wall time", f"{wall:.1f} s"),
    ]
    print(f"| measure ({os.environ.get('CAMPAIGN_LABEL', 'this checkout')}) | value |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    for line in failed[:5]:
        print(f"  not SUCCEEDED: {line}")


if __name__ == "__main__":
    main()
