"""Load benchmark: the tuner's own overhead with many short trials of a fast fake trainer.

    .venv/bin/python benchmarks/load.py [--trials 2000] [--parallel 32] [--trial-seconds 0.5]
        [--trial-jitter 0.5] [--no-ahead]

Each trial sleeps ``--trial-seconds`` and reports one value through the hypertune file. The
tuner's overhead is the time a slot stands idle between one trial ending and the next one
starting in it: the slots' idle time until the last trial started, divided by the number of
refills (trials after the first wave). It is then expressed as a share of wall time for
10-second trials, ``overhead / (10 + overhead)`` (measured directly with
``--trial-seconds 10``). Also printed: the tuner's CPU time per trial,
the store's size, and suggestion time over the run.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_hptune.ahead import SuggestAhead  # noqa: E402
from tf_hptune.launch import LaunchConfig  # noqa: E402
from tf_hptune.store import State, open_store  # noqa: E402
from tf_hptune.study import Study  # noqa: E402
from tf_hptune.tuner import Tuner  # noqa: E402

TRAINER = """\
import json, os, random, sys, time
seconds = float(sys.argv[sys.argv.index('--seconds') + 1])
jitter = float(sys.argv[sys.argv.index('--jitter') + 1])
time.sleep(seconds * (1 + jitter * (2 * random.random() - 1)))
x = float(next(a for a in sys.argv if a.startswith('--x=')).split('=', 1)[1])
with open(os.environ['CLOUD_ML_HP_METRIC_FILE'], 'a') as f:
    f.write(json.dumps({'global_step': '1', 'loss': str((x - 0.3) ** 2)}) + '\\n')
"""


def config(trials: int, parallel: int, algorithm: str) -> dict:
    return {"hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": trials,
        "maxParallelTrials": parallel, "algorithm": algorithm, "maxFailedTrials": trials,
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0}],
    }}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=2000)
    p.add_argument("--parallel", type=int, default=32)
    p.add_argument("--trial-seconds", type=float, default=0.5)
    p.add_argument("--trial-jitter", type=float, default=0.0,
                   help="each trial sleeps its seconds times 1 +- this (uniform), so that trials "
                        "do not end in waves")
    p.add_argument("--algorithm", default="ALGORITHM_UNSPECIFIED")
    p.add_argument("--no-ahead", action="store_true",
                   help="ask the designer only when slots free up (the tuner before issue 15)")
    args = p.parse_args()
    if args.no_ahead:
        SuggestAhead.prefetch = lambda self: None  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "fast" / "trainer"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "task.py").write_text(TRAINER)
        store_path = Path(tmp) / "store.db"
        study = Study.create(config(args.trials, args.parallel, args.algorithm),
                      store=open_store(store_path), name="load", seed=0)
        suggest_times: list[tuple[int, float]] = []
        designer_suggest = study.designer.suggest

        def timed_suggest(count: int) -> list:
            n = len(study.designer.completed)
            t0 = time.perf_counter()
            out = designer_suggest(count)
            suggest_times.append((n, time.perf_counter() - t0))
            return out

        study.designer.suggest = timed_suggest  # type: ignore[method-assign]
        launch = LaunchConfig("trainer.task", str(pkg), str(Path(tmp) / "out"),
                              user_args=("--seconds", str(args.trial_seconds),
                                         "--jitter", str(args.trial_jitter)))
        done = [0]

        def progress(pr) -> None:
            if pr.done + pr.failed >= done[0] + 200:
                done[0] = pr.done + pr.failed
                print(f"  {done[0]} trials done", file=sys.stderr, flush=True)

        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        state = Tuner(study, launch, on_progress=progress).run()
        wall = time.monotonic() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        trials = study.trials
        n = len(trials)
        busy = sum(t.end_time - t.start_time for t in trials)
        # Idle slot time while trials were still waiting to start, per refill of a slot (the
        # last wave's empty slots are the job's tail, not the tuner's overhead).
        begin = min(t.start_time for t in trials)
        last_start = max(t.start_time for t in trials)
        busy_before = sum(min(t.end_time, last_start) - t.start_time for t in trials
                          if t.start_time < last_start)
        overhead = (args.parallel * (last_start - begin) - busy_before) / (n - args.parallel)
        cpu = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / n
        size = sum(f.stat().st_size for f in Path(tmp).glob("store.db*"))
        assert state is State.SUCCEEDED and all(t.state is State.SUCCEEDED for t in trials)

    rows = [
        ("trials / parallel", f"{n} / {args.parallel}"),
        ("trial sleep", f"{args.trial_seconds:g} s"
                        + (f" +- {100 * args.trial_jitter:g} %" if args.trial_jitter else "")),
        ("suggestions", "when slots free up" if args.no_ahead
         else "computed ahead if the designer is slow"),
        ("wall time", f"{wall:.1f} s"),
        ("mean trial run time (process start to reaped)", f"{busy / n:.3f} s"),
        ("idle slot time per trial (tuner overhead)", f"{overhead * 1000:.0f} ms"),
        ("overhead share for 10 s trials", f"{100 * overhead / (10 + overhead):.2f} %"),
        ("tuner CPU per trial", f"{cpu * 1000:.1f} ms"),
        ("store size (db + wal)", f"{size / 1024:.0f} KiB"),
    ]
    for lo, hi in ((0, 100), (100, 500), (500, 1000), (1000, 1500), (1500, args.trials)):
        window = [s for k, s in suggest_times if lo <= k < hi]
        if window:
            rows.append((f"suggest time with {lo}-{hi} completed (median / p95)",
                         f"{statistics.median(window) * 1000:.1f} / "
                         f"{percentile(window, 0.95) * 1000:.1f} ms"))
    width = max(len(k) for k, _ in rows)
    print(f"\n{'measure':<{width}} | value\n{'-' * width}-|------")
    for k, v in rows:
        print(f"{k:<{width}} | {v}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
