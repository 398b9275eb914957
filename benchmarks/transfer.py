"""Transfer benchmark: does learning from a similarly named earlier job help, and does a
misleading one hurt?

    .venv/bin/python benchmarks/transfer.py [--seeds 10] [--trials 20] [--prior-trials 30]

For each family, an earlier job (``<family>_job_1``, the default Bayesian designer,
``--prior-trials`` trials; ``--prior-algorithm RANDOM_SEARCH`` for a cheaper one) runs on the
prior task; then the new job (``<family>_job_2``, the default Bayesian designer,
``--trials`` trials, one at a time) runs on the target task in the same store, once learning
from the earlier job and once with ``enableTransferLearning: False``. Printed: the median over
seeds of the simple regret (best so far minus the optimum) at trials 5, 10 and 20, and of the
worst trial's regret, and in how many seeds the run with the prior was no worse at the last
checkpoint than the run without it (paired by seed). ``--families`` picks some families.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
    """A prior task and a target task (params, objective); ``optimum`` is the target's."""

    name: str
    prior_params: list[dict[str, Any]]
    prior: Objective
    target_params: list[dict[str, Any]]
    target: Objective
    optimum: float


def h3(p: Mapping[str, Any]) -> float:
    return hartmann(vec(p, "x0 x1 x2"), _H3_A, _H3_P)


def h6(p: Mapping[str, Any]) -> float:
    return hartmann(vec(p, "x0 x1 x2 x3 x4 x5"), _H6_A, _H6_P)


FAMILIES = [
    Family("branin_shifted", BRANIN,
           lambda p: 2.0 * branin(vec(p, "x0 x1") + np.array([0.3, -0.4])) + 10.0,
           BRANIN, lambda p: branin(vec(p, "x0 x1")), BRANIN_MIN),
    Family("branin_reranged",
           [BRANIN[0] | {"minValue": -5.0, "maxValue": 4.0}, BRANIN[1]],
           lambda p: branin(vec(p, "x0 x1")),
           [BRANIN[0] | {"minValue": -3.0, "maxValue": 10.0}, BRANIN[1]],
           lambda p: branin(vec(p, "x0 x1")), BRANIN_MIN),
    Family("hartmann6_scaled", box("x0 x1 x2 x3 x4 x5", 0.0, 1.0), lambda p: 3.0 * h6(p) + 1.0,
           box("x0 x1 x2 x3 x4 x5", 0.0, 1.0), h6, -3.32237),
    Family("hartmann3_added_param", box("x0 x1 x2", 0.0, 1.0), h3,
           box("x0 x1 x2 x3", 0.0, 1.0),
           lambda p: h3(p) + 0.5 * (float(p["x3"]) - 0.3) ** 2, -3.86278),
    Family("misleading", BRANIN, lambda p: -branin(vec(p, "x0 x1")),
           BRANIN, lambda p: branin(vec(p, "x0 x1")), BRANIN_MIN),
]


def spec(params: list[dict[str, Any]], trials: int, algorithm: str, transfer: bool) -> dict:
    return {"hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": trials,
        "algorithm": algorithm, "enableTransferLearning": transfer, "params": params}}


def run(family: Family, seed: int, trials: int, prior_trials: int, prior_algorithm: str,
        transfer: bool) -> list[float]:
    """The target job's values, in trial order."""
    store = SqliteStore(":memory:")
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
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--prior-trials", type=int, default=30)
    p.add_argument("--prior-algorithm", default="ALGORITHM_UNSPECIFIED")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--families", nargs="+", choices=[f.name for f in FAMILIES],
                   default=[f.name for f in FAMILIES], help="run only these (default: all)")
    args = p.parse_args()
    chosen = [f for f, family in enumerate(FAMILIES) if family.name in args.families]
    jobs = [(f, s, args.trials, args.prior_trials, args.prior_algorithm, t)
            for f in chosen for s in range(args.seeds) for t in (False, True)]
    results: dict[tuple[int, bool], list[list[float]]] = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for i, (f, _, transfer, values) in enumerate(pool.map(one, jobs)):
            results.setdefault((f, transfer), []).append(values)
            print(f"  {i + 1}/{len(jobs)}", file=sys.stderr, end="\r", flush=True)
    checkpoints = [n for n in (5, 10, 20) if n <= args.trials]
    last = checkpoints[-1]
    head = (["family", "prior"] + [f"regret@{n}" for n in checkpoints]
            + ["worst trial", f"seeds no worse @{last}"])
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for f in chosen:
        family = FAMILIES[f]
        for transfer in (False, True):
            runs = results[(f, transfer)]
            cells = [family.name, "yes" if transfer else "no"]
            for n in checkpoints:
                cells.append(f"{statistics.median(min(v[:n]) - family.optimum for v in runs):.4g}")
            cells.append(f"{statistics.median(max(v) - family.optimum for v in runs):.4g}")
            # paired by seed: runs with and without the prior share the seed's design
            ties = sum(min(a[:last]) <= min(b[:last])
                       for a, b in zip(runs, results[(f, False)], strict=True))
            cells.append(f"{ties}/{len(runs)}" if transfer else "")
            print("| " + " | ".join(cells) + " |")
    print(f"\n(median over {args.seeds} seeds)", file=sys.stderr)


if __name__ == "__main__":
    main()
