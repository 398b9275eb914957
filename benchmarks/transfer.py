"""Transfer benchmark: does learning from a similarly named earlier job help, and does a
misleading one hurt?

    .venv/bin/python benchmarks/transfer.py [--seeds 10] [--first-seed 0] [--trials 20]
        [--prior-trials 30] [--families NAME ...] [--json PATH]
    .venv/bin/python benchmarks/transfer.py --report PATH [--families NAME ...]

For each family, an earlier job (``<family>_job_1``, the default Bayesian designer,
``--prior-trials`` trials; ``--prior-algorithm RANDOM_SEARCH`` for a cheaper one) runs on the
prior task; then the new job (``<family>_job_2``, the default Bayesian designer,
``--trials`` trials, one at a time) runs on the target task in the same store, once learning
from the earlier job and once with ``enableTransferLearning: False``. Printed: the median over
seeds of the simple regret (best so far minus the optimum) at trials 5, 10 and 20, and of the
worst trial's regret, the ratio of the median regrets at the last checkpoint with and without
the prior, and in how many seeds the run with the prior was no worse there than the run
without it (paired by seed). Related families (``RELATED``) should gain from the earlier job,
misleading ones (``MISLEADING``: inverted, mirrored, a shifted optimum, another function under
the same names) should lose little. ``--families`` picks some families. ``--json`` keeps each
run's values in a JSON-lines file and runs only what the file lacks (to add seeds or families
to a saved run); ``--report`` prints the table of such a file.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One BLAS thread per worker process, set before numpy loads: the pool supplies the
# parallelism, and OpenBLAS threads busy-waiting on a loaded machine made each run 9 times as
# costly (measured).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.functions import _H3_A, _H3_P, _H6_A, _H6_P, branin, hartmann  # noqa: E402
from tf_hptune.store import State  # noqa: E402
from tf_hptune.store.sqlite import SqliteStore  # noqa: E402
from tf_hptune.study import Study  # noqa: E402

Objective = Callable[[Mapping[str, Any]], float]


def box(names: str, low: float, high: float) -> list[dict[str, Any]]:
    return [{"parameterName": n, "type": "DOUBLE", "minValue": low, "maxValue": high}
            for n in names.split()]


def vec(p: Mapping[str, Any], names: str) -> np.ndarray:
    return np.array([float(p[n]) for n in names.split()])


BRANIN = [{"parameterName": "x0", "type": "DOUBLE", "minValue": -5.0, "maxValue": 10.0},
          {"parameterName": "x1", "type": "DOUBLE", "minValue": 0.0, "maxValue": 15.0}]
BRANIN_MIN = 0.397887


@dataclass(frozen=True)
class Family:
    """A prior task and a target task (params, objective); ``optimum`` is the target's;
    families with the same ``task`` share their target (and so their runs without a prior)."""

    name: str
    prior_params: list[dict[str, Any]]
    prior: Objective
    target_params: list[dict[str, Any]]
    target: Objective
    optimum: float
    task: str


def h3(p: Mapping[str, Any]) -> float:
    return hartmann(vec(p, "x0 x1 x2"), _H3_A, _H3_P)


def h6(p: Mapping[str, Any]) -> float:
    return hartmann(vec(p, "x0 x1 x2 x3 x4 x5"), _H6_A, _H6_P)


def rosenbrock3(p: Mapping[str, Any]) -> float:
    """Rosenbrock on [-2, 2]^3 read from the unit box: nothing like Hartmann-3's landscape."""
    x = 4.0 * vec(p, "x0 x1 x2") - 2.0
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


BOX3, BOX6 = box("x0 x1 x2", 0.0, 1.0), box("x0 x1 x2 x3 x4 x5", 0.0, 1.0)
H3_MIN, H6_MIN = -3.86278, -3.32237

RELATED = [
    Family("branin_shifted", BRANIN,
           lambda p: 2.0 * branin(vec(p, "x0 x1") + np.array([0.3, -0.4])) + 10.0,
           BRANIN, lambda p: branin(vec(p, "x0 x1")), BRANIN_MIN, "branin"),
    Family("branin_reranged",
           [BRANIN[0] | {"minValue": -5.0, "maxValue": 4.0}, BRANIN[1]],
           lambda p: branin(vec(p, "x0 x1")),
           [BRANIN[0] | {"minValue": -3.0, "maxValue": 10.0}, BRANIN[1]],
           lambda p: branin(vec(p, "x0 x1")), BRANIN_MIN, "branin_reranged"),
    Family("hartmann6_scaled", BOX6, lambda p: 3.0 * h6(p) + 1.0, BOX6, h6, H6_MIN,
           "hartmann6"),
    Family("hartmann3_added_param", BOX3, h3, box("x0 x1 x2 x3", 0.0, 1.0),
           lambda p: h3(p) + 0.5 * (float(p["x3"]) - 0.3) ** 2, H3_MIN, "hartmann3_x3"),
]
# Same names, a task that points elsewhere. ``inverted`` was called ``misleading`` before.
MISLEADING = [
    Family("inverted", BRANIN, lambda p: -branin(vec(p, "x0 x1")),
           BRANIN, lambda p: branin(vec(p, "x0 x1")), BRANIN_MIN, "branin"),
    Family("mirrored", BOX3, lambda p: hartmann(1.0 - vec(p, "x0 x1 x2"), _H3_A, _H3_P),
           BOX3, h3, H3_MIN, "hartmann3"),
    Family("shifted_optimum", BOX6,
           lambda p: hartmann(vec(p, "x0 x1 x2 x3 x4 x5") - 0.3, _H6_A, _H6_P), BOX6, h6,
           H6_MIN, "hartmann6"),
    Family("different_function", BOX3, rosenbrock3, BOX3, h3, H3_MIN, "hartmann3"),
]
FAMILIES = RELATED + MISLEADING


def spec(params: list[dict[str, Any]], trials: int, algorithm: str, transfer: bool) -> dict:
    return {"hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": trials,
        "algorithm": algorithm, "enableTransferLearning": transfer, "params": params}}


def run(family: Family, seed: int, trials: int, prior_trials: int, prior_algorithm: str,
        transfer: bool) -> list[float]:
    """The target job's values, in trial order; without transfer no earlier job is run (the
    new job would ignore it)."""
    store = SqliteStore(":memory:")
    if transfer:
        earlier = Study.create(spec(family.prior_params, prior_trials, prior_algorithm, True),
                               store=store, name=f"{family.name}_job_1", seed=seed + 1000)
        for _ in range(prior_trials):
            (t,) = earlier.suggest(1)
            earlier.complete(t.id, family.prior(t.params), step=1)
        earlier.finish(State.SUCCEEDED)
    study = Study.create(spec(family.target_params, trials, "ALGORITHM_UNSPECIFIED", transfer),
                         store=store, name=f"{family.name}_job_2", seed=seed)
    values = []
    for _ in range(trials):
        (t,) = study.suggest(1)
        values.append(family.target(t.params))
        study.complete(t.id, values[-1], step=1)
    return values


def one(args: tuple[int, int, int, int, str, bool]) -> tuple[int, int, bool, list[float]]:
    f, seed, trials, prior_trials, prior_algorithm, transfer = args
    return f, seed, transfer, run(FAMILIES[f], seed, trials, prior_trials, prior_algorithm,
                                  transfer)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--prior-trials", type=int, default=30)
    p.add_argument("--prior-algorithm", default="ALGORITHM_UNSPECIFIED")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--families", nargs="+", choices=[f.name for f in FAMILIES],
                   default=[f.name for f in FAMILIES], help="run only these (default: all)")
    p.add_argument("--json", default="", help="JSON-lines file of runs: read, then appended")
    p.add_argument("--report", default="", help="print the table of a --json file and exit")
    args = p.parse_args()
    chosen = [f for f, family in enumerate(FAMILIES) if family.name in args.families]
    setting = {"trials": args.trials, "prior_trials": args.prior_trials,
               "prior_algorithm": args.prior_algorithm}
    runs = _load(args.report or args.json, setting)
    if args.report:
        seeds = sorted({seed for (_, _, seed) in runs})
        print(table(chosen, runs, seeds, args.trials))
        return
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    # one run without a prior per task and seed, shared by the families on that task
    plain = {FAMILIES[f].task: f for f in reversed(chosen)}
    jobs = [(f, s, args.trials, args.prior_trials, args.prior_algorithm, t)
            for f in chosen for s in seeds for t in (False, True)
            if (t or plain[FAMILIES[f].task] == f) and _key(FAMILIES[f], t, s) not in runs]
    with ProcessPoolExecutor(args.workers) as pool:
        for i, (f, seed, transfer, values) in enumerate(pool.map(one, jobs)):
            runs[_key(FAMILIES[f], transfer, seed)] = values
            if args.json:
                with open(args.json, "a", encoding="utf-8") as out:
                    out.write(json.dumps({**setting, "family": FAMILIES[f].name,
                                          "task": FAMILIES[f].task, "transfer": transfer,
                                          "seed": seed, "values": values}) + "\n")
            print(f"  {i + 1}/{len(jobs)}", file=sys.stderr, end="\r", flush=True)
    print(table(chosen, runs, seeds, args.trials))
    print(f"\n(median over seeds {seeds[0]}-{seeds[-1]})", file=sys.stderr)


def _key(family: Family, transfer: bool, seed: int) -> tuple[str, bool, int]:
    """Runs with a prior are the family's; runs without one are the task's."""
    return (family.name if transfer else family.task, transfer, seed)


def _load(path: str, setting: dict[str, Any]) -> dict[tuple[str, bool, int], list[float]]:
    """The runs of a --json file made with ``setting`` (none when there is no file)."""
    runs: dict[tuple[str, bool, int], list[float]] = {}
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if all(r[k] == v for k, v in setting.items()):
                    name = r["family"] if r["transfer"] else r["task"]
                    runs[(name, r["transfer"], r["seed"])] = r["values"]
    return runs


def table(chosen: list[int], runs: dict[tuple[str, bool, int], list[float]],
          seeds: list[int], trials: int) -> str:
    """The Markdown table over ``seeds`` (those of each family that have both runs)."""
    checkpoints = [n for n in (5, 10, 20) if n <= trials]
    last = checkpoints[-1]
    head = (["family", "prior"] + [f"regret@{n}" for n in checkpoints]
            + ["worst trial", f"@{last} / no prior", f"seeds no worse @{last}"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f in chosen:
        family = FAMILIES[f]
        have = [s for s in seeds if _key(family, True, s) in runs
                and _key(family, False, s) in runs]
        if not have:
            continue
        without = [runs[_key(family, False, s)] for s in have]
        medians: dict[bool, float] = {}
        for transfer in (False, True):
            values = [runs[_key(family, True, s)] for s in have] if transfer else without
            cells = [family.name, "yes" if transfer else "no"]
            for n in checkpoints:
                medians[transfer] = statistics.median(min(v[:n]) - family.optimum
                                                      for v in values)
                cells.append(f"{medians[transfer]:.4g}")
            cells.append(f"{statistics.median(max(v) - family.optimum for v in values):.4g}")
            # paired by seed: runs with and without the prior share the seed's design
            ties = sum(min(a[:last]) <= min(b[:last]) for a, b in zip(values, without))
            ratio = medians[True] / medians[False] if transfer and medians[False] > 0 else None
            cells += [f"{ratio:.2f}" if ratio is not None else "",
                      f"{ties}/{len(values)}" if transfer else ""]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
