"""Replay whole tuning jobs from learning curves, with and without early stopping.

A job draws ``maxTrials`` recorded configurations (random order, no repeats, seeded) and runs
them ``maxParallelTrials`` at a time on a simulated clock counted in training steps: a trial
reaches its recorded evaluation points one by one, holds its slot until it ends or is stopped,
and a freed slot starts the next trial at once. At each new measurement of a running trial the
rule decides from what is known at that moment only: the trial's curve so far and every other
started trial's curve up to the current time (completed and stopped trials marked so). A
stopped trial's final metric is its last value. The table also gives how far a stopped trial's
last value, and the forecast final value the optimizer learns instead (``tf_hptune.trial``,
from the curves finished by the job's end), lie from the final value it would have reached,
and in how many jobs the worst trial's final metric is worse than without stopping. On a
synthetic family each job's reported best is also judged at its value without evaluation
noise. Pure numpy (and Optuna for its pruners).

Families of curves: every ``benchmarks/data/curves_<name>.json.gz`` (real TensorFlow runs
written by ``record_curves.py``), and synthetic ones with known ground truth
(``SYNTHETIC``): curves at several speeds that cross, plateaus followed by drops, and noisy
evaluations.

    .venv/bin/python benchmarks/replay.py [--jobs 200] [--quick] [--families ...]
        [--settings 40x5 ...] [--rule NAME[:K=V,...]] [--option threshold=0.1]
        [--target RULE] [--resume N] [--json FILE]
    .venv/bin/python benchmarks/replay.py --report FILE [--target RULE]

Set ``OPENBLAS_NUM_THREADS=1``: the rules solve many tiny least-squares problems, and a
threaded BLAS spinning on two busy cores makes each one hundreds of times slower.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tf_hptune.spec.model import Goal
from tf_hptune.stopping import DEFAULT_STOPPER, STOPPERS, EarlyStopper, make_stopper
from tf_hptune.trial import Trial, forecast_finals

DATA_DIR = Path(__file__).resolve().parent / "data"
# maxTrials x maxParallelTrials: the service's 40x5, a small job, maxParallelTrials at a quarter
# of maxTrials (few trials complete early on), and one trial at a time
DEFAULT_SETTINGS = ("40x5", "20x2", "40x10", "20x5", "40x1")
OPTUNA_RULES = ("optuna-median", "optuna-percentile", "optuna-sh", "optuna-hyperband")
REFERENCE_RULES = ("first-wave",)
DEFAULT_RULES = (*STOPPERS, *OPTUNA_RULES, *REFERENCE_RULES)
ANCHORS = ("median", *OPTUNA_RULES)  # what the default rule must not do worse than
WITHIN = 0.005  # a job's best is "as good" within 0.5% (relative) of the no-stopping best
Options = dict[str, float | int | str]


@dataclass(frozen=True)
class CurveSet:
    """The recorded curves of one example: per configuration, steps, values and wall time;
    for a synthetic family also the values without evaluation noise (``clean``)."""

    example: str
    metric: str
    goal: Goal
    steps: list[np.ndarray]
    values: list[np.ndarray]
    wall_seconds: np.ndarray
    clean: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.steps)


def load_curves(path: Path) -> CurveSet:
    """A ``curves_<example>.json.gz`` file written by ``record_curves.py``."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        doc = json.load(f)
    runs = [r for r in doc["runs"] if r["steps"]]
    return CurveSet(
        example=doc["example"],
        metric=doc["metric"],
        goal=Goal(doc["goal"]),
        steps=[np.asarray(r["steps"], dtype=np.int64) for r in runs],
        values=[np.asarray(r["values"], dtype=float) for r in runs],
        wall_seconds=np.array([r["wall_seconds"] for r in runs], dtype=float),
    )


# --- synthetic families: known ground truth -------------------------------------------------

SYNTH_STEPS = np.arange(50, 1001, 50)  # 20 evaluations of a 1000-step run
SYNTH_CONFIGS = 120


def _synth_crossing(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exponential approach to each configuration's final value, time constants from 20 to 300
    steps; the slower a configuration learns, the better it tends to end, so slow starters
    cross fast ones. Evaluation noise 0.2% of the value."""
    n = SYNTH_CONFIGS
    u = rng.uniform(size=n)
    tau = 20.0 * 15.0**u
    final = 1.0 + 0.2 * (1.0 - u) + 0.05 * rng.normal(size=n)
    start = 3.0 + 0.3 * rng.normal(size=n)
    clean = final[:, None] + (start - final)[:, None] * np.exp(-t[None, :] / tau[:, None])
    return clean, clean * (1.0 + 0.002 * rng.normal(size=clean.shape))


def _synth_plateau(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plateaus followed by drops. Final values do not depend on the shape: a third of the
    configurations learn at once (time constant 30 to 100 steps), a third sit at their start
    for 10 to 60% of the run before they learn, a third level off 0.05 to 0.3 above their
    final value and drop to it when their learning rate is cut at 60% of the run. Evaluation
    noise 0.2% of the value."""
    n = SYNTH_CONFIGS
    final = 1.0 + 0.2 * rng.uniform(size=n)
    tau = rng.uniform(30.0, 100.0, size=n)
    kind = rng.integers(0, 3, size=n)
    delay = np.where(kind == 1, rng.uniform(0.1, 0.6, size=n) * t[-1], 0.0)
    extra = np.where(kind == 2, rng.uniform(0.05, 0.3, size=n), 0.0)
    start = 2.5 + 0.2 * rng.normal(size=n)
    since = np.maximum(t[None, :] - delay[:, None], 0.0)
    level = final + extra
    clean = level[:, None] + (start - level)[:, None] * np.exp(-since / tau[:, None])
    cut = 0.6 * t[-1]
    after = np.maximum(t - cut, 0.0)
    clean -= extra[:, None] * (1.0 - np.exp(-after[None, :] / 40.0))
    return clean, clean * (1.0 + 0.002 * rng.normal(size=clean.shape))


def _synth_noisy(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noisy evaluations: exponential approach (time constants 20 to 200 steps, weakly
    related to the final value) with evaluation noise of 0.5% of the value (2 to 3 times the
    recorded families'), heavy-tailed (Student t, 3 degrees of freedom)."""
    n = SYNTH_CONFIGS
    u = rng.uniform(size=n)
    tau = 20.0 * 10.0**u
    final = 1.0 + 0.1 * (1.0 - u) + 0.06 * rng.normal(size=n) ** 2
    start = 2.0 + 0.2 * rng.normal(size=n)
    clean = final[:, None] + (start - final)[:, None] * np.exp(-t[None, :] / tau[:, None])
    return clean, clean * (1.0 + 0.005 * rng.standard_t(3, size=clean.shape) / np.sqrt(3.0))


# each returns the curves without and with evaluation noise, one row per configuration
SYNTHETIC: dict[str, Callable[[np.random.Generator, np.ndarray],
                              tuple[np.ndarray, np.ndarray]]] = {
    "synth_crossing": _synth_crossing,
    "synth_plateau": _synth_plateau,
    "synth_noisy": _synth_noisy,
}


def synthetic_curves(name: str, seed: int = 17) -> CurveSet:
    """The synthetic family ``name`` (a loss to minimise; every run costs the same)."""
    clean, values = SYNTHETIC[name](np.random.default_rng([seed, len(name)]),
                                    SYNTH_STEPS.astype(float))
    return CurveSet(name, "loss", Goal.MINIMIZE, [SYNTH_STEPS.copy() for _ in values],
                    [np.round(v, 6) for v in values], np.ones(len(values)), list(clean))


def family_names(data_dir: Path) -> list[str]:
    """Every recorded family in ``data_dir``, then the synthetic ones."""
    recorded = sorted(p.name[len("curves_"):-len(".json.gz")]
                      for p in data_dir.glob("curves_*.json.gz"))
    return [*recorded, *SYNTHETIC]


def load_family(name: str, data_dir: Path) -> CurveSet:
    if name in SYNTHETIC:
        return synthetic_curves(name)
    path = data_dir / f"curves_{name}.json.gz"
    if not path.exists():
        raise SystemExit(f"no family {name!r}: neither {path} (run record_curves.py) nor one "
                         f"of the synthetic {', '.join(SYNTHETIC)}")
    return load_curves(path)


# --- rules, as seen by the simulator ---------------------------------------------------------


class Policy:
    """One job's stopping rule: told when trials start and end, asked at each measurement.
    This base never stops anything."""

    def start(self, trial_id: str) -> None:
        """A trial starts."""

    def should_stop(self, trial: Trial, peers: Callable[[], list[Trial]]) -> bool:
        """Whether to stop ``trial`` after its newest point; ``peers()`` gives the others."""
        return False

    def finish(self, trial: Trial) -> None:
        """A trial ended (``trial.completed``; ``trial.stopped_early`` if it was stopped)."""


class NoStopping(Policy):
    """The baseline: every trial runs to its end."""


class FirstWave(Policy):
    """A reference, not a rule to use: keeps the first ``parallel`` trials it starts and stops
    every later one at its first measurement; it shows what the 0.5% test alone lets
    through."""

    def __init__(self, parallel: int) -> None:
        self.parallel = parallel
        self.first: set[str] = set()

    def start(self, trial_id: str) -> None:
        if len(self.first) < self.parallel:
            self.first.add(trial_id)

    def should_stop(self, trial: Trial, peers: Callable[[], list[Trial]]) -> bool:
        return trial.trial_id not in self.first


class StopperPolicy(Policy):
    """A tf_hptune ``EarlyStopper`` (or anything with its ``decide``)."""

    def __init__(self, stopper: EarlyStopper) -> None:
        self.stopper = stopper

    def should_stop(self, trial: Trial, peers: Callable[[], list[Trial]]) -> bool:
        return self.stopper.decide(trial, peers()).should_stop


class OptunaPolicy(Policy):
    """An Optuna pruner driving a study through ask/tell, one Optuna trial per job trial."""

    def __init__(self, goal: Goal, pruner: Any, name: str) -> None:
        import optuna

        direction = "minimize" if goal is Goal.MINIMIZE else "maximize"
        # Hyperband assigns brackets by hashing the study name: a fixed name keeps it seeded.
        self.study = optuna.create_study(direction=direction, pruner=pruner, study_name=name)
        self.trials: dict[str, Any] = {}

    def start(self, trial_id: str) -> None:
        self.trials[trial_id] = self.study.ask()

    def should_stop(self, trial: Trial, peers: Callable[[], list[Trial]]) -> bool:
        optuna_trial = self.trials[trial.trial_id]
        step, value = trial.measurements[-1]
        optuna_trial.report(value, step)
        return optuna_trial.should_prune()

    def finish(self, trial: Trial) -> None:
        from optuna.trial import TrialState

        optuna_trial = self.trials[trial.trial_id]
        if trial.stopped_early:
            self.study.tell(optuna_trial, state=TrialState.PRUNED)
        else:
            step, value = trial.measurements[-1]
            optuna_trial.report(value, step)  # the last point is never asked about
            self.study.tell(optuna_trial, value)


# --- one job ---------------------------------------------------------------------------------


@dataclass(eq=False)
class _Trial:
    """A started trial of a simulated job."""

    trial_id: str
    config: int
    start: int
    steps: np.ndarray
    values: np.ndarray
    seen: int = 0
    curve: Trial = field(init=False)

    def __post_init__(self) -> None:
        self.curve = Trial(self.trial_id)

    @property
    def next_time(self) -> int:
        return self.start + int(self.steps[self.seen])

    def advance(self) -> None:
        self.seen += 1
        point = (int(self.steps[self.seen - 1]), float(self.values[self.seen - 1]))
        self.curve = Trial(self.trial_id, measurements=self.curve.measurements + (point,))

    def end(self, stopped: bool) -> None:
        self.curve = Trial(self.trial_id, measurements=self.curve.measurements,
                           value=self.curve.measurements[-1][1], stopped_early=stopped)


@dataclass(frozen=True)
class JobResult:
    """What one replayed job cost and found."""

    steps: int  # training steps consumed by all trials
    compute: float  # recorded wall seconds, pro rata of the steps each trial ran
    best: float  # best final metric (a stopped trial's final metric is its last value)
    worst: float  # worst final metric, likewise
    stopped: int  # trials stopped early
    duration: int  # simulated job length, in steps
    starts: dict[str, int]  # trial id to the simulated time it started
    finals: dict[str, Trial]  # trial id to its curve as it ended
    # per stopped trial: relative error, against its recorded final value, of its last value
    # and of the value the optimizer learns (its forecast, else its last value)
    errors: tuple[tuple[float, float], ...] = ()
    earlier_best: float | None = None  # a resumed job's: the best of the job it resumes
    # a synthetic family's: the noise-free value of the best trial where it ended (else NaN),
    # and the same of the job it resumes
    best_clean: float = math.nan
    earlier_best_clean: float = math.nan


def simulate_job(
    curves: CurveSet, order: Sequence[int], parallel: int, policy: Policy,
    previous: Sequence[Trial] = (),
) -> JobResult:
    """Run the configurations ``order`` as one job, trial ids numbered after ``previous``:
    the ended trials of a job this one resumes, which every decision sees as peers (pass the
    policy that ran that job to continue it)."""
    pending = list(order)[::-1]
    started: dict[str, _Trial] = {}
    running: list[_Trial] = []
    now = 0

    def launch() -> None:
        while pending and len(running) < parallel:
            config = pending.pop()
            trial = _Trial(
                str(len(previous) + len(started) + 1), config, now, curves.steps[config],
                curves.values[config]
            )
            started[trial.trial_id] = trial
            running.append(trial)
            policy.start(trial.trial_id)

    def peers_of(trial_id: str) -> Callable[[], list[Trial]]:
        return lambda: [*previous,
                        *(t.curve for t in started.values() if t.trial_id != trial_id)]

    launch()
    while running:
        now = min(t.next_time for t in running)
        arrived = [t for t in running if t.next_time == now]
        for trial in arrived:
            trial.advance()
        # Trials that reached their last point are complete at this time, for every decision.
        for trial in arrived:
            if trial.seen == len(trial.steps):
                trial.end(stopped=False)
                running.remove(trial)
                policy.finish(trial.curve)
        for trial in arrived:
            if trial in running and policy.should_stop(trial.curve, peers_of(trial.trial_id)):
                trial.end(stopped=True)
                running.remove(trial)
                policy.finish(trial.curve)
        launch()

    sign = 1.0 if curves.goal is Goal.MINIMIZE else -1.0
    best = min(started.values(), key=lambda t: sign * t.curve.measurements[-1][1])
    used = {tid: int(t.steps[t.seen - 1]) for tid, t in started.items()}
    forecasts = forecast_finals([t.curve for t in started.values()])
    errors = []
    for tid, t in started.items():
        if t.curve.stopped_early:
            true, last = float(t.values[-1]), t.curve.measurements[-1][1]
            errors.append((abs(last - true) / abs(true),
                           abs(forecasts.get(tid, last) - true) / abs(true)))
    return JobResult(
        steps=sum(used.values()),
        compute=sum(
            curves.wall_seconds[t.config] * used[tid] / int(t.steps[-1])
            for tid, t in started.items()
        ),
        best=best.curve.measurements[-1][1],
        worst=sign * max(sign * t.curve.measurements[-1][1] for t in started.values()),
        stopped=sum(t.curve.stopped_early for t in started.values()),
        duration=now,
        starts={tid: t.start for tid, t in started.items()},
        finals={tid: t.curve for tid, t in started.items()},
        errors=tuple(errors),
        best_clean=(math.nan if curves.clean is None
                    else float(curves.clean[best.config][best.seen - 1])),
    )


def draw_order(n_configs: int, max_trials: int, seed: int, job: int) -> np.ndarray:
    """The configurations of job number ``job``: random, without repeats, seeded."""
    rng = np.random.default_rng([seed, job])
    return rng.choice(n_configs, size=min(max_trials, n_configs), replace=False)


# --- rules by name ---------------------------------------------------------------------------


def parse_options(items: Sequence[str]) -> Options:
    """``["threshold=0.1", "min_completed=5"]`` as a dict of numbers (or strings)."""
    options: Options = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"expected name=value, got {item!r}")
        value: float | int | str
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                value = text
        options[name.strip()] = value
    return options


def parse_rule(spec: str) -> tuple[str, Options]:
    """``"curve:threshold=0.1,min_completed=5"`` as ``("curve", {...})``."""
    name, _, rest = spec.partition(":")
    known = ("none", *STOPPERS, *OPTUNA_RULES, *REFERENCE_RULES)
    if name not in known:
        raise SystemExit(f"unknown rule {name!r}; choose from {', '.join(known)}")
    return name, parse_options([o for o in rest.split(",") if o])


def policy_factory(
    name: str, options: Options, goal: Goal, curves: CurveSet, parallel: int
) -> Callable[[int], Policy]:
    """A maker of a fresh policy for each job (by job number) for the rule ``name``."""
    if name == "none":
        return lambda job: NoStopping()
    if name == "first-wave":
        return lambda job: FirstWave(parallel)
    if name in STOPPERS:
        make_stopper(goal, name, **options)  # fail on bad options before any job runs
        return lambda job: StopperPolicy(make_stopper(goal, name, **options))
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    first_step = int(min(s[0] for s in curves.steps))
    pruners: dict[str, Callable[[], Any]] = {
        "optuna-median": lambda: optuna.pruners.MedianPruner(**options),
        # keeps trials in the best quarter at each step (the median pruner keeps half)
        "optuna-percentile": lambda: optuna.pruners.PercentilePruner(
            **{"percentile": 25.0, **options}),
        "optuna-sh": lambda: optuna.pruners.SuccessiveHalvingPruner(
            **{"min_resource": first_step, **options}),
        "optuna-hyperband": lambda: optuna.pruners.HyperbandPruner(**{
            "min_resource": first_step,
            "max_resource": int(max(s[-1] for s in curves.steps)),
            **options}),
    }
    make_pruner = pruners[name]
    make_pruner()  # fail on bad options before any job runs
    return lambda job: OptunaPolicy(goal, make_pruner(), f"replay-{job}")


def rule_label(name: str, options: Options) -> str:
    if not options:
        return name
    return f"{name} ({', '.join(f'{k}={v}' for k, v in options.items())})"


# --- comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    rule: str
    steps_saved: float  # fraction of no-stopping steps not trained
    compute_saved: float  # same, weighting each trial by its recorded wall time
    duration_saved: float  # fraction of simulated job length saved
    within: float  # share of jobs whose best is within WITHIN of no stopping's best
    # the same judged without evaluation noise (synthetic families; else NaN): the noise-free
    # value of the trial each job reports as best, against no stopping's
    within_clean: float
    as_good: float  # share of jobs whose best is at least as good as no stopping's
    median_gap: float  # median relative gap to no stopping's best (positive: worse)
    worst_gap: float
    median_gap_clean: float
    worst_raised: float  # share of jobs whose worst final metric is worse than no stopping's
    stopped_per_job: float
    last_error: float  # median relative error of stopped trials' last values
    forecast_error: float  # the same, of what the optimizer learns from them
    seconds: float  # replay time


def compare(
    curves: CurveSet,
    max_trials: int,
    parallel: int,
    jobs: int,
    rules: Sequence[tuple[str, Options]],
    seed: int,
    resume: int = 0,
) -> list[Summary]:
    """Replay ``jobs`` jobs under every rule, on the same draws, against no stopping.

    With ``resume``, each job resumes an earlier job of ``resume`` other configurations, run
    first under the same rule; only the resumed job's steps are counted. The rule continues
    into it (it sees the earlier trials; an Optuna study goes on), and each tf_hptune rule is
    also replayed on the resumed job as a fresh job, blind to the earlier one (label ", job
    alone"). A resumed job's best is the search's: the better of its own and the earlier
    job's, compared with the same earlier job and the resumed job run without stopping."""
    draws = [draw_order(len(curves), resume + max_trials, seed, job) for job in range(jobs)]
    sign = 1.0 if curves.goal is Goal.MINIMIZE else -1.0

    def run(name: str, options: Options, continued: bool = True
            ) -> tuple[list[JobResult], float]:
        make = policy_factory(name, options, curves.goal, curves, parallel)
        start = time.perf_counter()
        results = []
        for job, draw in enumerate(draws):
            policy = make(job)
            if not resume:
                results.append(simulate_job(curves, draw, parallel, policy))
                continue
            earlier = simulate_job(curves, draw[:resume], parallel, policy)
            previous = tuple(earlier.finals.values()) if continued else ()
            result = simulate_job(curves, draw[resume:], parallel,
                                  policy if continued else make(job), previous)
            results.append(replace(result, earlier_best=earlier.best,
                                   earlier_best_clean=earlier.best_clean))
        return results, time.perf_counter() - start

    baseline, base_seconds = run("none", {})
    base_steps = sum(r.steps for r in baseline)
    base_compute = sum(r.compute for r in baseline)
    base_duration = sum(r.duration for r in baseline)

    def search_best(result: JobResult, earlier_best: float | None) -> float:
        if earlier_best is None:
            return result.best
        return sign * min(sign * result.best, sign * earlier_best)

    def search_clean(result: JobResult, earlier: JobResult) -> float:
        """The noise-free value of the trial the search reports as its best."""
        if earlier.earlier_best is None or sign * result.best <= sign * earlier.earlier_best:
            return result.best_clean
        return earlier.earlier_best_clean

    def relative_gaps(pairs: list[tuple[float, float]]) -> np.ndarray:
        return 0.0 + np.array(  # 0.0 + turns -0.0 into 0.0
            [sign * (mine - theirs) / abs(theirs) for mine, theirs in pairs])

    def summarize(label: str, results: list[JobResult], seconds: float) -> Summary:
        gaps = relative_gaps([(search_best(r, r.earlier_best), search_best(b, r.earlier_best))
                              for r, b in zip(results, baseline)])
        clean = relative_gaps([(search_clean(r, r), search_clean(b, r))
                               for r, b in zip(results, baseline)])
        errors = np.array([e for r in results for e in r.errors]).reshape(-1, 2)
        last_error, forecast_error = (np.median(errors, axis=0) if len(errors)
                                      else (np.nan, np.nan))
        return Summary(
            rule=label,
            steps_saved=1.0 - sum(r.steps for r in results) / base_steps,
            compute_saved=1.0 - sum(r.compute for r in results) / base_compute,
            duration_saved=1.0 - sum(r.duration for r in results) / base_duration,
            within=float(np.mean(gaps <= WITHIN + 1e-12)),
            within_clean=(math.nan if curves.clean is None
                          else float(np.mean(clean <= WITHIN + 1e-12))),
            as_good=float(np.mean(gaps <= 0.0)),
            median_gap=float(np.median(gaps)),
            worst_gap=float(np.max(gaps)),
            median_gap_clean=float(np.median(clean)),
            worst_raised=float(np.mean([sign * (r.worst - b.worst) > 0
                                        for r, b in zip(results, baseline)])),
            stopped_per_job=float(np.mean([r.stopped for r in results])),
            last_error=float(last_error),
            forecast_error=float(forecast_error),
            seconds=seconds,
        )

    summaries = [summarize("none", baseline, base_seconds)]
    for name, options in rules:
        summaries.append(summarize(rule_label(name, options), *run(name, options)))
        if resume and name in STOPPERS:
            summaries.append(summarize(f"{rule_label(name, options)}, job alone",
                                       *run(name, options, continued=False)))
    return summaries


def format_table(summaries: Sequence[Summary]) -> str:
    """A Markdown table of the summaries."""
    lines = [
        "| rule | steps saved | compute saved | job time saved | best within 0.5% "
        "| best as good | median gap | worst gap | noise-free: best within 0.5% | median gap "
        "| worst trial worse | stopped / job | stopped: last value off | forecast off "
        "| replay s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |",
    ]
    for s in summaries:
        lines.append(
            f"| {s.rule} | {s.steps_saved:.1%} | {s.compute_saved:.1%} "
            f"| {s.duration_saved:.1%} | {s.within:.1%} | {s.as_good:.1%} | {s.median_gap:.3%} "
            f"| {s.worst_gap:.2%} | {_percent(s.within_clean, 1)} "
            f"| {_percent(s.median_gap_clean, 3)} | {s.worst_raised:.1%} "
            f"| {s.stopped_per_job:.1f} "
            f"| {_percent(s.last_error)} "
            f"| {_percent(s.forecast_error)} | {s.seconds:.1f} |"
        )
    return "\n".join(lines)


def _percent(x: float, digits: int = 2) -> str:
    return "-" if np.isnan(x) else f"{x:.{digits}%}"


def parse_setting(text: str) -> tuple[int, int]:
    """``"40x5"`` as (maxTrials, maxParallelTrials)."""
    trials, _, parallel = text.partition("x")
    try:
        return int(trials), int(parallel)
    except ValueError:
        raise SystemExit(
            f"expected maxTrials x maxParallelTrials like 40x5, got {text!r}"
        ) from None


def dominated(rule: Summary, anchor: Summary) -> bool:
    """Whether ``anchor`` does at least as well as ``rule`` on both steps saved and jobs whose
    best is kept within 0.5%, and better on one of them."""
    saved, kept = anchor.steps_saved - rule.steps_saved, anchor.within - rule.within
    eps = 1e-9
    return saved >= -eps and kept >= -eps and (saved > eps or kept > eps)


def target_row(family: str, setting: str, summaries: Sequence[Summary], rule: str) -> str:
    """One line of the targets table: ``rule``'s steps saved and best kept, whether it meets
    the targets (>= 90% kept, >= 50% saved; moonshot 95% / 60%), and the anchors that do at
    least as well on both counts."""
    by_name = {s.rule: s for s in summaries}
    ours = by_name[rule]
    beaten_by = [a for a in ANCHORS if a in by_name and dominated(ours, by_name[a])]
    meets = ours.within >= 0.9 and ours.steps_saved >= 0.5
    moon = ours.within >= 0.95 and ours.steps_saved >= 0.6
    return (f"| {family} | {setting} | {ours.steps_saved:.1%} | {ours.compute_saved:.1%} "
            f"| {ours.within:.1%} | {ours.as_good:.1%} | {ours.worst_gap:.2%} "
            f"| {_percent(ours.within_clean, 1)} "
            f"| {'yes' if meets else 'no'} | {'yes' if moon else 'no'} "
            f"| {', '.join(beaten_by) or 'none'} |")


TARGET_HEADER = (
    "| family | setting | steps saved | compute saved | best within 0.5% | best as good "
    "| worst gap | within 0.5%, noise-free | >= 50% saved, >= 90% kept | moonshot 60% / 95% "
    "| anchors as good on both |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
)


def overview(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table, one line per family and setting, one column per rule: steps saved /
    jobs whose best is kept within 0.5%, from summaries as ``--json`` writes them."""
    cells: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        cells.setdefault((row["family"], row["setting"]), {})[row["rule"]] = row
    rules = list(dict.fromkeys(r["rule"] for r in rows if r["rule"] != "none"))
    lines = ["| family | setting | " + " | ".join(rules) + " |",
             "| --- | --- |" + " ---: |" * len(rules)]
    for (family, setting), by_rule in cells.items():
        lines.append(f"| {family} | {setting} | " + " | ".join(
            f"{by_rule[r]['steps_saved']:.0%} / {by_rule[r]['within']:.0%}" if r in by_rule
            else "-" for r in rules) + " |")
    return "\n".join(lines)


def report(path: Path, target: str) -> None:
    """Print the overview and ``target``'s targets table from a ``--json`` file."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    print(f"### Steps saved / best within 0.5%\n\n{overview(rows)}")
    cells: dict[tuple[str, str], list[Summary]] = {}
    for row in rows:
        # files written before the noise-free columns lack them
        fields = {k: row.get(k, math.nan) for k in Summary.__dataclass_fields__}
        cells.setdefault((row["family"], row["setting"]), []).append(Summary(**fields))
    lines = [target_row(f, s, summaries, target) for (f, s), summaries in cells.items()
             if any(x.rule == target for x in summaries)]
    if lines:
        print(f"\n### Targets: {target}\n\n{TARGET_HEADER}\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="replayed jobs per setting")
    parser.add_argument("--quick", action="store_true", help="20 jobs per setting")
    parser.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS),
                        help=f"maxTrials x maxParallelTrials (default: "
                        f"{' '.join(DEFAULT_SETTINGS)})")
    parser.add_argument("--families", nargs="+", default=None,
                        help="families to replay (default: every curves_*.json.gz, then "
                        f"{', '.join(SYNTHETIC)})")
    parser.add_argument("--rule", action="append", dest="rules", metavar="NAME[:K=V,...]",
                        help="a rule to compare, repeatable (default: "
                        f"{', '.join(DEFAULT_RULES)}); e.g. curve:threshold=0.1")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="passed to make_stopper for every tf_hptune rule, repeatable")
    parser.add_argument("--target", default=None, metavar="LABEL",
                        help="the rule the targets table judges (default: the default rule)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the jobs' draws")
    parser.add_argument("--resume", type=int, default=0, metavar="N",
                        help="measure jobs that resume (resumePreviousJobId) an earlier job of "
                        "N other configurations, replayed first under the same rule")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--json", type=Path, default=None,
                        help="also append every summary to this file, one JSON object a line")
    parser.add_argument("--report", type=Path, default=None, metavar="JSON",
                        help="replay nothing: print the overview and targets of a --json file")
    args = parser.parse_args(argv)
    if args.report:
        report(args.report, args.target or DEFAULT_STOPPER)
        return

    jobs = 20 if args.quick else args.jobs
    common = parse_options(args.option)
    rules = []
    for spec in args.rules or DEFAULT_RULES:
        name, options = parse_rule(spec)
        rules.append((name, {**common, **options} if name in STOPPERS else options))
    labels = [rule_label(name, options) for name, options in rules]
    target = args.target or rule_label(DEFAULT_STOPPER, common)
    targets = []
    for family in args.families or family_names(args.data_dir):
        curves = load_family(family, args.data_dir)
        for setting in args.settings:
            max_trials, parallel = parse_setting(setting)
            max_trials = min(max_trials, len(curves) - args.resume)
            if max_trials < 1:
                raise SystemExit(f"--resume {args.resume} leaves no trial: {family} has "
                                 f"{len(curves)} curves")
            print(
                f"\n### {curves.example}: {curves.metric} ({curves.goal.value}), "
                f"{max_trials} trials / {parallel} parallel, {jobs} jobs "
                f"from {len(curves)} curves"
                + (f", each resuming a job of {args.resume} trials" if args.resume else "")
                + "\n", flush=True,
            )
            summaries = compare(curves, max_trials, parallel, jobs, rules, args.seed,
                                args.resume)
            print(format_table(summaries), flush=True)
            if args.json:
                with args.json.open("a", encoding="utf-8") as f:
                    for summary in summaries:
                        f.write(json.dumps({"family": family, "setting": setting, "jobs": jobs,
                                            "seed": args.seed, "resume": args.resume,
                                            **asdict(summary)}) + "\n")
            if target in labels:
                targets.append(target_row(family, setting, summaries, target))
    if targets:
        print(f"\n### Targets: {target}\n\n{TARGET_HEADER}\n" + "\n".join(targets))


if __name__ == "__main__":
    main()
