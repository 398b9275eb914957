"""The Launcher contract, run over every launcher: start, poll, terminate, kill, exit codes, and
nothing of a trial left running after terminate or kill."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import FAKE_PACKAGE
from tf_hptune.launch import (
    LaunchConfig,
    Launcher,
    LocalLauncher,
    TrialHandle,
    TrialRequest,
    build_request,
    pid_alive,
)
from tf_hptune.launch.inprocess import InProcessLauncher
from tf_hptune.spec import load_spec

SPEC = load_spec({"hyperparameters": {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
                                      "params": [{"parameterName": "a", "type": "INTEGER",
                                                  "minValue": 1, "maxValue": 9}]}})


def local_launcher(request: pytest.FixtureRequest) -> Launcher:
    return LocalLauncher(sys.executable)


def ray_launcher(request: pytest.FixtureRequest) -> Launcher:
    """On a local Ray cluster of 2 CPUs (skipped without Ray), the trials' node files under a
    directory of their own."""
    from tests.launch.conftest import make_ray_launcher

    return make_ray_launcher(request)


# Each entry makes a launcher for a test (from its pytest request).
LAUNCHERS: dict[str, Callable[[pytest.FixtureRequest], Launcher]] = {
    "local": local_launcher,
    "inprocess": lambda request: InProcessLauncher(),
    "ray": ray_launcher,
}


@pytest.fixture(params=sorted(LAUNCHERS))
def launcher(request) -> Launcher:
    made = LAUNCHERS[request.param](request)
    yield made
    made.close()


def request(tmp_path: Path, *args: str, trial_id: str = "1") -> TrialRequest:
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "job"),
                          user_args=args)
    return build_request("job", trial_id, {"a": 7}, SPEC, launch)


def start(launcher: Launcher, tmp_path: Path, *args: str, trial_id: str = "1") -> TrialHandle:
    return launcher.start(request(tmp_path, *args, trial_id=trial_id))


def trial_file(launcher: Launcher, handle: TrialHandle, tmp_path: Path, name: str) -> Path:
    """A file in the trial's own job dir, on the machine that runs it: a trial on another
    machine names its directory in ``node.json`` in its control dir."""
    node = tmp_path / "job" / "tf_hptune" / handle.trial_id / "node.json"
    if isinstance(launcher, (LocalLauncher, InProcessLauncher)):
        return tmp_path / "job" / handle.trial_id / name
    until(node.exists, launcher, handle)
    return Path(json.loads(node.read_text())["job_dir"]) / name


def wait(launcher: Launcher, handle: TrialHandle, timeout: float = 120.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        code = launcher.poll(handle)
        if code is not None:
            return code
        launcher.wait([handle], 0.05)
    raise AssertionError("the trial did not end")


def until(predicate: Callable[[], bool], launcher: Launcher | None = None,
          handle: TrialHandle | None = None, timeout: float = 60.0) -> None:
    """Wait for ``predicate``, letting ``launcher`` relay ``handle``'s files meanwhile."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        if launcher is not None and handle is not None:
            launcher.wait([handle], 0.05)
        else:
            time.sleep(0.05)


def gone(handle: TrialHandle) -> bool:
    return handle.pid is None or not pid_alive(handle.pid)


def test_a_trial_runs_to_its_exit_code(launcher, tmp_path):
    ok = start(launcher, tmp_path, "--steps", "2")
    crash = start(launcher, tmp_path, "--mode", "crash", trial_id="2")
    assert launcher.poll(ok) is None or launcher.poll(ok) == 0  # poll never blocks
    assert wait(launcher, ok) == 0
    assert wait(launcher, crash) == 3
    assert launcher.poll(ok) == 0  # asked again, the same answer


def test_terminate_ends_the_trial_and_everything_it_started(launcher, tmp_path):
    handle = start(launcher, tmp_path, "--mode", "family")
    child_file = trial_file(launcher, handle, tmp_path, "child.pid")
    until(child_file.exists, launcher, handle)
    until(lambda: child_file.read_text() != "", launcher, handle)
    child = int(child_file.read_text())
    launcher.terminate(handle, grace=0.5)
    assert wait(launcher, handle) == -signal.SIGTERM
    until(lambda: gone(handle) and not pid_alive(child), launcher, handle)  # it ignored SIGTERM


def test_a_trial_that_ignores_terminate_is_killed_after_the_grace(launcher, tmp_path):
    handle = start(launcher, tmp_path, "--mode", "stubborn")
    until(trial_file(launcher, handle, tmp_path, "seen.json").exists, launcher, handle)
    launcher.terminate(handle, grace=0.5)
    assert wait(launcher, handle) == -signal.SIGKILL
    until(lambda: gone(handle), launcher, handle)


def test_kill_ends_it_now(launcher, tmp_path):
    handle = start(launcher, tmp_path, "--mode", "stubborn")
    until(trial_file(launcher, handle, tmp_path, "seen.json").exists, launcher, handle)
    launcher.kill(handle)
    assert wait(launcher, handle) == -signal.SIGKILL
    until(lambda: gone(handle), launcher, handle)
    launcher.terminate(handle, grace=0.0)  # ending an ended trial is harmless
    launcher.kill(handle)


def child_of(launcher: Launcher, handle: TrialHandle, tmp_path: Path) -> int:
    child_file = trial_file(launcher, handle, tmp_path, "child.pid")
    until(lambda: child_file.exists() and child_file.read_text() != "", launcher, handle)
    return int(child_file.read_text())


@pytest.mark.parametrize("end", ["terminate", "kill"])
def test_children_that_leave_the_process_group_are_ended_too(launcher, tmp_path, end):
    handle = start(launcher, tmp_path, "--mode", "escape")
    child = child_of(launcher, handle, tmp_path)
    assert os.getsid(child) == child  # setsid: outside the trial's session and group
    if end == "terminate":
        launcher.terminate(handle, grace=0.5)
    else:
        launcher.kill(handle)
    wait(launcher, handle)
    until(lambda: not pid_alive(child))


def can_adopt(launcher: Launcher) -> bool:
    return type(launcher).adopt is not Launcher.adopt


def test_a_later_tuner_adopts_a_live_trial_by_pid_or_without_one(launcher, tmp_path):
    if not can_adopt(launcher):
        pytest.skip("this launcher cannot adopt")
    req = request(tmp_path, "--mode", "hang")
    first = launcher.start(req)
    until(lambda: (tmp_path / "job" / "1" / "seen.json").exists())
    later = type(launcher)(sys.executable)  # another tuner: a fresh launcher
    by_pid = later.adopt(req, first.pid)
    found = later.adopt(req, None)  # the tuner stopped before it recorded the pid
    assert by_pid is not None and found is not None and found.pid == first.pid
    assert later.poll(by_pid) is None and later.poll(found) is None
    later.kill(found)
    assert wait(later, by_pid) == -signal.SIGKILL
    assert wait(launcher, first) == -signal.SIGKILL


def test_a_trial_that_ended_unwatched_is_adopted_with_its_exit_code(launcher, tmp_path):
    if not can_adopt(launcher):
        pytest.skip("this launcher cannot adopt")
    req = request(tmp_path, "--mode", "crash")
    first = launcher.start(req)
    assert wait(launcher, first) == 3
    later = type(launcher)(sys.executable)
    for pid in (first.pid, None):
        handle = later.adopt(req, pid)
        assert handle is not None and later.poll(handle) == 3
    other = later.adopt(req, os.getpid())  # a live process, but not the trial's
    assert other is not None and later.poll(other) == 3
    assert later.adopt(request(tmp_path, trial_id="2"), None) is None  # never started
