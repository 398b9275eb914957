"""CPU sharing benchmark: parallel TensorFlow trials on the CPU with and without their share.

    .venv/bin/python benchmarks/cpu_share.py [--parallel 2] [--trials 4] [--rounds 2]

Runs the same tuning job of the babyweight example (random search, fixed seed, so every mode
trains the same models) in three modes, interleaved over ``--rounds``:
``none`` (``--cpus-per-trial 0``: each trainer sizes its thread pools to the whole machine, as
before), ``threads`` (the default: the cores shared out through OMP_NUM_THREADS and
TensorFlow's intra/inter-op threads) and ``affinity`` (the same, each trial pinned to cores of
its own). Prints each mode's median job time and trials per hour, relative to ``none``.
The trainer runs with ``--num_threads 0`` so that the environment, not its own flag, sizes
TensorFlow's pools.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_hptune import jobs  # noqa: E402
from tf_hptune.spec import load_spec  # noqa: E402
from tf_hptune.store import State, open_store  # noqa: E402

MODES = {"none": {"cpusPerTrial": 0}, "threads": {}, "affinity": {"cpuAffinity": True}}
TRAIN_ARGS = ["--train_examples", "20000", "--num_epochs", "2", "--eval_steps", "20",
              "--num_evals", "2", "--num_threads", "0"]


def run(mode: str, parallel: int, trials: int, tmp: Path, index: int) -> float:
    spec = load_spec({"trainingInput": {**MODES[mode], "hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "rmse", "maxTrials": trials,
        "maxParallelTrials": parallel, "algorithm": "RANDOM_SEARCH",
        "params": [{"parameterName": "nnsize", "type": "DISCRETE",
                    "discreteValues": [32, 64, 128]}]}}})
    name = f"cpu_{mode}_{index + 1}"
    launch = jobs.launch_config("trainer.task",
                                str(ROOT / "trainer_examples" / "babyweight" / "trainer"),
                                str(tmp / name), TRAIN_ARGS, spec.training_input)
    store = open_store(tmp / "store.db")
    jobs.submit(spec, store, name, launch, seed=0)
    start = time.monotonic()
    study = jobs.run(store, name, jobs.RunOptions(poll_interval=0.2))
    seconds = time.monotonic() - start
    assert all(t.state is State.SUCCEEDED for t in study.trials), name
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TF_HPTUNE_DATA_DIR"] = str(Path(tmp) / "data")
        run("threads", 1, 1, Path(tmp), -1)  # untimed: generates the data set
        for i in range(args.rounds):
            for mode in MODES:
                times[mode].append(run(mode, args.parallel, args.trials, Path(tmp), i))
                print(f"  round {i + 1} {mode}: {times[mode][-1]:.1f} s", file=sys.stderr,
                      flush=True)
    base = statistics.median(times["none"])
    print(f"\n{args.trials} babyweight trials, {args.parallel} at once, "
          f"{len(os.sched_getaffinity(0))} cores, {args.rounds} rounds\n")
    print("| mode | job times | median | trials per hour | relative to none |")
    print("| --- | --- | ---: | ---: | ---: |")
    for mode, values in times.items():
        median = statistics.median(values)
        print(f"| {mode} | {', '.join(f'{v:.0f} s' for v in values)} | {median:.0f} s | "
              f"{3600 * args.trials / median:.0f} | {base / median:.2f}x |")


if __name__ == "__main__":
    main()
