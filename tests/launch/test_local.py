"""The local launcher against a trainer with no TensorFlow: argv, env, process groups, logs."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FAKE_PACKAGE
from tf_hptune.errors import LaunchError
from tf_hptune.launch import LaunchConfig, LocalLauncher, build_request, pid_alive
from tf_hptune.launch.local import hyperparameter_args
from tf_hptune.resources import Resources


def wait(launcher, handle, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        code = launcher.poll(handle)
        if code is not None:
            return code
        time.sleep(0.05)
    raise AssertionError("trial did not end")


@pytest.fixture
def launch(tmp_path):
    return LaunchConfig(module="trainer.task", package_path=str(FAKE_PACKAGE),
                        job_dir=str(tmp_path / "job"), user_args=("--steps", "2"))


def start(mixed_spec, launch, trial_id="1", params=None, resources=None, extra=()):
    resources = resources or Resources()
    params = params or {"nembeds": 7, "nnsize": 64, "learning-rate": 0.001, "momentum": 0.9,
                        "optimizer": "a 'b'; rm -rf / \"$(x)\"\nline2"}
    if extra:
        launch = LaunchConfig(launch.module, launch.package_path, launch.job_dir,
                              launch.user_args + tuple(extra))
    request = build_request("job_1", trial_id, params, mixed_spec, launch, resources)
    launcher = LocalLauncher(sys.executable)
    return launcher, launcher.start(request), request


def test_argv_env_and_logs_are_the_services(mixed_spec, launch):
    launcher, handle, cmd = start(mixed_spec, launch, resources=Resources(gpus=("1", "3")))
    assert wait(launcher, handle) == 0
    seen = json.loads((cmd.paths.job_dir / "seen.json").read_text())
    assert seen["argv"] == [
        "--steps", "2", "--job-dir", str(Path(launch.job_dir) / "1"),
        "--nembeds=7", "--nnsize=64", "--learning-rate=0.001", "--momentum=0.90000000000000002",
        "--optimizer=a 'b'; rm -rf / \"$(x)\"\nline2",  # verbatim, one argv item
    ]
    assert seen["cwd"] == str(FAKE_PACKAGE.parent)
    env = seen["env"]
    tf_config = json.loads(env["TF_CONFIG"])
    assert tf_config["task"] == {"type": "master", "index": 0, "trial": "1"}
    assert list(tf_config["cluster"]) == ["master"] and len(tf_config["cluster"]["master"]) == 1
    assert tf_config["environment"] == "cloud"
    assert tf_config["job"]["hyperparameters"]["hyperparameterMetricTag"] == "loss"
    assert env["CLOUD_ML_TRIAL_ID"] == "1" and env["CLOUD_ML_JOB_ID"] == "job_1"
    assert env["CLOUD_ML_HP_METRIC_TAG"] == "loss"
    assert env["CLOUD_ML_HP_METRIC_FILE"] == str(cmd.paths.metric_file)
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3"
    assert seen["pgid"] == handle.pid  # the trial's own process group, led by its supervisor
    assert "fake trainer starting" in cmd.paths.stdout.read_text()
    for p in (cmd.paths.stdout, cmd.paths.control_dir, cmd.paths.job_dir):
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0


def test_gpus_become_cuda_visible_devices(mixed_spec, launch):
    assert Resources(gpus=("1", "3")).environment()["CUDA_VISIBLE_DEVICES"] == "1,3"
    assert Resources().environment()["CUDA_VISIBLE_DEVICES"] == ""  # no GPU: none visible
    launcher, handle, _ = start(mixed_spec, launch, resources=Resources(gpus=("1", "3")))
    assert wait(launcher, handle) == 0


def test_hyperparameters_print_as_the_service_printed_them():
    args = hyperparameter_args({"nembeds": 7, "nnsize": 64, "learning-rate": 0.001,
                                "momentum": 0.9, "optimizer": "256 128 64"})
    assert args == ["--nembeds=7", "--nnsize=64", "--learning-rate=0.001",
                    "--momentum=0.90000000000000002", "--optimizer=256 128 64"]


def test_exit_code_and_stderr(mixed_spec, launch):
    launcher, handle, cmd = start(mixed_spec, launch, extra=("--mode", "crash"))
    assert wait(launcher, handle) == 3
    assert "something went wrong" in cmd.paths.stderr.read_text()


def test_terminate_kills_the_whole_group_after_grace(mixed_spec, launch, tmp_path):
    launcher, handle, cmd = start(mixed_spec, launch, extra=("--mode", "hang"))
    deadline = time.monotonic() + 20
    while not (cmd.paths.job_dir / "seen.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    launcher.terminate(handle, grace=5.0)
    assert wait(launcher, handle) == -signal.SIGTERM
    assert not pid_alive(handle.pid)


def test_sigkill_after_grace_when_sigterm_is_ignored(tmp_path, mixed_spec):
    pkg = tmp_path / "stubborn" / "trainer"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "task.py").write_text(
        "import signal, time, subprocess, sys, os\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal,time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        "open(os.path.join(os.environ['TF_HPTUNE_CONTROL_DIR'], 'child'), 'w')"
        ".write(str(child.pid))\n"
        "time.sleep(600)\n")
    launch = LaunchConfig("trainer.task", str(pkg), str(tmp_path / "job"))
    launcher, handle, cmd = start(mixed_spec, launch)
    child_file = cmd.paths.control_dir / "child"
    deadline = time.monotonic() + 20
    while not (child_file.exists() and child_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(child_file.read_text())
    launcher.terminate(handle, grace=0.5)
    assert wait(launcher, handle) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child)


def test_refuses_a_non_empty_trial_dir(mixed_spec, launch):
    (Path(launch.job_dir) / "1").mkdir(parents=True)
    (Path(launch.job_dir) / "1" / "checkpoint").write_text("x")
    with pytest.raises(LaunchError, match="not empty"):
        start(mixed_spec, launch)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_a_pinned_trial_is_born_on_its_cores_however_late_the_tuner_runs_on(
        mixed_spec, launch, monkeypatch):
    real_popen = subprocess.Popen

    def descheduled(*args, **kwargs):  # the tuner's thread held up after the fork (a loaded
        proc = real_popen(*args, **kwargs)  # machine): the supervisor forks the trainer first
        time.sleep(1.0)
        return proc

    monkeypatch.setattr("tf_hptune.launch.local.subprocess.Popen", descheduled)
    mask = os.sched_getaffinity(0)
    core = min(mask)
    launcher, handle, cmd = start(mixed_spec, launch, resources=Resources(cpus=(core,)))
    assert os.sched_getaffinity(0) == mask  # the tuner's own thread is given its cores back
    assert wait(launcher, handle) == 0
    assert json.loads((cmd.paths.job_dir / "seen.json").read_text())["affinity"] == [core]


def test_cores_a_trial_cannot_be_pinned_to_fail_its_start_and_leave_the_tuner_as_it_was(
        mixed_spec, launch):
    mask = os.sched_getaffinity(0)
    absent = max(mask) + 4096  # beyond any core this machine has
    with pytest.raises(LaunchError, match=f"cannot pin trial 1 to cores \\[{absent}\\]"):
        start(mixed_spec, launch, resources=Resources(cpus=(absent,)))
    assert os.sched_getaffinity(0) == mask
