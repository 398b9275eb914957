"""A job survives its tuner being killed at any moment, and Ctrl-C, a closed terminal or
`jobs cancel` end it cleanly. Races are forced, not timed: a tuner is stopped (SIGSTOP) at the
exact point of interest by tests/fixtures/pause.py, then killed or released."""
from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time

import yaml

from tests.conftest import FAKE_PACKAGE, ROOT
from tf_hptune import jobs
from tf_hptune.errors import JobNotFoundError
from tf_hptune.launch import LaunchConfig, pid_alive
from tf_hptune.spec import load_spec
from tf_hptune.store import State, open_store
from tf_hptune.study import Study

PAUSE = ROOT / "tests" / "fixtures" / "pause.py"
HP = {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": 4,
      "maxParallelTrials": 2, "maxFailedTrials": 3,
      "params": [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 9}]}


def config(tmp_path, **hp):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"hyperparameters": {**HP, **hp}}))
    return path


def cli_argv(*args, pause=None):
    head = [sys.executable, str(PAUSE), pause, "--"] if pause else [sys.executable, "-m",
                                                                     "tf_hptune.cli"]
    return [*head, *args]


def submit(tmp_path, *user_args, grace="10", hp=None, **popen):
    store = str(tmp_path / "s.db")
    argv = cli_argv("jobs", "submit", "training", "job", "--config",
                    str(config(tmp_path, **(hp or {}))), "--module-name", "trainer.task",
                    "--package-path", str(FAKE_PACKAGE), "--job-dir", str(tmp_path / "out"),
                    "--store", store, "--poll-interval", "0.05", "--grace", grace,
                    "--stream-logs", "--", *user_args)
    popen = popen or {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    proc = subprocess.Popen(argv, cwd=ROOT, text=True, **popen)
    return proc, open_store(store), store


def resume(path, *flags, pause=None):
    return subprocess.Popen(cli_argv("jobs", "resume", "job", "--store", path,
                                     "--poll-interval", "0.05", *flags, pause=pause),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def stopped(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"T"
    except OSError:
        return False


def running(store):
    try:
        trials = store.list_trials("job")
    except JobNotFoundError:  # the CLI has not recorded the job yet
        return []
    return [t for t in trials if t.state is State.RUNNING]


def ended(store):
    try:
        return store.get_job("job").state.is_final
    except JobNotFoundError:
        return False


def seen(tmp_path, trial_id):
    return json.loads((tmp_path / "out" / trial_id / "seen.json").read_text())


def ran_once_as_recorded(tmp_path, trial):
    """The trial ran once, in the process group its tuner recorded (its supervisor's), when
    one was: a tuner killed between starting a trial and recording its pid leaves none, and
    a trial that then ends before the resume is judged from its files."""
    runs = (tmp_path / "out" / trial.trial_id / "runs.log").read_text().split()
    return len(runs) == 1 and trial.pid in (None, int(runs[0]))


def test_sigkilled_tuner_is_resumed_without_losing_or_rerunning_trials(tmp_path):
    # the trials hold after 2 reports (a gate), so the kill finds both running whatever the
    # load; released just before the resume, trial 1 ends before or after the take-over: it
    # is adopted live or judged from its files, and either way ends SUCCEEDED, once
    gate = tmp_path / "go"
    proc, store, path = submit(tmp_path, "--steps", "8", "--sleep", "0.1", "--gate", str(gate),
                               "--gate-step", "2")
    wait_for(lambda: len(running(store)) == 2
             and all(len(t.measurements) == 2 for t in running(store)))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first, second = store.list_trials("job")
    assert pid_alive(first.pid) and pid_alive(second.pid)  # trials outlive their tuner
    os.killpg(second.pid, signal.SIGKILL)  # and one of them is killed while no tuner watches
    wait_for(lambda: not pid_alive(second.pid))

    gate.touch()
    resumed = resume(path)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out + err
    trials = store.list_trials("job")
    assert [t.trial_id for t in trials] == ["1", "2", "3", "4"]
    assert [t.state for t in trials] == [State.SUCCEEDED, State.FAILED, State.SUCCEEDED,
                                         State.SUCCEEDED]
    assert trials[1].reason == "killed by signal SIGKILL"
    # trial 1 ran once, as recorded, and every measurement of it was recorded
    assert ran_once_as_recorded(tmp_path, trials[0]) and trials[0].pid == first.pid
    assert [m.step for m in trials[0].measurements] == [100 * i for i in range(1, 9)]
    assert store.get_job("job").state is State.SUCCEEDED


def test_trials_that_end_while_no_tuner_runs_are_judged_from_their_files(tmp_path):
    # kill -9 the tuner while trials run, let them all end, resume; again until the job ends
    proc, store, path = submit(tmp_path, "--steps", "3", "--sleep", "0.3", "--fail-trials", "3",
                               hp={"maxTrials": 6})
    kills = 0
    while True:
        # a trial runs under this tuner (the records of the killed one's are stale)
        wait_for(lambda: any(t.pid and pid_alive(t.pid) for t in running(store)) or ended(store))
        if ended(store):
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        left = [t.pid for t in store.list_trials("job") if t.pid]
        wait_for(lambda pids=left: not any(pid_alive(p) for p in pids))  # end, no tuner
        proc = resume(path)
    proc.communicate(timeout=120)
    trials = store.list_trials("job")
    assert kills >= 2 and [t.trial_id for t in trials] == ["1", "2", "3", "4", "5", "6"]
    for t in trials:
        assert ran_once_as_recorded(tmp_path, t)
        assert [m.step for m in t.measurements] == ([] if t.trial_id == "3" else
                                                    [100, 200, 300]), t
        assert t.state is (State.FAILED if t.trial_id == "3" else State.SUCCEEDED), t
    assert trials[2].reason.startswith("exited with code 3")  # its exit status, recorded
    assert store.get_job("job").state is State.SUCCEEDED


def two_stubborn_trials(tmp_path):
    """A job whose two trials ignore SIGTERM, under a grace longer than any test, once both
    run: (tuner process, store, store path, the trials' pids)."""
    proc, store, path = submit(tmp_path, "--mode", "stubborn", grace="600")
    wait_for(lambda: len(running(store)) == 2)
    pids = [t.pid for t in running(store)]
    wait_for(lambda: all((tmp_path / "out" / str(i) / "seen.json").exists() for i in (1, 2)))
    return proc, store, path, pids


def test_a_cancel_cut_short_by_a_kill_is_finished_by_resume(tmp_path):
    # trials that ignore SIGTERM and a grace longer than the test: the first tuner is killed
    # while CANCELLING; the resumed one finishes the cancel (with its own short grace)
    proc, store, path, pids = two_stubborn_trials(tmp_path)
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: store.get_job("job").state is State.CANCELLING)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert all(pid_alive(p) for p in pids)
    resumed = resume(path, "--grace", "0.5")
    try:
        out, err = resumed.communicate(timeout=60)
    finally:
        for pid in pids:
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)
        resumed.kill()
    assert "ended: CANCELLED" in out, out + err
    assert store.get_job("job").state is State.CANCELLED
    assert [t.state for t in store.list_trials("job")] == [State.CANCELLED] * 2  # none new
    assert not any(pid_alive(p) for p in pids)


def queued_job(tmp_path):
    """A submitted job with two QUEUED trials, as a tuner killed right after suggesting leaves
    it; returns the store's path."""
    path = str(tmp_path / "s.db")
    store = open_store(path)
    spec = load_spec({"hyperparameters": {**HP, "maxTrials": 2}})
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"),
                          user_args=("--steps", "2", "--sleep", "0.2"))
    jobs.submit(spec, store, "job", launch)
    assert len(Study.load(store, "job").suggest(2)) == 2
    return path


def test_two_resumes_released_at_the_same_point_one_drives_the_job(tmp_path):
    path = queued_job(tmp_path)
    # both stopped where the job is about to be read, after any check of who runs it
    first = resume(path, pause="tf_hptune.study:Study.load")
    wait_for(lambda: stopped(first.pid))
    second = resume(path, pause="tf_hptune.study:Study.load")
    wait_for(lambda: stopped(second.pid) or second.poll() is not None)
    for proc in (first, second):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
    results = [(p, *p.communicate(timeout=120)) for p in (first, second)]
    assert sorted(p.returncode for p, _, _ in results) == [0, 1]
    winner = next(p for p, _, _ in results if p.returncode == 0)
    loser_err = next(err for p, _, err in results if p.returncode == 1)
    assert f"is run by tuner process {winner.pid}" in loser_err
    store = open_store(path)
    trials = store.list_trials("job")
    assert [t.state for t in trials] == [State.SUCCEEDED] * 2
    assert all(ran_once_as_recorded(tmp_path, t) for t in trials)


def test_a_trial_started_but_not_recorded_is_adopted_not_orphaned(tmp_path):
    # the tuner is stopped between starting trial 1 and recording its pid, then killed there
    cfg = config(tmp_path, maxTrials=2, maxParallelTrials=1)
    path = str(tmp_path / "s.db")
    argv = cli_argv("jobs", "submit", "training", "job", "--config", str(cfg), "--module-name",
                    "trainer.task", "--package-path", str(FAKE_PACKAGE), "--job-dir",
                    str(tmp_path / "out"), "--store", path, "--poll-interval", "0.05", "--wait",
                    "--", "--steps", "4", "--gate", str(tmp_path / "go"),
                    pause="tf_hptune.study:Study.start")
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: stopped(proc.pid))
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    store = open_store(path)
    (trial,) = store.list_trials("job")
    assert trial.state is State.PREPARING and trial.pid is None
    wait_for(lambda: (tmp_path / "out" / "1" / "seen.json").exists())  # it runs, unrecorded

    resumed = resume(path)
    wait_for(lambda: store.get_trial("job", "1").pid)  # taken over, still running
    (tmp_path / "go").touch()
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out + err
    first, second = store.list_trials("job")
    assert first.state is State.SUCCEEDED and ran_once_as_recorded(tmp_path, first)
    assert [m.step for m in first.measurements] == [100, 200, 300, 400]
    # maxParallelTrials held: trial 2 started after the adopted trial 1 ended
    done = json.loads((tmp_path / "out" / "1" / "done.json").read_text())["time"]
    assert seen(tmp_path, "2")["time"] >= done


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


def test_a_closed_terminal_cancels_the_foreground_job(tmp_path):
    # the tuner runs on a pseudo-terminal as its controlling terminal; closing it sends SIGHUP
    master, slave = pty.openpty()
    proc, store, _ = submit(tmp_path, "--mode", "hang", stdin=slave, stdout=slave,
                            stderr=slave, preexec_fn=lambda: os.login_tty(slave))
    os.close(slave)
    try:
        wait_for(lambda: len(running(store)) == 2)
        pids = [t.pid for t in running(store)]
    finally:
        os.close(master)  # the terminal goes away
    assert proc.wait(timeout=60) == 1  # the job ended, not the tuner killed by SIGHUP
    assert store.get_job("job").state is State.CANCELLED
    assert {t.state for t in store.list_trials("job")} == {State.CANCELLED}
    assert not any(pid_alive(p) for p in pids)


def test_second_ctrl_c_forces_trials_that_ignore_sigterm(tmp_path):
    # a grace far longer than the test's timeout: only the second Ctrl-C can end the job
    proc, store, _, pids = two_stubborn_trials(tmp_path)
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: store.get_job("job").state is State.CANCELLING)
    assert all(pid_alive(p) for p in pids)  # SIGTERM is ignored
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert store.get_job("job").state is State.CANCELLED
    assert not any(pid_alive(p) for p in pids)


def test_a_cancel_without_a_tuner_reaches_children_that_left_the_trial(tmp_path):
    proc, store, path = submit(tmp_path, "--mode", "escape")
    wait_for(lambda: len(running(store)) == 2)
    children = []
    for i in ("1", "2"):
        child = tmp_path / "out" / i / "child.pid"
        wait_for(lambda c=child: c.exists() and c.read_text())
        children.append(int(child.read_text()))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cli_argv("jobs", "cancel", "job", "--store", path), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert store.get_job("job").state is State.CANCELLED
    wait_for(lambda: not any(pid_alive(c) for c in children))


def test_a_trial_that_turns_its_files_into_fifos_cannot_hang_the_tuner(tmp_path):
    proc, store, _ = submit(tmp_path, "--mode", "fifo", hp={"maxTrials": 1})
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    (trial,) = store.list_trials("job")
    assert (trial.state, trial.final_step, trial.final_value) == (State.SUCCEEDED, 7, 3.5)
