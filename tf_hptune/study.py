"""``Study``: ask/tell over a spec, a designer and a store, with no processes.

The CLI's Tuner drives one of these; a notebook may drive one by hand.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tf_hptune import runtime
from tf_hptune.algorithms import Designer, TrialView, make_designer
from tf_hptune.algorithms.base import PriorStudy, views_of
from tf_hptune.algorithms.prior import find_prior_studies, prior_study
from tf_hptune.errors import JobNotFoundError, SpecError, StoreError
from tf_hptune.space import SearchSpace
from tf_hptune.spec import StudySpec, load_spec, spec_to_dict
from tf_hptune.spec.model import Goal
from tf_hptune.stopping import KEEP, Curve, EarlyStopper, StopDecision, make_stopper
from tf_hptune.store import Measurement, State, Store, TrialRecord, open_store
from tf_hptune.store.sqlite import SqliteStore

ACTIVE = (State.QUEUED, State.PREPARING, State.RUNNING, State.CANCELLING)


def has_metric(t: TrialRecord) -> bool:
    return t.final_value is not None and math.isfinite(t.final_value)


def sort_best_first(trials: Sequence[TrialRecord], goal: Goal) -> list[TrialRecord]:
    """Trials with a metric, best first, then those without, by id (as the service listed)."""
    sign = 1.0 if goal is Goal.MINIMIZE else -1.0
    return sorted(
        trials,
        key=lambda t: (0, sign * t.final_value, t.number) if has_metric(t)  # type: ignore[operator]
        else (1, 0.0, t.number),
    )


class Study:
    """One tuning job's trials: ``suggest``, ``report``, ``complete`` / ``fail``.

    ``store``: a ``Store``, a path to a store file, or None for an in-memory store. A new job
    named ``name`` is created in it; use ``Study.load`` to continue an existing one.

    A Study is its job's only writer, so it keeps the trials in memory and reads them from the
    store only when it is created.
    """

    def __init__(
        self,
        spec: StudySpec | Mapping[str, Any] | str | os.PathLike[str],
        *,
        seed: int | None = None,
        store: Store | str | os.PathLike[str] | None = None,
        name: str | None = None,
        launch: Mapping[str, Any] | None = None,
        _existing: bool = False,
    ) -> None:
        self.spec = load_spec(spec)
        self.store = _as_store(store)
        self.name = name or time.strftime("study_%Y%m%d_%H%M%S")
        if not _existing:
            self.spec = _resolve_resume(self.spec, self.store)
            self.store.create_job(self.name, spec_to_dict(self.spec), dict(launch or {}))
        self._trials = {t.trial_id: t for t in self.store.list_trials(self.name)}
        # Trials of the job this one resumes (and of the jobs that one resumed): explored
        # already, numbered before ours, not counted in maxTrials.
        chain = _resume_chain(self.store, self.spec.resume_previous_job_id)
        self.previous_trials = [t for job in chain for t in self.store.list_trials(job)]
        self.priors = self._priors(chain, fresh=not _existing)
        self.space = SearchSpace.from_spec(self.spec)
        self.designer: Designer = make_designer(self.spec, self.space, seed)
        self.designer.set_priors(self.priors)
        self.stopper: EarlyStopper | None = (
            make_stopper(self.spec.goal) if self.spec.enable_early_stopping else None)

    def _priors(self, chain: list[str], fresh: bool) -> list[PriorStudy]:
        """A new job finds its related earlier jobs and records them; a continued one reads
        that record, so it keeps learning from exactly the same jobs."""
        if not fresh:
            names = self.store.get_job(self.name).info.get("learned_from", [])
            return [prior_study(self.store, self.store.get_job(n)) for n in names]
        priors = []
        if self.spec.enable_transfer_learning:
            priors = find_prior_studies(self.store, self.name, self.spec, exclude=chain)
        self.store.update_job(self.name, info={"learned_from": [p.job_name for p in priors]})
        return priors

    @classmethod
    def load(
        cls, store: Store | str | os.PathLike[str], name: str, *, seed: int | None = None
    ) -> "Study":
        """The study of an existing job, to continue it."""
        store = _as_store(store)
        job = store.get_job(name)
        return cls(job.config, seed=seed, store=store, name=name, _existing=True)

    # -- reading ---------------------------------------------------------------------------
    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial, in id order."""
        return list(self._trials.values())

    def trial(self, trial_id: str) -> TrialRecord:
        try:
            return self._trials[trial_id]
        except KeyError:
            raise StoreError(f"job {self.name!r} has no trial {trial_id!r}") from None

    @property
    def best_trial(self) -> TrialRecord | None:
        done = [t for t in self.trials if t.state is State.SUCCEEDED and has_metric(t)]
        return sort_best_first(done, self.spec.goal)[0] if done else None

    # -- asking ----------------------------------------------------------------------------
    def suggest(self, count: int = 1) -> list[TrialRecord]:
        """Up to ``count`` new QUEUED trials, never more than ``maxTrials`` in all; fewer when
        the designer has nothing left (a finished grid)."""
        trials = self.trials
        count = min(count, self.spec.max_trials - len(trials))
        if count <= 0:
            return []
        self.designer.update(*_views([*self.previous_trials, *trials]))
        if self.store.get_job(self.name).state is State.QUEUED:
            self.store.update_job(self.name, state=State.RUNNING, start_time=time.time())
        next_id = max((t.number for t in [*self.previous_trials, *trials]), default=0) + 1
        out = []
        for i, params in enumerate(self.designer.suggest(count)):
            trial = self.store.create_trial(self.name, str(next_id + i), params)
            self._trials[trial.trial_id] = trial
            out.append(trial)
        return out

    # -- telling ---------------------------------------------------------------------------
    def report(self, trial_id: str, step: int, value: float) -> None:
        """One intermediate measurement of the metric."""
        self.report_many(trial_id, [(step, value)])

    def report_many(self, trial_id: str, measurements: Sequence[tuple[int, float]]) -> int:
        """Measurements keyed by step (reading them twice is harmless); how many were new or
        changed. Only those are written."""
        known = {m.step: m.value for m in self.trial(trial_id).measurements}
        now = time.time()
        rows = [Measurement(int(s), float(v), now) for s, v in measurements
                if int(s) not in known or not _same(known[int(s)], float(v))]
        if not rows:
            return 0
        changed = self.store.add_measurements(self.name, trial_id, rows)
        self._trials[trial_id] = self.store.get_trial(self.name, trial_id)
        return changed

    def should_stop(self, trial_id: str) -> bool:
        """Whether the early-stopping rule would stop this trial now (False when off)."""
        return self.stop_decision(trial_id).should_stop

    def stop_decision(self, trial_id: str) -> StopDecision:
        """The early-stopping rule's decision, with its reason, for a running trial, from the
        measurements recorded so far. Always KEEP when the job does not enable early
        stopping."""
        if self.stopper is None:
            return KEEP
        curves = {t.trial_id: _curve(t) for t in self.trials if t.state is not State.FAILED
                  and t.state is not State.CANCELLED}
        if trial_id not in curves:
            return KEEP
        return self.stopper.decide(curves[trial_id], list(curves.values()))

    def update_trial(self, trial_id: str, **fields: Any) -> TrialRecord:
        """Write a trial's fields (see ``Store.update_trial``)."""
        trial = self._trials[trial_id] = self.store.update_trial(self.name, trial_id, **fields)
        return trial

    def start(self, trial_id: str, **fields: Any) -> TrialRecord:
        """Mark a trial RUNNING (with e.g. ``pid``, ``trial_dir``)."""
        return self.update_trial(trial_id, state=State.RUNNING, start_time=time.time(), **fields)

    def complete(
        self,
        trial_id: str,
        value: float | None = None,
        step: int | None = None,
        *,
        stopped_early: bool = False,
        reason: str | None = None,
        log_tail: str | None = None,
    ) -> TrialRecord:
        """Finish a trial. Its final metric is ``value`` at ``step`` if given, else its last
        measurement; without either, or with a NaN or infinite value, the trial FAILS."""
        trial = self.trial(trial_id)
        if value is not None:
            if step is None:
                step = trial.measurements[-1].step if trial.measurements else 0
            self.report(trial_id, step, value)
            trial = self.trial(trial_id)
        if not trial.measurements:
            return self.fail(trial_id, f"no value of metric {self.spec.metric_tag!r} was "
                             "reported", log_tail=log_tail)
        last = trial.measurements[-1]
        if not math.isfinite(last.value):
            return self.fail(trial_id, f"metric {self.spec.metric_tag!r} is {last.value} at "
                             f"step {last.step}", log_tail=log_tail, final=last)
        return self._finish(trial_id, State.SUCCEEDED, final=last, stopped_early=stopped_early,
                            reason=reason, log_tail=log_tail)

    def fail(
        self,
        trial_id: str,
        reason: str,
        *,
        log_tail: str | None = None,
        final: Measurement | None = None,
        state: State = State.FAILED,
    ) -> TrialRecord:
        """Finish a trial as FAILED (or CANCELLED) with its reason, to which a failure that
        looks like TensorFlow 1.x code in ``log_tail`` adds ``runtime.failure_hint``."""
        hint = runtime.failure_hint(log_tail) if log_tail and state is State.FAILED else None
        reason = f"{reason}. {hint}" if hint else reason
        return self._finish(trial_id, state, final=final, reason=reason, log_tail=log_tail)

    def _finish(self, trial_id: str, state: State, *, final: Measurement | None,
                **fields: Any) -> TrialRecord:
        return self.update_trial(
            trial_id, state=state, end_time=time.time(),
            final_step=final.step if final else None,
            final_value=final.value if final else None, **fields,
        )

    def finish(self, state: State, error_message: str | None = None) -> None:
        """End the job itself."""
        self.store.update_job(self.name, state=state, end_time=time.time(),
                              error_message=error_message)


def _as_store(store: Store | str | os.PathLike[str] | None) -> Store:
    if store is None:
        return SqliteStore(":memory:")
    if isinstance(store, Store):
        return store
    return open_store(store)


def _resolve_resume(spec: StudySpec, store: Store) -> StudySpec:
    """A resumed job's spec: goal, metric tag, params and constraints of the job it resumes
    (which must exist and have ended), the rest from its own config."""
    previous_name = spec.resume_previous_job_id
    if previous_name is None:
        return spec
    where = "hyperparameters.resumePreviousJobId"
    try:
        previous_job = store.get_job(previous_name)
    except JobNotFoundError as e:
        raise SpecError(where, previous_name, f"no such job ({e})") from None
    if not previous_job.state.is_final:
        raise SpecError(where, previous_name,
                        f"that job is still {previous_job.state.value}; wait for it to end")
    previous = load_spec(previous_job.config)
    default = StudySpec(params=())
    for field, label in (("goal", "goal"), ("metric_tag", "hyperparameterMetricTag")):
        mine, theirs = getattr(spec, field), getattr(previous, field)
        if mine != getattr(default, field) and mine != theirs:
            raise SpecError(f"hyperparameters.{label}", getattr(mine, "value", mine),
                            f"conflicts with {getattr(theirs, 'value', theirs)!r} of resumed "
                            f"job {previous_name!r}; leave it out")
    if spec.params and spec.params != previous.params:
        raise SpecError("hyperparameters.params", [p.name for p in spec.params],
                        f"conflict with the params of resumed job {previous_name!r}; a resumed "
                        "job reuses them, so leave params out")
    return dataclasses.replace(spec, goal=previous.goal, metric_tag=previous.metric_tag,
                               params=previous.params, constraints=previous.constraints)


def _resume_chain(store: Store, name: str | None) -> list[str]:
    """Job ``name`` and every job it resumed, oldest first."""
    out: list[str] = []
    while name is not None:
        out.insert(0, name)
        name = load_spec(store.get_job(name).config).resume_previous_job_id
    return out


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _curve(t: TrialRecord) -> Curve:
    return Curve(t.trial_id, tuple((m.step, m.value) for m in t.measurements),
                 completed=t.state is State.SUCCEEDED, stopped_early=t.stopped_early)


def _views(trials: Sequence[TrialRecord]) -> tuple[list[TrialView], list[TrialView]]:
    """Designer's view: finished trials (cancelled ones teach nothing) and running ones."""
    completed, running = [], []
    for t, view in zip(trials, views_of(trials)):
        if t.state in ACTIVE:
            running.append(view)
        elif t.state is not State.CANCELLED:
            completed.append(view)
    return completed, running


__all__ = ["ACTIVE", "Study", "has_metric", "sort_best_first"]
