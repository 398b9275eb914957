"""tune(): a job like the CLI's whose trials call a function, in fresh processes or in this one;
store, names, resume, early stopping and Ctrl-C as for a CLI job; the job it returns."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fixtures import train_fns
from tf_hptune import jobs, load_spec, tune
from tf_hptune.errors import UsageError
from tf_hptune.launch import pid_alive
from tf_hptune.notebook import load_job
from tf_hptune.store import State, open_store

SPEC = {"hyperparameters": {
    "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": 3,
    "maxParallelTrials": 2,
    "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": -1, "maxValue": 1}]}}
GRID = {"hyperparameters": {
    "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": 3,
    "algorithm": "GRID_SEARCH", "enableTrialEarlyStopping": True,
    "params": [{"parameterName": "x", "type": "INTEGER", "minValue": 1, "maxValue": 3}]}}
FAST = {"poll_interval": 0.05, "grace": 2.0, "display": False}


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.db") as s:
        yield s


@pytest.fixture
def views(monkeypatch):
    """``tf_hptune.views.table`` (issue 16's other half), or a small stand-in until it is
    there: best first, with the keys it promises."""
    try:
        import tf_hptune.views.table  # noqa: F401
        return
    except ImportError:
        pass
    from tf_hptune.study import sort_best_first

    def summary_rows(job, trials):
        goal = load_spec(job.config).goal
        return [{"trial_id": t.trial_id, "params": dict(t.params), "metric": t.final_value,
                 "step": t.final_step, "state": t.state.value, "stopped_early": t.stopped_early,
                 "best_so_far": None} for t in sort_best_first(trials, goal)]

    package = types.ModuleType("tf_hptune.views")
    package.__path__ = []
    table = types.ModuleType("tf_hptune.views.table")
    table.summary_rows = summary_rows
    monkeypatch.setitem(sys.modules, "tf_hptune.views", package)
    monkeypatch.setitem(sys.modules, "tf_hptune.views.table", table)


def pids(job) -> set[int]:
    return {int(Path(job.job_dir, t.trial_id, "pid").read_text()) for t in job.trials}


def test_trials_run_in_fresh_processes_and_the_job_is_the_clis(store, tmp_path, views):
    job = tune(train_fns.quadratic, SPEC, job_name="quad", store=store,
               job_dir=tmp_path / "quad", seed=0, **FAST)
    assert job.state is State.SUCCEEDED and len(job.trials) == 3
    for t in job.trials:
        assert t.state is State.SUCCEEDED
        assert (t.final_step, t.final_value) == (30, pytest.approx((t.params["x"] - 0.3) ** 2))
        assert [m.step for m in t.measurements] == [10, 20, 30]
    assert job.best_trial == min(job.trials, key=lambda t: t.final_value)
    assert len(pids(job)) == 3 and os.getpid() not in pids(job)
    described = jobs.describe(store, "quad")["trainingOutput"]
    assert described["trials"][0]["trialId"] == job.best_trial.trial_id
    frame = job.to_dataframe()
    rows = frame.to_dict("records") if hasattr(frame, "to_dict") else frame
    assert [r["trial_id"] for r in rows][0] == job.best_trial.trial_id
    assert {r["trial_id"]: r["x"] for r in rows} == {t.trial_id: t.params["x"]
                                                     for t in job.trials}
    assert "TuneJob('quad', SUCCEEDED, 3 trials" in repr(job)
    assert load_job("quad", store).best_trial == job.best_trial


def test_in_process_trials_run_here_and_may_capture_anything(store, tmp_path):
    lock = threading.Lock()  # cannot be pickled: fine in this process

    def train(params, context):
        with lock:
            context.report(params["x"] ** 2, 1)
        return os.getpid()

    before = signal.getsignal(signal.SIGINT)
    job = tune(train, SPEC, job_name="here", store=store, job_dir=tmp_path / "here",
               in_process=True, **FAST)
    assert [t.final_value for t in job.trials] == [os.getpid()] * 3
    assert signal.getsignal(signal.SIGINT) is before  # the tuner's handler is gone again
    assert "CLOUD_ML_TRIAL_ID" not in os.environ


def test_early_stopping_stops_a_trial_that_cannot_win(store, tmp_path):
    job = tune(train_fns.curve, GRID, job_name="stopping", store=store,
               job_dir=tmp_path / "stopping", **FAST)
    first, second, third = job.trials
    assert not first.stopped_early and not second.stopped_early
    assert third.stopped_early and third.state is State.SUCCEEDED
    assert len(third.measurements) < 2000 and third.reason


def test_names_are_unique_and_resume_previous_job_id_continues_a_search(store, tmp_path):
    tune(train_fns.quadratic, SPEC, job_name="first", store=store, job_dir=tmp_path / "a",
         in_process=True, **FAST)
    with pytest.raises(UsageError, match="job 'first' already ended .SUCCEEDED.*unique"):
        tune(train_fns.quadratic, SPEC, job_name="first", store=store, **FAST)
    assert tune(train_fns.quadratic, SPEC, job_name="first", store=store, resume=True,
                **FAST).state is State.SUCCEEDED  # an ended job comes back as it is
    again = tune(train_fns.quadratic,
                 {"hyperparameters": {"maxTrials": 2, "resumePreviousJobId": "first"}},
                 job_name="second", store=store, job_dir=tmp_path / "b", in_process=True,
                 **FAST)
    assert [t.trial_id for t in again.trials] == ["4", "5"]
    learner = tune(train_fns.quadratic, SPEC, job_name="first_b", store=store,
                   job_dir=tmp_path / "c", in_process=True, **FAST)
    assert "first" in learner.describe()["trainingOutput"]["learnedFromJobs"]


def test_a_bad_function_or_config_records_nothing(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "cloudpickle", None)
    with pytest.raises(UsageError, match="cannot import"):
        tune(lambda p, c: 1.0, SPEC, job_name="bad", store=store, **FAST)
    with pytest.raises(ValueError, match="maxTrials"):
        tune(train_fns.quadratic, {"hyperparameters": {**SPEC["hyperparameters"],
                                                       "maxTrials": -1}},
             job_name="bad", store=store, **FAST)
    assert store.list_jobs() == []


def test_a_non_number_result_fails_the_trial_with_the_reason_in_its_log(store, tmp_path):
    spec = {"hyperparameters": {**SPEC["hyperparameters"], "maxTrials": 1}}
    job = tune(train_fns.returns_text, spec, job_name="text", store=store,
               job_dir=tmp_path / "text", **FAST)
    assert job.state is State.FAILED
    assert "train_fn returned str" in job.trials[0].log_tail


CHILD = textwrap.dedent('''
    import sys
    from tests.fixtures import train_fns
    from tf_hptune import tune
    spec = {"hyperparameters": {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
            "maxTrials": 3, "maxParallelTrials": 1, "algorithm": "GRID_SEARCH",
            "params": [{"parameterName": "x", "type": "INTEGER", "minValue": 1,
                        "maxValue": 3}]}}
    tune(train_fns.slow, spec, job_name="child", store=sys.argv[1], job_dir=sys.argv[2],
         poll_interval=0.05, grace=1.0)
''')


def start_child(tmp_path, slow_secs: str):
    """A script calling tune() (its command line does not name tf_hptune, as a kernel's)."""
    script = tmp_path / "notebook_like.py"
    script.write_text(CHILD)
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "store.db"),
                             str(tmp_path / "child")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SLOW_SECS": slow_secs, "PYTHONPATH": str(ROOT)})


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_ctrl_c_cancels_the_job_and_its_trials_and_interrupts_the_caller(store, tmp_path):
    proc = start_child(tmp_path, "30")
    wait_for(lambda: [t for t in store.list_trials("child") if t.measurements]
             if store.list_jobs() else False)
    trial = store.list_trials("child")[0]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT  # Python's exit on an uncaught KeyboardInterrupt
    assert "KeyboardInterrupt: job child was cancelled" in err
    assert store.get_job("child").state is State.CANCELLED
    assert [t.state for t in store.list_trials("child")] == [State.CANCELLED]
    wait_for(lambda: not pid_alive(trial.pid))
    assert "[child]" in err and "\x1b" not in err  # the progress line, plain in a pipe


def test_jobs_cancel_from_elsewhere_reaches_the_process_running_tune(store, tmp_path):
    proc = start_child(tmp_path, "30")
    wait_for(lambda: [t for t in store.list_trials("child") if t.measurements]
             if store.list_jobs() else False)
    job = store.get_job("child")
    assert jobs.tuner_holder(job) == proc.pid  # it holds the job dir's tuner lock
    assert jobs.cancel(store, "child", timeout=60) is State.CANCELLED
    _, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt: job child was cancelled" in err


def test_resume_continues_a_job_whose_process_died_without_rerunning_a_trial(
        store, tmp_path, monkeypatch):
    proc = start_child(tmp_path, "3")
    wait_for(lambda: [t for t in store.list_trials("child") if t.measurements]
             if store.list_jobs() else False)
    proc.kill()  # the notebook's kernel dies; its trial lives on
    proc.communicate()
    first = store.list_trials("child")[0]
    assert store.get_job("child").state is State.RUNNING and pid_alive(first.pid)
    monkeypatch.setenv("SLOW_SECS", "0.3")
    job = tune(train_fns.slow, {}, job_name="child", store=store, resume=True, **FAST)
    assert job.state is State.SUCCEEDED
    assert [(t.trial_id, t.state) for t in job.trials] == [(i, State.SUCCEEDED) for i in "123"]
    assert job.trials[0].pid == first.pid  # adopted, not run again
    assert len(job.trials[0].measurements) == 30  # it ran its 3 s in the child's world
