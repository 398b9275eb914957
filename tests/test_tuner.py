"""The Tuner loop with real subprocesses of a trainer that needs no TensorFlow."""
from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import FAKE_PACKAGE, make_spec
from tf_hptune.ahead import CHUNK
from tf_hptune.jobdir import JobDirInUseError, claim_job_dir
from tf_hptune.launch import LaunchConfig, LocalLauncher
from tf_hptune.spec import Goal
from tf_hptune.stopping import EarlyStopper, StopDecision
from tf_hptune.store import State, open_store
from tf_hptune.study import Study
from tf_hptune.tuner import Tuner

PARAMS = [
    {"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 3},
    {"parameterName": "b", "type": "DISCRETE", "discreteValues": [2, 4]},
]


class CountingLauncher(LocalLauncher):
    """Records the most trials it ever had running at once."""

    def __init__(self, python):
        super().__init__(python)
        self.live: set[str] = set()
        self.peak = 0

    def start(self, request):
        handle = super().start(request)
        self.live.add(request.trial_id)
        self.peak = max(self.peak, len(self.live))
        return handle

    def poll(self, handle):
        self.started_before_a_poll = getattr(self, "started_before_a_poll", len(self.live))
        code = super().poll(handle)
        if code is not None:
            self.live.discard(handle.trial_id)
        return code


def run_job(tmp_path, user_args=(), launcher=None, trial_timeout=None, stopper=None, **hp):
    hp = {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss", **hp}
    study = Study.create(make_spec(PARAMS, **hp), store=open_store(tmp_path / "s.db"),
                         name="job", seed=0, stopper=stopper)
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"),
                          user_args=tuple(user_args))
    tuner = Tuner(study, launch, launcher=launcher, poll_interval=0.05, grace=1.0,
                  trial_timeout=trial_timeout)
    return study, tuner, tuner.run


def test_job_runs_every_trial_within_parallel_limit(tmp_path):
    launcher = CountingLauncher(__import__("sys").executable)
    study, _, run = run_job(tmp_path, ("--sleep", "0.2"), launcher=launcher,
                            maxTrials=5, maxParallelTrials=2)
    assert run() is State.SUCCEEDED
    trials = study.trials
    assert [t.trial_id for t in trials] == ["1", "2", "3", "4", "5"]
    assert all(t.state is State.SUCCEEDED for t in trials)
    assert launcher.peak == 2
    for t in trials:
        # the last value seen, with its step; every measurement kept in step order
        assert t.final_step == 300 and [m.step for m in t.measurements] == [100, 200, 300]
        expected = (t.params["a"] + t.params["b"] - 7.0) ** 2 + 1 / 3
        assert t.final_value == pytest.approx(expected)
        assert t.start_time <= t.end_time
    best = study.best_trial
    assert best.final_value == min(t.final_value for t in trials)
    assert study.store.get_job("job").state is State.SUCCEEDED


def test_more_free_slots_than_a_chunk_all_start_at_once(tmp_path):
    launcher = CountingLauncher(__import__("sys").executable)
    study, _, run = run_job(tmp_path, ("--sleep", "0.5"), launcher=launcher,
                            maxTrials=CHUNK + 3, maxParallelTrials=CHUNK + 3)
    assert run() is State.SUCCEEDED
    assert launcher.started_before_a_poll == launcher.peak == CHUNK + 3


def test_grid_search_ends_when_the_grid_does(tmp_path):
    study, _, run = run_job(tmp_path, algorithm="GRID_SEARCH", maxTrials=50,
                            maxParallelTrials=3)
    assert run() is State.SUCCEEDED
    keys = sorted((t.params["a"], t.params["b"]) for t in study.trials)
    assert keys == [(a, b) for a in (1, 2, 3) for b in (2, 4)]


def test_first_trial_failing_fails_the_job_with_reason_and_log(tmp_path):
    study, _, run = run_job(tmp_path, ("--mode", "crash"), maxTrials=4)
    assert run() is State.FAILED
    (t,) = study.trials
    assert t.state is State.FAILED and t.reason == "exited with code 3"
    assert "something went wrong" in t.log_tail
    job = study.store.get_job("job")
    assert "trial 1: exited with code 3" in job.error_message


def test_exit_zero_without_metric_is_a_failure(tmp_path):
    study, _, run = run_job(tmp_path, ("--mode", "nometric"), maxTrials=2)
    assert run() is State.FAILED
    assert "no value of metric 'loss'" in study.trials[0].reason


def test_nan_metric_fails_the_trial(tmp_path):
    study, _, run = run_job(tmp_path, ("--mode", "nan"), maxTrials=1)
    assert run() is State.FAILED
    assert "is nan" in study.trials[0].reason


def test_later_failures_fail_the_job_past_half(tmp_path):
    # trials 2 and 3 crash: after trial 1 succeeds, 2 of 3 finished have failed
    study, _, run = run_job(tmp_path, ("--fail-trials", "2,3"), maxTrials=6)
    assert run() is State.FAILED
    states = [t.state for t in study.trials]
    assert states[:3] == [State.SUCCEEDED, State.FAILED, State.FAILED]
    assert len(states) == 3


def test_one_failure_in_two_does_not_fail_the_job(tmp_path):
    study, _, run = run_job(tmp_path, ("--fail-trials", "2"), maxTrials=4)
    assert run() is State.SUCCEEDED
    assert [t.state for t in study.trials].count(State.FAILED) == 1


def test_max_failed_trials_is_a_count(tmp_path):
    study, _, run = run_job(tmp_path, ("--fail-trials", "1,2,3"), maxTrials=6,
                            maxFailedTrials=3)
    assert run() is State.FAILED
    assert [t.state for t in study.trials].count(State.FAILED) == 3


def test_trial_timeout(tmp_path):
    study, _, run = run_job(tmp_path, ("--mode", "hang"), trial_timeout=0.5, maxTrials=1)
    assert run() is State.FAILED
    assert "exceeded --trial-timeout" in study.trials[0].reason


def test_cancel_terminates_running_trials(tmp_path):
    study, tuner, run = run_job(tmp_path, ("--mode", "hang"), maxTrials=4, maxParallelTrials=2)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("state", run()))
    thread.start()
    deadline = time.monotonic() + 20
    while sum(t.state is State.RUNNING for t in study.trials) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tuner.request_cancel()
    thread.join(20)
    assert result["state"] is State.CANCELLED
    assert [t.state for t in study.trials] == [State.CANCELLED, State.CANCELLED]
    assert study.store.get_job("job").state is State.CANCELLED


def test_job_dir_of_another_job_is_refused(tmp_path):
    claim_job_dir(str(tmp_path), "first")
    claim_job_dir(str(tmp_path), "first")
    with pytest.raises(JobDirInUseError, match="first"):
        claim_job_dir(str(tmp_path), "second")


def test_early_stopping_stops_clearly_bad_trials(tmp_path):
    # the fake trainer's loss is (len(category) - 7)**2 + 1/step: once two trials have
    # completed, the later ones (1, 36 and 25 worse than the best) are hopeless
    spec = make_spec(
        [{"parameterName": "c", "type": "CATEGORICAL",
          "categoricalValues": ["aaaaaaa", "aaaaaa", "aaaaaaaa", "a", "aa"]}],
        goal="MINIMIZE", hyperparameterMetricTag="loss", algorithm="GRID_SEARCH",
        maxTrials=5, maxParallelTrials=1, enableTrialEarlyStopping=True)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="job")
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"),
                          user_args=("--steps", "20", "--sleep", "0.1"))
    assert Tuner(study, launch, poll_interval=0.05, grace=0.5).run() is State.SUCCEEDED
    trials = study.trials
    assert [t.stopped_early for t in trials] == [False, False, True, True, True]
    for t in trials[2:]:
        assert t.state is State.SUCCEEDED and "learning-curve rule" in t.reason
        # a stopped trial keeps its last value as its final metric
        assert t.final_step == t.measurements[-1].step < 2000
        assert t.final_value == t.measurements[-1].value
    assert all(t.final_step == 2000 for t in trials[:2])
    assert (tmp_path / "out" / "tf_hptune" / "4" / "STOP").exists()
    assert study.best_trial.params == {"c": "aaaaaaa"}


@pytest.mark.parametrize("mode", ["ok", "listen"])
def test_a_stopped_trial_that_does_not_listen_gets_sigterm_at_once(tmp_path, mode):
    # a grace far longer than the trials: only a trial that listens for STOP is waited for
    spec = make_spec(
        [{"parameterName": "c", "type": "CATEGORICAL",
          "categoricalValues": ["aaaaaaa", "aaaaaa", "a"]}],
        goal="MINIMIZE", hyperparameterMetricTag="loss", algorithm="GRID_SEARCH",
        maxTrials=3, maxParallelTrials=1, enableTrialEarlyStopping=True)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="job")
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"),
                          user_args=("--steps", "100", "--sleep", "0.05", "--mode", mode))
    assert Tuner(study, launch, poll_interval=0.05, grace=600.0).run() is State.SUCCEEDED
    stopped = study.trials[2]
    assert stopped.stopped_early and stopped.final_step < 10000
    control = tmp_path / "out" / "tf_hptune" / "3"
    assert (control / "LISTENING").exists() is (mode == "listen")
    assert (tmp_path / "out" / "3" / "SIGTERM").exists() is (mode == "ok")


def test_study_should_stop_answers_for_hand_driven_trials():
    spec = make_spec(PARAMS, goal="MINIMIZE", maxTrials=10, enableTrialEarlyStopping=True)
    study = Study.create(spec, seed=1)
    for trial in study.suggest(3):
        for step in (100, 200, 300):
            study.report(trial.id, step, 1.0 + 1.0 / step)
        study.complete(trial.id)
    bad, good = study.suggest(2)
    study.report(bad.id, 100, 50.0)
    study.report(good.id, 100, 1.0)
    assert study.should_stop(bad.id) and not study.should_stop(good.id)
    off = Study.create(make_spec(PARAMS, maxTrials=2), seed=1)
    (t,) = off.suggest(1)
    off.report(t.id, 100, 1e9)
    assert not off.should_stop(t.id)


@pytest.mark.parametrize(("mode", "step", "value"), [
    ("garbage", 42, 2.5), ("huge", 7, 3.5), ("rmdir", 9, 4.5), ("hugestep", 42, 2.5)])
def test_hostile_metric_files_and_vanishing_directories(tmp_path, mode, step, value):
    study, _, run = run_job(tmp_path, ("--mode", mode), maxTrials=1)
    assert run() is State.SUCCEEDED
    (t,) = study.trials
    assert (t.final_step, t.final_value) == (step, value)


class FullDiskStore:
    """Delegates to a real store, but fails every trial update after the first few."""

    def __init__(self, store, budget):
        self._store, self.budget = store, budget

    def __getattr__(self, name):
        return getattr(self._store, name)

    def update_trial(self, *args, **kwargs):
        self.budget -= 1
        if self.budget < 0:
            from tf_hptune.errors import StoreError
            raise StoreError("cannot write store s.db: database or disk is full")
        return self._store.update_trial(*args, **kwargs)


def test_a_full_store_stops_the_tuner_with_a_clear_error(tmp_path):
    from tf_hptune.errors import StoreError

    study, tuner, run = run_job(tmp_path, ("--steps", "1"), maxTrials=3)
    real = study.store
    study.store = FullDiskStore(real, budget=3)
    with pytest.raises(StoreError, match="disk is full.*jobs resume job"):
        run()
    reopened = open_store(tmp_path / "s.db")
    assert reopened.get_job("job").name == "job"
    assert all(t.state is not None for t in reopened.list_trials("job"))


class StopAt(EarlyStopper):
    """Stops every trial once it has reported ``step`` (no warm-up)."""

    def __init__(self, step):
        super().__init__(Goal.MINIMIZE, min_completed=0, min_step_fraction=0.0)
        self.step = step

    def decide(self, trial, peers):  # the whole decision: no warm-up, no best-trial guard
        return self._decide(trial, peers, 0)

    def _decide(self, trial, completed, horizon):
        if trial.measurements and trial.last_step >= self.step:
            return StopDecision(True, f"reached step {self.step}")
        return StopDecision(False)


def test_a_stop_decided_on_a_trials_last_measurement_does_not_mark_it_stopped(tmp_path):
    # the trial listens, reports step 300 last and exits without looking at STOP again
    study, _, run = run_job(tmp_path, ("--mode", "listen", "--steps", "3", "--sleep", "0.3"),
                            stopper=StopAt(300), maxTrials=1, enableTrialEarlyStopping=True)
    assert run() is State.SUCCEEDED
    (trial,) = study.trials
    assert trial.state is State.SUCCEEDED and trial.final_step == 300
    assert not trial.stopped_early and trial.reason is None


def test_a_trial_stopped_midway_that_acts_on_it_is_stopped_early(tmp_path):
    study, _, run = run_job(tmp_path, ("--mode", "listen", "--steps", "20", "--sleep", "0.1"),
                            stopper=StopAt(300), maxTrials=1, enableTrialEarlyStopping=True)
    assert run() is State.SUCCEEDED
    (trial,) = study.trials
    assert trial.stopped_early and trial.reason == "reached step 300"
    assert 300 <= trial.final_step < 2000


def test_a_cancel_keeps_what_trials_finished_in_the_grace_period(tmp_path):
    # trial 1 answers SIGTERM with a last report and exits 0: it keeps that end; trial 2 is
    # killed by the signal: CANCELLED, with its last measurement as its metric
    study, tuner, run = run_job(tmp_path, ("--mode", "lastwords", "--lastwords-trials", "1"),
                                maxTrials=2, maxParallelTrials=2)

    def cancel_when_both_report():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(
                [t for t in study.trials if t.measurements]) < 2:
            time.sleep(0.05)
        tuner.request_cancel()

    threading.Thread(target=cancel_when_both_report, daemon=True).start()
    assert run() is State.CANCELLED
    first, second = study.trials
    assert first.state is State.SUCCEEDED
    assert (first.final_step, first.final_value) == (999, 0.25)
    assert second.state is State.CANCELLED
    assert (second.final_step, second.final_value) == (100, 0.5)


def test_values_that_look_like_flags_reach_the_trainer_as_values(tmp_path):
    # one --name=value item each: a value is never read as an option by the trainer
    evil = tmp_path / "evil"
    spec = make_spec([{"parameterName": "c", "type": "CATEGORICAL",
                       "categoricalValues": [f"--job-dir={evil}", "-h", "--mode=crash"]}],
                     goal="MINIMIZE", hyperparameterMetricTag="loss", algorithm="GRID_SEARCH",
                     maxTrials=3, maxParallelTrials=3)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="job")
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"),
                          user_args=("--mode", "strict"))  # argparse over every flag
    assert Tuner(study, launch, poll_interval=0.05).run() is State.SUCCEEDED
    assert [t.state for t in study.trials] == [State.SUCCEEDED] * 3
    for t in study.trials:
        seen = json.loads((tmp_path / "out" / t.trial_id / "seen.json").read_text())
        assert seen["job_dir"] == str(tmp_path / "out" / t.trial_id)
        assert seen["params"] == {"c": t.params["c"]}
    assert not evil.exists()


def test_trial_logs_are_capped_keeping_their_head_and_tail(tmp_path, monkeypatch):
    from tf_hptune import logs

    monkeypatch.setattr(logs, "LOG_LIMIT", 200_000)
    monkeypatch.setattr(logs, "LOG_HEAD", 10_000)
    monkeypatch.setattr(logs, "LOG_TAIL", 50_000)
    study, _, run = run_job(tmp_path, ("--mode", "spew", "--steps", "4", "--sleep", "0.3"),
                            maxTrials=1)
    assert run() is State.SUCCEEDED
    out = (tmp_path / "out" / "tf_hptune" / "1" / "stdout.log").read_bytes()
    assert len(out) <= 200_000  # the trial wrote 4 MB
    assert out.startswith(b"fake trainer starting")
    assert b"[tf-hptune: " in out and b"bytes of this log were cut here]" in out
    assert b"spewed 4000 lines\n" in out[-200:]  # and the end
    assert study.trials[0].final_step == 400  # the trial went on writing after each cut
