"""``Study``: ask/tell over a spec, a designer and a store, with no processes.

The Tuner drives one of these; a notebook may drive one by hand. A Study is the only object
that writes its job to the store: the Tuner and the job lifecycle (``tf_hptune.jobs``) ask it.
"""
from __future__ import annotations

import dataclasses
import math
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tf_hptune import runtime
from tf_hptune.algorithms import Designer, make_designer
from tf_hptune.errors import JobExistsError, SpecError, StoreError
from tf_hptune.history import LEARNED_FROM, History, resolve_resume, trial_of
from tf_hptune.space import SearchSpace
from tf_hptune.spec import StudySpec, load_spec, spec_to_dict
from tf_hptune.spec.model import Goal
from tf_hptune.stopping import DEFAULT_STOPPER, KEEP, EarlyStopper, StopDecision, make_stopper
from tf_hptune.store import Measurement, State, Store, TrialRecord, open_store, same_value
from tf_hptune.trial import PriorStudy, Trial

ACTIVE = (State.QUEUED, State.PREPARING, State.RUNNING, State.CANCELLING)

DesignerFactory = Callable[[SearchSpace, Goal, "int | None"], Designer]


def has_metric(t: TrialRecord) -> bool:
    return t.final_value is not None and math.isfinite(t.final_value)


def sort_best_first(trials: Sequence[TrialRecord], goal: Goal) -> list[TrialRecord]:
    """Trials with a metric, best first, then those without, by id (as the service listed)."""
    return sorted(
        trials,
        key=lambda t: (0, goal.loss(t.final_value), t.number) if has_metric(t)  # type: ignore[arg-type]
        else (1, 0.0, t.number),
    )


class Study:
    """One tuning job's trials: ``suggest``, ``report``, ``complete`` / ``fail``.

    Made by ``Study.create`` (a new job) or ``Study.load`` (an existing one). A Study is its
    job's only writer, so it keeps the trials in memory and reads them from the store only when
    it is made. The job ends by itself once ``maxTrials`` trials have ended (``end``); as a
    context manager, a Study also ends its job when the block exits: CANCELLED on Ctrl-C,
    FAILED on another exception.
    """

    def __init__(
        self,
        store: Store,
        name: str,
        spec: StudySpec,
        history: History,
        *,
        seed: int | None = None,
        designer: DesignerFactory | None = None,
        stopper: EarlyStopper | str | None = None,
    ) -> None:
        """Use ``create`` or ``load``; ``spec`` is already resolved (a resumed job's)."""
        self.store = store
        self.name = name
        self.spec = spec
        self.history = history
        self.space = SearchSpace.from_spec(spec)
        self._trials = {t.trial_id: t for t in store.list_trials(name)}
        factory = designer or (lambda space, goal, s: make_designer(spec.algorithm, space, goal,
                                                                    s))
        self.designer: Designer = factory(self.space, spec.goal, seed)
        self.designer.set_priors(history.priors)
        self.designer.set_budget(len(history.previous_trials) + spec.max_trials)
        self.stopper = _stopper(spec, stopper)
        # the resumed jobs have ended: their trials that count as peers are fixed
        self._resumed_peers = [trial_of(t) for t in history.previous_trials
                               if t.state is State.SUCCEEDED]
        self._owns_store = False

    @classmethod
    def create(
        cls,
        spec: StudySpec | Mapping[str, Any] | str | os.PathLike[str],
        *,
        store: Store | str | os.PathLike[str] | None = None,
        name: str | None = None,
        seed: int | None = None,
        launch: Mapping[str, Any] | None = None,
        designer: DesignerFactory | None = None,
        stopper: EarlyStopper | str | None = None,
    ) -> "Study":
        """A new job ``name`` (default ``study_<time>``) in ``store`` (a ``Store``, a path, or
        None for an in-memory store). Everything is validated before the job is recorded: the
        spec, the job it resumes, its search space and its stopping rule."""
        owned = not isinstance(store, Store)
        store = _as_store(store)
        name = name or time.strftime("study_%Y%m%d_%H%M%S")
        spec = resolve_resume(load_spec(spec), store)
        SearchSpace.from_spec(spec)
        _stopper(spec, stopper)
        history = History.for_new_job(store, name, spec)
        try:
            store.create_job(name, spec_to_dict(spec), dict(launch or {}))
        except JobExistsError as e:
            raise JobExistsError(
                f"{e}; give the new job another name, or to continue that job's search "
                f"start a new one with 'resumePreviousJobId: {name}' in its config") from None
        store.update_job(name, info={LEARNED_FROM: history.learned_from})
        study = cls(store, name, spec, history, seed=seed, designer=designer, stopper=stopper)
        study._owns_store = owned
        return study

    @classmethod
    def load(
        cls,
        store: Store | str | os.PathLike[str],
        name: str,
        *,
        seed: int | None = None,
        designer: DesignerFactory | None = None,
        stopper: EarlyStopper | str | None = None,
    ) -> "Study":
        """The study of an existing job, to continue it; it learns from the same earlier jobs
        as when it was created."""
        owned = not isinstance(store, Store)
        store = _as_store(store)
        job = store.get_job(name)
        spec = load_spec(job.config)
        study = cls(store, name, spec, History.for_job(store, job, spec), seed=seed,
                    designer=designer, stopper=stopper)
        study._owns_store = owned
        return study

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        """End the job if it has not ended: as ``end`` decides when the block finished,
        CANCELLED on KeyboardInterrupt, FAILED on another exception; trials not ended by then
        are CANCELLED. A store this Study opened itself is closed."""
        try:
            if not self.store.get_job(self.name).state.is_final:
                if exc_type is None:
                    self._cancel_active("the study ended before the trial did")
                    self.end()
                elif issubclass(exc_type, KeyboardInterrupt):
                    self.set_cancelling()
                    self._cancel_active("cancelled by the user")
                    self.finish(State.CANCELLED)
                else:
                    message = f"{exc_type.__name__}: {exc}"
                    self.set_cancelling()
                    self._cancel_active(message)
                    self.finish(State.FAILED, message)
        finally:
            if self._owns_store:
                self.store.close()

    def _cancel_active(self, reason: str) -> None:
        for t in self.trials:
            if t.state in ACTIVE:
                final = t.measurements[-1] if t.measurements else None
                self.fail(t.trial_id, reason, state=State.CANCELLED, final=final)

    # -- reading ---------------------------------------------------------------------------
    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial, in id order."""
        return list(self._trials.values())

    @property
    def priors(self) -> list[PriorStudy]:
        """The related earlier jobs this one learns from, oldest first."""
        return list(self.history.priors)

    @property
    def previous_trials(self) -> list[TrialRecord]:
        """The trials of the jobs this one resumes (explored, numbered before its own)."""
        return list(self.history.previous_trials)

    def trial(self, trial_id: str) -> TrialRecord:
        try:
            return self._trials[trial_id]
        except KeyError:
            raise StoreError(f"job {self.name!r} has no trial {trial_id!r}") from None

    @property
    def state(self) -> State:
        """The job's state, as stored now."""
        return self.store.get_job(self.name).state

    @property
    def best_trial(self) -> TrialRecord | None:
        done = [t for t in self.trials if t.state is State.SUCCEEDED and has_metric(t)]
        return sort_best_first(done, self.spec.goal)[0] if done else None

    # -- asking ----------------------------------------------------------------------------
    def suggest(self, count: int = 1) -> list[TrialRecord]:
        """Up to ``count`` new QUEUED trials, never more than ``maxTrials`` in all; fewer when
        the designer has nothing left (a finished grid)."""
        count = min(count, self.trials_left)
        if count <= 0:
            return []
        return self.add_trials(self.propose(*self.designer_view(), count))

    @property
    def trials_left(self) -> int:
        """How many more trials ``maxTrials`` allows."""
        return self.spec.max_trials - len(self._trials)

    def designer_view(self) -> tuple[list[Trial], list[Trial]]:
        """What the designer is told now: the finished and the running trials, the resumed
        jobs' included, as plain ``Trial`` data."""
        return _split([*self.history.previous_trials, *self.trials])

    def propose(self, completed: Sequence[Trial], running: Sequence[Trial],
                count: int) -> list[dict[str, Any]]:
        """The designer's next ``count`` points given these trials. Writes nothing, so it may
        run in another thread than the Study's other calls; one call at a time."""
        self.designer.update(completed, running)
        return self.designer.suggest(count)

    def add_trials(self, points: Sequence[Mapping[str, Any]]) -> list[TrialRecord]:
        """Record ``points`` (from ``propose``) as new QUEUED trials, as many as ``maxTrials``
        allows."""
        points = list(points)[:max(0, self.trials_left)]
        if self.store.get_job(self.name).state is State.QUEUED:
            self.store.update_job(self.name, state=State.RUNNING, start_time=time.time())
        next_id = max((t.number for t in [*self.history.previous_trials, *self.trials]),
                      default=0) + 1
        out = []
        for i, params in enumerate(points):
            trial = self.store.create_trial(self.name, str(next_id + i), dict(params))
            self._trials[trial.trial_id] = trial
            out.append(trial)
        return out

    # -- telling ---------------------------------------------------------------------------
    def report(self, trial_id: str, step: int, value: float) -> None:
        """One intermediate measurement of the metric."""
        self.report_many(trial_id, [(step, value)])

    def report_many(self, trial_id: str, measurements: Sequence[tuple[int, float]]) -> int:
        """Measurements keyed by step (reading them twice is harmless); how many were new or
        changed."""
        trial = self.trial(trial_id)
        known = {m.step: m.value for m in trial.measurements}
        # the Tuner passes every measurement at every poll: the store hears only news
        measurements = [(s, v) for s, v in measurements
                        if s not in known or not same_value(known[s], v)]
        if not measurements:
            return 0
        now = time.time()
        changed = self.store.add_measurements(  # the store checks steps and values
            self.name, trial_id, [Measurement(s, v, now) for s, v in measurements])
        if changed:
            merged = {m.step: m for m in trial.measurements}
            merged.update((m.step, m) for m in changed)
            self._trials[trial_id] = dataclasses.replace(
                trial, measurements=tuple(merged[s] for s in sorted(merged)))
        return len(changed)

    def should_stop(self, trial_id: str) -> bool:
        """Whether the early-stopping rule would stop this trial now (False when off)."""
        return self.stop_decision(trial_id).should_stop

    def stop_decision(self, trial_id: str) -> StopDecision:
        """The early-stopping rule's decision, with its reason, for a running trial, from the
        measurements recorded so far and the ended trials of the jobs it resumes (the same
        search, so their curves count as the job's own). Always KEEP when the job does not
        enable early stopping."""
        if self.stopper is None:
            return KEEP
        peers = {t.trial_id: t for t in self._resumed_peers}
        peers.update((t.trial_id, trial_of(t)) for t in self.trials
                     if t.state not in (State.FAILED, State.CANCELLED))
        if trial_id not in peers:
            return KEEP
        return self.stopper.decide(peers[trial_id], list(peers.values()))

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
        trial = self.update_trial(
            trial_id, state=state, end_time=time.time(),
            final_step=final.step if final else None,
            final_value=final.value if final else None, **fields,
        )
        ended = [t for t in self.trials if t.state not in ACTIVE]
        if len(ended) >= self.spec.max_trials and len(ended) == len(self.trials) and \
                self.store.get_job(self.name).state is State.RUNNING:
            self.end()
        return trial

    # -- the job itself --------------------------------------------------------------------
    def failure(self) -> str | None:
        """Why the job has failed by the service's rule, or None: ``maxFailedTrials`` failures
        fail it; with 0, it fails when more than half of the finished trials failed (so also
        when the first one did). The message quotes the first failed trial's reason."""
        trials = [t for t in self.trials if t.state in (State.SUCCEEDED, State.FAILED)]
        failed = [t for t in trials if t.state is State.FAILED]
        limit = self.spec.max_failed_trials
        if not failed:
            return None
        if (limit > 0 and len(failed) >= limit) or (limit == 0 and 2 * len(failed) > len(trials)):
            first = min(failed, key=lambda t: (t.end_time or 0.0, t.number))
            return (f"{len(failed)} of {len(trials)} finished trials failed "
                    f"(maxFailedTrials={limit}); trial {first.trial_id}: {first.reason}")
        return None

    def end(self) -> State:
        """End the job by its trials, if it has not ended: FAILED by ``failure`` or when no
        trial succeeded, else SUCCEEDED. Returns the job's final state."""
        state = self.store.get_job(self.name).state
        if state.is_final:
            return state
        failure = self.failure()
        if failure is None and self.best_trial is None:
            failure = "no trial succeeded"
        state = State.FAILED if failure else State.SUCCEEDED
        self.finish(state, failure)
        return state

    def attach_tuner(self, launch: Mapping[str, Any] | None = None) -> None:
        """Record this process as the job's tuner (and how its trials are started)."""
        fields: dict[str, Any] = {"tuner_pid": os.getpid(), "tuner_host": socket.gethostname()}
        if launch is not None:
            fields["launch"] = dict(launch)
        self.store.update_job(self.name, **fields)

    def set_error(self, message: str) -> None:
        """The job's error, shown while its last trials wind down."""
        self.store.update_job(self.name, error_message=message)

    def set_cancelling(self) -> None:
        if self.store.get_job(self.name).state is not State.CANCELLING:
            self.store.update_job(self.name, state=State.CANCELLING)

    def finish(self, state: State, error_message: str | None = None) -> None:
        """End the job itself."""
        self.store.update_job(self.name, state=state, end_time=time.time(),
                              error_message=error_message)


def _stopper(spec: StudySpec, stopper: EarlyStopper | str | None) -> EarlyStopper | None:
    """The job's rule: an instance, a name, or the spec's choice; None when stopping is off.
    An unknown name is a ``SpecError`` even then."""
    if isinstance(stopper, EarlyStopper):
        return stopper if spec.enable_early_stopping else None
    name = stopper or spec.early_stopping_rule or DEFAULT_STOPPER
    try:
        rule = make_stopper(spec.goal, name)
    except ValueError as e:
        raise SpecError("hyperparameters.earlyStoppingRule", name, str(e)) from None
    return rule if spec.enable_early_stopping else None


def _as_store(store: Store | str | os.PathLike[str] | None) -> Store:
    if store is None:
        return open_store(":memory:")
    if isinstance(store, Store):
        return store
    return open_store(store)


def _split(trials: Sequence[TrialRecord]) -> tuple[list[Trial], list[Trial]]:
    """Designer's view: finished trials (cancelled ones teach nothing) and running ones."""
    completed, running = [], []
    for t in trials:
        if t.state in ACTIVE:
            running.append(trial_of(t))
        elif t.state is not State.CANCELLED:
            completed.append(trial_of(t))
    return completed, running


__all__ = ["ACTIVE", "Study", "has_metric", "sort_best_first"]
