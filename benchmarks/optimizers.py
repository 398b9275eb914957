"""Side-by-side benchmark of the default (Bayesian) designer against other optimizers.

    .venv/bin/python benchmarks/optimizers.py [--quick] [--seeds N] [--functions a,b]
        [--budget 40x5,100x1] [--optimizers ...] [--timing] [--workers 2] [--json PATH]
    .venv/bin/python benchmarks/optimizers.py --report PATH   # the tables of a saved run
    .venv/bin/python benchmarks/optimizers.py --async --budget 40x5,64x16   # points ahead

Every optimizer runs through the same ask/tell loop: ask a batch, evaluate it, tell the
values, until the budget is spent (``40x5``: 40 trials in batches of 5; ``100x1``: 100, one at
a time). The final regret of a run is the noise-free value at the trial with the best observed
value, minus the global minimum. Printed: median final regret per function and optimizer, and
the average rank (the mean over functions and seeds of each optimizer's rank among the
optimizers on that run, ties shared). ``--timing`` instead measures the time of one suggestion
(ask and tell) at 40, 100 and 200 trials of history on Hartmann-6, and for ours after 1,000
and 10,000 random trials. ``--async`` runs ours as the Tuner does, refilling each slot as its
trial ends, with every result known against the results that points computed ahead may miss,
paired by seed.
The comparison libraries are in ``benchmarks/requirements.txt``, not the package's deps.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from functions import Function, suite  # noqa: E402

from tf_hptune.ahead import stale_after  # noqa: E402
from tf_hptune.algorithms import BayesianDesigner, RandomDesigner  # noqa: E402
from tf_hptune.space import SearchSpace  # noqa: E402
from tf_hptune.spec import load_spec  # noqa: E402
from tf_hptune.trial import Trial  # noqa: E402

Point = dict[str, Any]


# -- optimizers behind one ask/tell interface ------------------------------------------------

class Optimizer:
    """``ask(n)`` returns n typed points (as our space types them); ``tell`` their values."""

    def __init__(self, function: Function, seed: int) -> None:
        self.function, self.seed = function, seed

    def set_budget(self, total: int) -> None:
        """The run's number of trials, as the Tuner passes ``maxTrials``: only ours uses it."""

    def ask(self, count: int) -> list[Point]:
        raise NotImplementedError

    def tell(self, points: Sequence[Point], values: Sequence[float]) -> None:
        raise NotImplementedError


class Ours(Optimizer):
    designer_type: Callable[..., Any] = BayesianDesigner

    def __init__(self, function: Function, seed: int) -> None:
        super().__init__(function, seed)
        spec = load_spec({"hyperparameters": {"params": function.params, "goal": "MINIMIZE"}})
        self.designer = self.designer_type(SearchSpace.from_spec(spec), spec.goal, seed)
        self.trials: list[Trial] = []

    def set_budget(self, total: int) -> None:
        self.designer.set_budget(total)

    def ask(self, count: int) -> list[Point]:
        self.designer.update(self.trials, [])
        return self.designer.suggest(count)

    def tell(self, points: Sequence[Point], values: Sequence[float]) -> None:
        for p, v in zip(points, values):
            self.trials.append(Trial(str(len(self.trials) + 1), p, value=float(v)))


class Random(Ours):
    designer_type = RandomDesigner


def _discrete_values(spec: dict[str, Any]) -> list[Any]:
    return [int(v) if float(v).is_integer() else float(v) for v in spec["discreteValues"]]


class _Translated(Optimizer):
    """A library optimizer over the same space: DISCRETE becomes an ordinal index (how a user
    passes uneven values such as batch sizes), log scales stay log scales."""

    def to_point(self, raw: dict[str, Any]) -> Point:
        out = {}
        for spec in self.function.params:
            name, value = spec["parameterName"], raw[spec["parameterName"]]
            if spec["type"] == "DISCRETE":
                value = _discrete_values(spec)[int(round(value))]
            elif spec["type"] == "INTEGER":
                value = int(np.clip(round(value), spec["minValue"], spec["maxValue"]))
            elif spec["type"] == "DOUBLE":
                value = float(np.clip(value, spec["minValue"], spec["maxValue"]))
            out[name] = value
        return out

    def from_point(self, point: Point) -> dict[str, Any]:
        out = dict(point)
        for spec in self.function.params:
            if spec["type"] == "DISCRETE":
                name = spec["parameterName"]
                out[name] = _discrete_values(spec).index(point[name])
        return out


class Optuna(_Translated):
    def __init__(self, function: Function, seed: int) -> None:
        super().__init__(function, seed)
        import optuna
        from optuna import distributions as D

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.distributions: dict[str, Any] = {}
        for spec in function.params:
            log = spec.get("scaleType") == "UNIT_LOG_SCALE"
            kind, name = spec["type"], spec["parameterName"]
            if kind == "DOUBLE":
                dist: Any = D.FloatDistribution(spec["minValue"], spec["maxValue"], log=log)
            elif kind == "INTEGER":
                dist = D.IntDistribution(spec["minValue"], spec["maxValue"], log=log)
            elif kind == "DISCRETE":
                dist = D.IntDistribution(0, len(spec["discreteValues"]) - 1)
            else:
                dist = D.CategoricalDistribution(spec["categoricalValues"])
            self.distributions[name] = dist
        self.study = optuna.create_study(sampler=self.sampler(seed))
        self.pending: list[Any] = []

    def sampler(self, seed: int) -> Any:
        raise NotImplementedError

    def ask(self, count: int) -> list[Point]:
        self.pending = [self.study.ask(self.distributions) for _ in range(count)]
        return [self.to_point(t.params) for t in self.pending]

    def tell(self, points: Sequence[Point], values: Sequence[float]) -> None:
        for trial, value in zip(self.pending, values):
            self.study.tell(trial, float(value))


class OptunaTPE(Optuna):
    def sampler(self, seed: int) -> Any:
        import optuna

        return optuna.samplers.TPESampler(seed=seed, multivariate=True)


class OptunaGP(Optuna):
    def sampler(self, seed: int) -> Any:
        import optuna

        return optuna.samplers.GPSampler(seed=seed)


class Skopt(_Translated):
    def __init__(self, function: Function, seed: int) -> None:
        super().__init__(function, seed)
        from skopt import Optimizer as SkOptimizer
        from skopt.space import Categorical, Integer, Real

        dims = []
        for spec in function.params:
            prior = "log-uniform" if spec.get("scaleType") == "UNIT_LOG_SCALE" else "uniform"
            kind, name = spec["type"], spec["parameterName"]
            if kind == "DOUBLE":
                dims.append(Real(spec["minValue"], spec["maxValue"], prior=prior, name=name))
            elif kind == "INTEGER":
                dims.append(Integer(spec["minValue"], spec["maxValue"], prior=prior, name=name))
            elif kind == "DISCRETE":
                dims.append(Integer(0, len(spec["discreteValues"]) - 1, name=name))
            else:
                dims.append(Categorical(spec["categoricalValues"], name=name))
        self.names = [d.name for d in dims]
        self.optimizer = SkOptimizer(dims, base_estimator="GP", random_state=seed)

    def ask(self, count: int) -> list[Point]:
        raw = self.optimizer.ask(n_points=count) if count > 1 else [self.optimizer.ask()]
        return [self.to_point(dict(zip(self.names, x))) for x in raw]

    def tell(self, points: Sequence[Point], values: Sequence[float]) -> None:
        xs = [[self.from_point(p)[n] for n in self.names] for p in points]
        self.optimizer.tell(xs, [float(v) for v in values])


class Hyperopt(_Translated):
    def __init__(self, function: Function, seed: int) -> None:
        super().__init__(function, seed)
        from hyperopt import Trials, base, hp

        space = {}
        for spec in function.params:
            kind, name = spec["type"], spec["parameterName"]
            log = spec.get("scaleType") == "UNIT_LOG_SCALE"
            if kind in ("DOUBLE", "INTEGER"):
                low, high = spec["minValue"], spec["maxValue"]
                if kind == "INTEGER":
                    low, high = low - 0.5, high + 0.5
                space[name] = (hp.loguniform(name, math.log(low), math.log(high)) if log
                               else hp.uniform(name, low, high))
            elif kind == "DISCRETE":
                space[name] = hp.uniformint(name, 0, len(spec["discreteValues"]) - 1)
            else:
                space[name] = hp.choice(name, spec["categoricalValues"])
        self.space = space
        self.domain = base.Domain(lambda _: 0.0, space)
        self.trials = Trials()
        self.rng = np.random.default_rng(seed)
        self.pending: list[dict[str, Any]] = []

    def ask(self, count: int) -> list[Point]:
        from hyperopt import space_eval, tpe

        ids = self.trials.new_trial_ids(count)
        docs = tpe.suggest(ids, self.domain, self.trials, int(self.rng.integers(2**31)))
        self.trials.insert_trial_docs(docs)
        self.trials.refresh()
        self.pending = [d for d in self.trials._dynamic_trials if d["tid"] in set(ids)]
        out = []
        for doc in self.pending:
            vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if v}
            out.append(self.to_point(space_eval(self.space, vals)))
        return out

    def tell(self, points: Sequence[Point], values: Sequence[float]) -> None:
        from hyperopt import JOB_STATE_DONE, STATUS_OK

        for doc, value in zip(self.pending, values):
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"loss": float(value), "status": STATUS_OK}
        self.trials.refresh()


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "ours": Ours, "random": Random, "optuna-tpe": OptunaTPE, "optuna-gp": OptunaGP,
    "skopt-gp": Skopt, "hyperopt-tpe": Hyperopt,
}
NEEDS = {"optuna-tpe": ("optuna",), "optuna-gp": ("optuna", "torch"), "skopt-gp": ("skopt",),
         "hyperopt-tpe": ("hyperopt",)}  # the library each comparison needs


def installed(name: str) -> bool:
    """Whether the libraries that optimizer ``name`` runs on can be imported here."""
    return all(importlib.util.find_spec(module) is not None for module in NEEDS.get(name, ()))


# -- runs --------------------------------------------------------------------------------------

def run(function: Function, optimizer: str, seed: int, total: int, batch: int,
        clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """One optimisation run; returns its final regret and the optimizer's time per point of
    each batch (ask and tell: scikit-optimize, for one, fits its model in ``tell``)."""
    opt = OPTIMIZERS[optimizer](function, seed)
    opt.set_budget(total)
    noise = np.random.default_rng(seed + 10_000)
    observed: list[float] = []
    true: list[float] = []
    ask_seconds: list[tuple[int, float]] = []
    while len(observed) < total:
        count = min(batch, total - len(observed))
        start = clock()
        points = opt.ask(count)
        seconds = clock() - start
        values = [function.objective(p) for p in points]
        noisy = [v + function.noise * noise.standard_normal() for v in values]
        start = clock()
        opt.tell(points, noisy)
        seconds += clock() - start
        ask_seconds.append((len(observed), seconds / count))
        observed += noisy
        true += values
    regret = max(true[int(np.argmin(observed))] - function.optimum, 0.0)
    return {"function": function.name, "optimizer": optimizer, "seed": seed,
            "budget": f"{total}x{batch}", "regret": regret, "ask_seconds": ask_seconds}


def run_async(function: Function, mode: str, seed: int, total: int, parallel: int
              ) -> dict[str, Any]:
    """One run of the default designer as the Tuner drives it: ``parallel`` trials at once,
    each slot refilled as its trial ends (durations drawn around one unit of time). ``sync``:
    each refill knows every result so far; ``ahead``: each refill misses the results of the
    last ``stale_after(parallel)`` trials to end (counted as running), the most a point
    computed ahead may miss (``tf_hptune.ahead``)."""
    spec = load_spec({"hyperparameters": {"params": function.params, "goal": "MINIMIZE"}})
    designer = BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, seed)
    designer.set_budget(total)
    noise = np.random.default_rng(seed + 10_000)
    durations = np.random.default_rng(seed + 20_000)
    missed = stale_after(parallel) if mode == "ahead" else 0
    ended: list[tuple[Point, float, float]] = []  # (point, observed, true), in order of ending
    running: list[tuple[float, Point]] = []  # (end time, point)
    now = 0.0

    def ask(count: int) -> list[Point]:
        known, late = ended[:len(ended) - missed], ended[len(ended) - missed:]
        designer.update([Trial(str(i), p, value=o) for i, (p, o, _) in enumerate(known)],
                        [Trial(f"r{i}", p) for i, p in enumerate(
                            [p for _, p in running] + [p for p, _, _ in late])])
        return designer.suggest(count)

    started = 0
    for point in ask(min(parallel, total)):
        running.append((now + float(durations.lognormal(0.0, 0.3)), point))
        started += 1
    while running:
        running.sort(key=lambda r: r[0])
        now, point = running.pop(0)
        value = function.objective(point)
        ended.append((point, value + function.noise * noise.standard_normal(), value))
        if started < total:
            for new in ask(1):
                running.append((now + float(durations.lognormal(0.0, 0.3)), new))
                started += 1
    observed = [o for _, o, _ in ended]
    regret = max(ended[int(np.argmin(observed))][2] - function.optimum, 0.0)
    return {"function": function.name, "optimizer": f"ours-{mode}", "seed": seed,
            "budget": f"{total}x{parallel}", "regret": regret, "ask_seconds": []}


def paired(results: list[dict[str, Any]], a: str, b: str) -> str:
    """``b`` against ``a`` on the same (function, seed, budget) runs: wins, losses, the
    Wilcoxon signed-rank test on log regret and the geometric mean of the regret ratio."""
    from scipy.stats import wilcoxon

    lines = []
    for budget in sorted({r["budget"] for r in results}):
        table = {(r["function"], r["seed"], r["optimizer"]): r["regret"] for r in results
                 if r["budget"] == budget}
        pairs = [(table[f, s, a], table[f, s, b]) for (f, s, o) in table
                 if o == a and (f, s, b) in table]
        if not pairs:
            continue
        floor = 1e-12  # a regret of 0 (the optimum found) compared on a log scale
        logs = np.array([math.log(max(y, floor)) - math.log(max(x, floor)) for x, y in pairs])
        better, worse = int((logs < 0).sum()), int((logs > 0).sum())
        p = wilcoxon(logs).pvalue if better + worse else 1.0
        lines.append(f"{budget}: {b} against {a} over {len(pairs)} paired runs: better in "
                     f"{better}, worse in {worse}, Wilcoxon signed-rank on log regret p = "
                     f"{p:.2f}, geometric mean of the regret ratio {math.exp(logs.mean()):.2f}")
    return "\n".join(lines)


def _limit_threads() -> None:
    """One BLAS / torch thread per worker process: the pool supplies the parallelism."""
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(1)
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _task(args: tuple[str, str, int, int, int]) -> dict[str, Any]:
    name, optimizer, seed, total, batch = args
    function = {f.name: f for f in suite()}[name]
    if optimizer in ASYNC_MODES:
        return run_async(function, optimizer.removeprefix("ours-"), seed, total, batch)
    return run(function, optimizer, seed, total, batch)


ASYNC_MODES = ("ours-sync", "ours-ahead")


# -- reports -----------------------------------------------------------------------------------

def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1 (smallest), ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):
        tied = values == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def report(results: list[dict[str, Any]], optimizers: list[str]) -> str:
    """Median regret tables and average ranks, per budget, as Markdown."""
    lines: list[str] = []
    for budget in sorted({r["budget"] for r in results}, key=lambda b: int(b.split("x")[1]),
                         reverse=True):
        rows = [r for r in results if r["budget"] == budget]
        functions = list(dict.fromkeys(r["function"] for r in rows))
        table = {(r["function"], r["optimizer"], r["seed"]): r["regret"] for r in rows}
        lines += [f"### Budget {budget} (trials x batch): median final regret", "",
                  "| function | " + " | ".join(optimizers) + " |",
                  "| --- |" + " ---: |" * len(optimizers)]
        rank_sum = dict.fromkeys(optimizers, 0.0)
        runs = 0
        wins_gp = wins_random = 0
        for fn in functions:
            seeds = sorted({s for (f, _, s) in table if f == fn})
            medians = {o: float(np.median([table[fn, o, s] for s in seeds
                                           if (fn, o, s) in table])) for o in optimizers}
            best = min(medians.values())
            cells = [(f"**{medians[o]:.3g}**" if medians[o] == best else f"{medians[o]:.3g}")
                     for o in optimizers]
            lines.append(f"| {fn} | " + " | ".join(cells) + " |")
            if "ours" in medians:
                wins_gp += medians["ours"] < medians.get("optuna-gp", -math.inf)
                wins_random += medians["ours"] < medians.get("random", -math.inf)
            for s in seeds:
                if all((fn, o, s) in table for o in optimizers):
                    ranks = _ranks(np.array([table[fn, o, s] for o in optimizers]))
                    for o, rank in zip(optimizers, ranks):
                        rank_sum[o] += rank
                    runs += 1
        lines += ["", f"Average rank over {runs} runs ({len(functions)} functions): "
                  + ", ".join(f"{o} {rank_sum[o] / max(runs, 1):.2f}"
                              for o in sorted(optimizers, key=rank_sum.get)), ""]
        if "ours" in optimizers:
            lines += [f"Ours has a lower median regret than optuna-gp on {wins_gp} and than "
                      f"random on {wins_random} of {len(functions)} functions.", ""]
    return "\n".join(lines)


def timing(optimizers: list[str], marks: Sequence[int]) -> str:
    """CPU seconds per suggestion (the process's, so that other work on the machine does not
    count) with ``mark`` trials of history (+-5), sequential, one BLAS thread; for ours also
    after 1,000 and 10,000 random trials (each suggestion told one more trial, as in a job)."""
    large = (1000, 10000)
    columns = [*marks, *large]
    lines = ["### Suggestion time (CPU seconds per point: ask + tell, n trials of history)", "",
             "| optimizer | function | " + " | ".join(
                 f"n={m} median | n={m} p95" for m in columns) + " |",
             "| --- | --- |" + " ---: | ---: |" * len(columns)]
    for fn in [f for f in suite() if f.name == "hartmann6"]:
        for optimizer in optimizers:
            result = run(fn, optimizer, 0, max(marks) + 6, 1, clock=time.process_time)
            cells = []
            for m in marks:
                times = [t for n, t in result["ask_seconds"] if abs(n - m) <= 5]
                cells += [f"{np.median(times):.3f}", f"{np.percentile(times, 95):.3f}"]
            for m in large:
                times = _prefilled(fn, m) if optimizer == "ours" else []
                cells += ([f"{np.median(times):.3f}", f"{np.percentile(times, 95):.3f}"]
                          if times else ["", ""])
            lines.append(f"| {optimizer} | {fn.name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def _prefilled(function: Function, n: int, repeats: int = 5) -> list[float]:
    """Seconds of each of ``repeats`` suggestions (ask and tell) by ours after ``n`` random
    trials, the first one after a suggestion at ``n`` (the model's fit warm-started)."""
    opt = Ours(function, 0)
    rng = np.random.default_rng(0)
    points = [opt.designer.space.sample(rng) for _ in range(n)]
    opt.tell(points, [function.objective(p) for p in points])
    opt.ask(1)
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        (point,) = opt.ask(1)
        opt.tell([point], [function.objective(point)])
        seconds.append(time.process_time() - start)
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 seeds, 4 functions, 40x5 only: a smoke run of a few minutes")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="to add seeds to a saved run")
    parser.add_argument("--functions", default="", help="comma-separated names (default all)")
    parser.add_argument("--budget", default="40x5,100x1", help="TRIALSxBATCH, comma-separated")
    parser.add_argument("--optimizers", default=",".join(o for o in OPTIMIZERS if installed(o)),
                        help="comma-separated (default: those whose library is installed)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timing", action="store_true", help="measure suggestion times only")
    parser.add_argument("--async", dest="run_async", action="store_true",
                        help="ours as the Tuner drives it, BATCH trials at once, each slot "
                             "refilled as its trial ends: every result known (ours-sync) "
                             "against the results points computed ahead may miss (ours-ahead)")
    parser.add_argument("--json", default="",
                        help="append each run's result to this JSON-lines file as it ends")
    parser.add_argument("--report", default="",
                        help="print the report of a JSON-lines file of results and exit")
    args = parser.parse_args(argv)
    if args.run_async:
        optimizers = list(ASYNC_MODES)
    else:
        optimizers = args.optimizers.split(",")
        unknown = [o for o in optimizers if o not in OPTIMIZERS]
        if unknown:
            parser.error(f"--optimizers: unknown {', '.join(unknown)} "
                         f"(known: {', '.join(OPTIMIZERS)})")
        missing = [o for o in optimizers if not installed(o)]
        if missing and not args.report:
            print(f"skipping {', '.join(missing)}: not installed (benchmarks/requirements.txt)",
                  file=sys.stderr)
            optimizers = [o for o in optimizers if o not in missing]
    if args.report:
        with open(args.report, encoding="utf-8") as f:
            saved = [json.loads(line) for line in f if line.strip()]
        optimizers = list(dict.fromkeys(r["optimizer"] for r in saved))
        print(report(saved, optimizers))
        if set(ASYNC_MODES) <= set(optimizers):
            print(paired(saved, *ASYNC_MODES))
        return
    if args.timing:
        _limit_threads()  # as in the runs: one BLAS thread, so other load cannot stall it
        print(timing(optimizers, (40, 100, 200)))
        return
    names = [f.name for f in suite()]
    if args.quick:
        args.seeds, args.budget = 3, "40x5"
        names = ["branin", "hartmann6", "levy4-integer", "training-like"]
    if args.functions:
        names = args.functions.split(",")
    budgets = [tuple(int(v) for v in b.split("x")) for b in args.budget.split(",")]
    # Whole (budget, seed) groups in turn, so that a cut-short run still ranks complete groups;
    # the slow optimizers first within a group, so that the two workers finish together.
    slow_first = sorted(optimizers, key=lambda o: o not in ("skopt-gp", "optuna-gp"))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tasks = [(n, o, s, total, batch) for (total, batch) in budgets for s in seeds
             for n in names for o in slow_first]
    start = time.time()
    with ProcessPoolExecutor(args.workers, initializer=_limit_threads) as pool:
        results = []
        for i, result in enumerate(pool.map(_task, tasks, chunksize=1)):
            results.append(result)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as f:
                    f.write(json.dumps(result) + "\n")
            if (i + 1) % 20 == 0:
                print(f"[{i + 1}/{len(tasks)} runs, {time.time() - start:.0f} s]",
                      file=sys.stderr, flush=True)
    print(report(results, optimizers))
    if args.run_async:
        print(paired(results, *ASYNC_MODES))
    print(f"({len(tasks)} runs in {time.time() - start:.0f} s with {args.workers} workers)")


if __name__ == "__main__":
    main()
