"""A job survives its tuner being killed, and Ctrl-C cancels it cleanly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import FAKE_PACKAGE, ROOT
from tf_hptune.errors import JobNotFoundError
from tf_hptune.launch import pid_alive
from tf_hptune.store import State, open_store

CONFIG = """
hyperparameters:
  goal: MINIMIZE
  hyperparameterMetricTag: loss
  maxTrials: 4
  maxParallelTrials: 2
  maxFailedTrials: 3
  params:
  - parameterName: a
    type: INTEGER
    minValue: 1
    maxValue: 9
"""


def submit(tmp_path, *user_args, grace="10"):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    store = str(tmp_path / "s.db")
    argv = [sys.executable, "-m", "tf_hptune.cli", "jobs", "submit", "training", "job",
            "--config", str(cfg), "--module-name", "trainer.task", "--package-path",
            str(FAKE_PACKAGE), "--job-dir", str(tmp_path / "out"), "--store", store,
            "--poll-interval", "0.05", "--grace", grace, "--stream-logs", "--", *user_args]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return proc, open_store(store), store


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def running(store):
    try:
        trials = store.list_trials("job")
    except JobNotFoundError:  # the CLI has not recorded the job yet
        return []
    return [t for t in trials if t.state is State.RUNNING]


def test_sigkilled_tuner_is_resumed_without_losing_or_rerunning_trials(tmp_path):
    proc, store, path = submit(tmp_path, "--steps", "8", "--sleep", "0.4")
    wait_for(lambda: len(running(store)) == 2 and running(store)[0].measurements)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first, second = store.list_trials("job")
    assert pid_alive(first.pid) and pid_alive(second.pid)  # trials outlive their tuner
    os.killpg(second.pid, signal.SIGKILL)  # and one of them dies while no tuner watches
    wait_for(lambda: not pid_alive(second.pid))

    resumed = subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "resume", "job", "--store", path,
         "--poll-interval", "0.05"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    trials = store.list_trials("job")
    assert [t.trial_id for t in trials] == ["1", "2", "3", "4"]
    assert [t.state for t in trials] == [State.SUCCEEDED, State.FAILED, State.SUCCEEDED,
                                         State.SUCCEEDED]
    assert trials[1].reason == "its process was gone when the tuner restarted"
    # the adopted trial kept running once: same process, every measurement recorded
    seen = json.loads((tmp_path / "out" / "1" / "seen.json").read_text())
    assert seen["pid"] == first.pid
    assert [m.step for m in trials[0].measurements] == [100 * i for i in range(1, 9)]
    assert store.get_job("job").state is State.SUCCEEDED


def test_ctrl_c_cancels_and_terminates_trials(tmp_path):
    proc, store, _ = submit(tmp_path, "--mode", "hang")
    wait_for(lambda: len(running(store)) == 2)
    pids = [t.pid for t in running(store)]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "ended: CANCELLED" in out
    assert store.get_job("job").state is State.CANCELLED
    assert {t.state for t in store.list_trials("job")} == {State.CANCELLED}
    assert not any(pid_alive(p) for p in pids)


def test_second_ctrl_c_forces_trials_that_ignore_sigterm(tmp_path):
    # a grace far longer than the test's timeout: only the second Ctrl-C can end the job
    proc, store, _ = submit(tmp_path, "--mode", "stubborn", grace="600")
    wait_for(lambda: len(running(store)) == 2)
    pids = [t.pid for t in running(store)]
    wait_for(lambda: all((tmp_path / "out" / str(i) / "seen.json").exists() for i in (1, 2)))
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: store.get_job("job").state is State.CANCELLING)
    assert all(pid_alive(p) for p in pids)  # SIGTERM is ignored
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert store.get_job("job").state is State.CANCELLED
    assert not any(pid_alive(p) for p in pids)
