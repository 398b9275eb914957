"""The Launcher contract, run over every launcher: start, poll, terminate, kill, exit codes, and
nothing of a trial left running after terminate or kill."""
from __future__ import annotations

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
    build_request,
    pid_alive,
)
from tf_hptune.launch.inprocess import InProcessLauncher
from tf_hptune.spec import load_spec

SPEC = load_spec({"hyperparameters": {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
                                      "params": [{"parameterName": "a", "type": "INTEGER",
                                                  "minValue": 1, "maxValue": 9}]}})

LAUNCHERS: dict[str, Callable[[], Launcher]] = {
    "local": lambda: LocalLauncher(sys.executable),
    "inprocess": InProcessLauncher,
}


@pytest.fixture(params=sorted(LAUNCHERS))
def launcher(request) -> Launcher:
    return LAUNCHERS[request.param]()


def start(launcher: Launcher, tmp_path: Path, *args: str, trial_id: str = "1") -> TrialHandle:
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "job"),
                          user_args=args)
    return launcher.start(build_request("job", trial_id, {"a": 7}, SPEC, launch))


def wait(launcher: Launcher, handle: TrialHandle, timeout: float = 60.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        code = launcher.poll(handle)
        if code is not None:
            return code
        launcher.wait([handle], 0.05)
    raise AssertionError("the trial did not end")


def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
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
    child_file = tmp_path / "job" / "1" / "child.pid"
    until(child_file.exists)
    until(lambda: child_file.read_text() != "")
    child = int(child_file.read_text())
    launcher.terminate(handle, grace=0.5)
    assert wait(launcher, handle) == -signal.SIGTERM
    until(lambda: gone(handle) and not pid_alive(child))  # the child ignored SIGTERM


def test_a_trial_that_ignores_terminate_is_killed_after_the_grace(launcher, tmp_path):
    handle = start(launcher, tmp_path, "--mode", "stubborn")
    until(lambda: (tmp_path / "job" / "1" / "seen.json").exists())
    launcher.terminate(handle, grace=0.5)
    assert wait(launcher, handle) == -signal.SIGKILL
    until(lambda: gone(handle))


def test_kill_ends_it_now(launcher, tmp_path):
    handle = start(launcher, tmp_path, "--mode", "stubborn")
    until(lambda: (tmp_path / "job" / "1" / "seen.json").exists())
    launcher.kill(handle)
    assert wait(launcher, handle) == -signal.SIGKILL
    until(lambda: gone(handle))
    launcher.terminate(handle, grace=0.0)  # ending an ended trial is harmless
    launcher.kill(handle)
