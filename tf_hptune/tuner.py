"""The Tuner: suggest while slots are free, launch, collect, reap, record, repeat.

It drives its job through the job's ``Study`` (the one writer of the job in the store). It ends
when ``maxTrials`` trials have finished (or the designer has nothing left), when the failure
limit is passed, or on a cancel.
"""
from __future__ import annotations

import enum
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tf_hptune.ahead import SuggestAhead
from tf_hptune.channel import TrialChannel, TrialPaths
from tf_hptune.errors import LaunchError, StoreError
from tf_hptune.jobdir import claim_job_dir
from tf_hptune.launch import (
    UNKNOWN_EXIT,
    LaunchConfig,
    Launcher,
    LocalLauncher,
    TrialHandle,
    TrialRequest,
    build_request,
)
from tf_hptune.logs import cap_logs, failure_cause, log_tail
from tf_hptune.resources import ResourcePool, Resources
from tf_hptune.store import State, TrialRecord
from tf_hptune.study import ACTIVE, Study
from tf_hptune.views.tensorboard import HParamsWriter

log = logging.getLogger("tf_hptune")


@dataclass(frozen=True)
class Progress:
    """A snapshot for the progress line."""

    job_name: str
    max_trials: int
    done: int
    running: int
    failed: int
    best: TrialRecord | None
    metric_tag: str
    state: State = State.RUNNING  # the job's: CANCELLING while a cancel winds down


class Phase(enum.Enum):
    """Where a running trial is in its life, as the Tuner sees it."""

    RUNNING = "running"
    STOPPED = "stopped"  # the stopping rule stopped it: it succeeds with its last value
    CANCELLED = "cancelled"  # the job is cancelled or failed: the trial is CANCELLED
    TIMED_OUT = "timed out"  # past --trial-timeout: the trial FAILS


@dataclass
class _Running:
    trial_id: str
    handle: TrialHandle
    channel: TrialChannel
    started: float = field(default_factory=time.monotonic)
    phase: Phase = Phase.RUNNING
    since: float = 0.0  # when the phase began (monotonic)
    reason: str | None = None  # why the phase began

    def enter(self, phase: Phase, reason: str) -> None:
        self.phase, self.reason, self.since = phase, reason, time.monotonic()


class Tuner:
    """Runs (or continues) the job of ``study`` with trials started by ``launcher`` on the
    resources of ``pool``."""

    def __init__(
        self,
        study: Study,
        launch: LaunchConfig,
        *,
        launcher: Launcher | None = None,
        pool: ResourcePool | None = None,
        poll_interval: float = 1.0,
        grace: float = 10.0,
        trial_timeout: float | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_poll: Callable[[dict[str, TrialPaths]], None] | None = None,
        on_trial_end: Callable[[TrialRecord], None] | None = None,
    ) -> None:
        self.study = study
        self.launch = launch
        self.launcher = launcher or LocalLauncher(launch.python)
        self.pool = pool or ResourcePool()
        self.poll_interval = poll_interval
        self.grace = grace
        self.trial_timeout = trial_timeout
        self.on_progress = on_progress
        self.on_poll = on_poll
        self.on_trial_end = on_trial_end
        self._running: dict[str, _Running] = {}
        self._ahead = SuggestAhead(study, study.spec.max_parallel_trials)
        self._cancel = False
        self._force = False
        self._exhausted = False
        self._last_progress: Progress | None = None

    # -- control ---------------------------------------------------------------------------
    def request_cancel(self, force: bool = False) -> None:
        """Cancel the job (safe from a signal handler); ``force`` skips the grace period."""
        self._force = self._force or (force and self._cancel)
        self._cancel = True

    def install_signal_handlers(self) -> None:
        """SIGINT, SIGTERM and SIGHUP (a closed terminal) cancel the job; a second one forces
        it. After SIGHUP the terminal is gone: what would be printed on it is dropped."""
        terminals = [fd for fd in (0, 1, 2) if os.isatty(fd)]  # a hung-up one says it is not

        def handler(signum: int, frame: object) -> None:
            if signum == signal.SIGHUP:
                _leave_terminal(terminals)
            self.request_cancel(force=True)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, handler)

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> State:
        """Run the job to its end; return its final state. A store that cannot be written
        raises ``StoreError``; the trials then running are left to a later ``jobs resume``."""
        try:
            return self._run()
        except StoreError as e:
            raise StoreError(
                f"{e}. Trials still running go on; `tf-hptune jobs resume {self.study.name}` "
                "continues the job once the store can be written"
            ) from e
        finally:
            self._ahead.close()

    def _run(self) -> State:
        with claim_job_dir(self.launch.job_dir, self.study.name):  # one tuner per job
            if self.study.state is State.CANCELLING:  # a tuner died cancelling: finish it
                self._cancel = True
            self.study.attach_tuner(self.launch.to_dict())
            for note in self.pool.notes:
                log.warning("tf_hptune: %s", note)
            self._take_over_leftovers()
            return self._loop()

    def _loop(self) -> State:
        hparams = HParamsWriter(self.launch.job_dir, self.study.spec, self.study.name)
        while True:
            self._reap()
            hparams.update(self.study.trials)
            if self._cancel:
                if self._wind_down(State.CANCELLED, "cancelled by the user"):
                    return State.CANCELLED
            else:
                failure = self.study.failure()
                if failure:
                    self.study.set_error(failure)
                    if self._wind_down(State.FAILED, failure):
                        return State.FAILED
                else:
                    self._collect_and_judge()
                    self._launch_free_slots()
                    if not self._running and self._no_more_trials():
                        self._report_progress()
                        return self.study.end()
            self._report_progress()
            self.launcher.wait([r.handle for r in self._running.values()], self.poll_interval)

    def _no_more_trials(self) -> bool:
        return self._exhausted or len(self.study.trials) >= self.study.spec.max_trials

    def _wind_down(self, state: State, reason: str) -> bool:
        """Terminate every running trial; once none is left, end the job. True when ended."""
        if state is State.CANCELLED:
            self.study.set_cancelling()
        for run in self._running.values():
            if run.phase is not Phase.CANCELLED and run.phase is not Phase.TIMED_OUT:
                run.enter(Phase.CANCELLED, reason)
            self.launcher.terminate(run.handle, 0.0 if self._force else self.grace)
        if self._running:
            return False
        for t in self.study.trials:
            if t.state in ACTIVE:  # created but never started
                self.study.fail(t.trial_id, reason, state=State.CANCELLED)
        self.study.finish(state, None if state is State.CANCELLED else reason)
        return True

    def _take_over_leftovers(self) -> None:
        """On a restart: start the trials never started (unless the job is being cancelled),
        and take the others over from the launcher: a live one is adopted, one that ended
        while no tuner ran is judged at the next reap like any other, by its files and its
        recorded exit. A trial the launcher knows nothing of is judged from its files alone;
        with none, it never ran, and is never started again (it might have)."""
        for t in self.study.trials:
            if t.state not in ACTIVE:
                continue
            if t.state is State.QUEUED:
                if not self._cancel:
                    self._start(t)
                continue
            # an adopted trial holds a share; which one it runs on is not known again
            request = self._request(t, self.pool.acquire(t.trial_id) or Resources())
            handle = self.launcher.adopt(request, t.pid)
            if handle is not None:
                if t.state is State.PREPARING:  # started, but its pid was never recorded
                    self.study.start(t.trial_id, pid=handle.pid,
                                     trial_dir=str(request.paths.job_dir))
                self._track(t.trial_id, handle, request)
                continue
            self.pool.release(t.trial_id)
            run = _Running(t.trial_id, TrialHandle(t.trial_id), self._channel(request))
            if self._collect(run) or t.state is not State.PREPARING:
                self._record_exit(run, UNKNOWN_EXIT)
            else:
                self.study.fail(t.trial_id, "the tuner stopped while starting it",
                                log_tail=log_tail(request.paths))

    def _launch_free_slots(self) -> None:
        free = min(self.study.spec.max_parallel_trials - len(self._running), self.pool.free)
        if self._no_more_trials():
            return
        while free > 0:  # a chunk at a time: each starts while the next is computed
            new = self._ahead.take(free)
            if not new:
                self._exhausted = True
                break
            for trial in new:
                self._start(trial)
            free -= len(new)
        self._ahead.prefetch()  # the next points, while these trials run

    def _request(self, trial: TrialRecord, resources: Resources) -> TrialRequest:
        return build_request(self.study.name, trial.trial_id, trial.params, self.study.spec,
                             self.launch, resources)

    def _start(self, trial: TrialRecord) -> None:
        resources = self.pool.acquire(trial.trial_id)
        assert resources is not None  # trials are made only for free shares
        request = self._request(trial, resources)
        # PREPARING marks the attempt, so that a tuner killed during the start never runs
        # the trial a second time after a restart.
        self.study.update_trial(trial.trial_id, state=State.PREPARING)
        try:
            handle = self.launcher.start(request)
        except LaunchError as e:
            self.pool.release(trial.trial_id)
            self.study.fail(trial.trial_id, str(e))
            return
        self.study.start(trial.trial_id, pid=handle.pid, trial_dir=str(request.paths.job_dir))
        self._track(trial.trial_id, handle, request)

    def _channel(self, request: TrialRequest) -> TrialChannel:
        return TrialChannel(request.paths, self.study.spec.metric_tag)

    def _track(self, trial_id: str, handle: TrialHandle, request: TrialRequest) -> None:
        self._running[trial_id] = _Running(trial_id, handle, self._channel(request))

    def _collect(self, run: _Running) -> int:
        cap_logs(run.channel.paths)
        try:
            return self.study.report_many(run.trial_id, run.channel.measurements())
        except OSError:  # the trial removed its directory under us: judged when it exits
            return 0

    def _collect_and_judge(self) -> None:
        now = time.monotonic()
        for run in self._running.values():
            new = self._collect(run)
            if run.phase is Phase.RUNNING:
                if self.trial_timeout is not None and now - run.started > self.trial_timeout:
                    run.enter(Phase.TIMED_OUT,
                              f"exceeded --trial-timeout of {self.trial_timeout:g} s")
                    self.launcher.terminate(run.handle, self.grace)
                elif new:
                    self._judge(run)
            elif run.phase is Phase.STOPPED and now - run.since > self.grace:
                self.launcher.terminate(run.handle, self.grace)
        if self.on_poll:
            self.on_poll({tid: r.channel.paths for tid, r in self._running.items()})

    def _judge(self, run: _Running) -> None:
        """Ask the stopping rule; a stopped trial gets a STOP file, which our hooks turn into a
        clean end within the grace period; one that never said it listens gets SIGTERM now.
        A decision about a trial whose process has already ended does not count."""
        decision = self.study.stop_decision(run.trial_id)
        if decision.should_stop and self.launcher.poll(run.handle) is None:
            run.enter(Phase.STOPPED, decision.reason)
            run.channel.request_stop(decision.reason)
            if not run.channel.listening():
                self.launcher.terminate(run.handle, self.grace)

    def _reap(self) -> None:
        for tid, run in list(self._running.items()):
            code = self.launcher.poll(run.handle)
            if code is None:
                continue
            del self._running[tid]
            self.pool.release(tid)
            self._collect(run)  # the final evaluation comes after the last checkpoint
            self._record_exit(run, code)
            if self.on_trial_end:
                self.on_trial_end(self.study.trial(tid))
        if self.on_poll and not self._running:
            self.on_poll({})

    def _record_exit(self, run: _Running, code: int) -> None:
        """A trial's end, by its phase and exit code. A trial asked to stop counts as stopped
        early only if it ended because of it: it acknowledged the request, or our signal ended
        it; one that ran to its end meanwhile exits 0 on its own. Likewise a cancelled trial
        that exits by itself in the grace period keeps the end it reached."""
        tail = log_tail(run.channel.paths)
        tid = run.trial_id
        trial = self.study.trial(tid)
        if run.phase is Phase.CANCELLED and _ended_by_signal(code):
            final = trial.measurements[-1] if trial.measurements else None
            self.study.fail(tid, run.reason or "cancelled", state=State.CANCELLED, final=final,
                            log_tail=tail)
        elif run.phase is Phase.TIMED_OUT:
            self.study.fail(tid, run.reason or "timed out", log_tail=tail)
        elif run.phase is Phase.STOPPED and (code != 0 or run.channel.acknowledged_stop()):
            self.study.complete(tid, stopped_early=True, reason=run.reason, log_tail=tail)
        elif run.handle.failure:
            self.study.fail(tid, run.handle.failure, log_tail=tail)
        elif code not in (0, UNKNOWN_EXIT):
            self.study.fail(tid, _describe_exit(code, tail), log_tail=tail)
        elif not trial.measurements:
            self.study.fail(tid, self._no_metric(run, code), log_tail=tail)
        else:
            self.study.complete(tid, log_tail=tail)

    def _no_metric(self, run: _Running, code: int) -> str:
        """Why an ended trial has no metric: the tags it wrote instead, the trainer's error."""
        reason = f"no value of metric {self.study.spec.metric_tag!r} was reported"
        others = run.channel.other_tags()
        reason += (f"; the trial wrote {', '.join(map(repr, others))}" if others else
                   "; the trial wrote no metric at all")
        cause = failure_cause(log_tail(run.channel.paths))
        return f"{reason} (its last error: {cause})" if cause else reason

    def _report_progress(self) -> None:
        if not self.on_progress:
            return
        trials = self.study.trials
        progress = Progress(
            state=State.CANCELLING if self._cancel else State.RUNNING,
            job_name=self.study.name,
            max_trials=self.study.spec.max_trials,
            done=sum(1 for t in trials if t.state is State.SUCCEEDED),
            running=len(self._running),
            failed=sum(1 for t in trials if t.state is State.FAILED),
            best=self.study.best_trial,
            metric_tag=self.study.spec.metric_tag,
        )
        if progress != self._last_progress:
            self._last_progress = progress
            self.on_progress(progress)


def _leave_terminal(fds: list[int]) -> None:
    """Point ``fds`` (the standard streams that were a terminal) at /dev/null: the terminal
    hung up, and writing to it would fail."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _ended_by_signal(code: int) -> bool:
    """Whether an exit code says a signal ended the process (itself, or a shell's 128 + n)."""
    return code < 0 or 128 < code <= 128 + 64  # UNKNOWN_EXIT (an adopted trial) is < 0


def _describe_exit(code: int, tail: str = "") -> str:
    """``exited with code 1: <the trainer's own error>`` and the like."""
    if code < 0:
        try:
            what = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            what = f"killed by signal {-code}"
    else:
        what = f"exited with code {code}"
    cause = failure_cause(tail)
    return f"{what}: {cause}" if cause else what


__all__ = ["Phase", "Progress", "Tuner"]
