"""The in-process launcher beyond the contract: what a trial sees of this process while it runs
and what it leaves behind, one trial at a time, errors, and a thread that cannot be ended."""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from tests.launch.test_conformance import SPEC, until, wait
from tf_hptune.launch import LaunchConfig, build_request, inprocess
from tf_hptune.launch.inprocess import InProcessLauncher

TASK = '''
import json, os, sys, time
args = sys.argv[1:]
mode = args[args.index("--mode") + 1]
job_dir = args[args.index("--job-dir") + 1]
with open(os.environ["SEEN_FILE"], "a") as f:
    f.write(json.dumps({"start": os.environ["CLOUD_ML_TRIAL_ID"], "argv": args,
                        "path0": sys.path[0]}) + "\\n")
print("trial output on stdout")
if mode == "raise":
    raise RuntimeError("the trainer broke")
if mode == "native":  # one long call into C: nothing can interrupt it
    time.sleep(float(os.environ.get("NATIVE_SECS", "3")))
with open(os.environ["SEEN_FILE"], "a") as f:
    f.write(json.dumps({"end": os.environ["CLOUD_ML_TRIAL_ID"]}) + "\\n")
'''


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A trainer package ``ipt`` (one per test module: runpy caches the parent package)."""
    root = tmp_path_factory.mktemp("ipt")
    (root / "ipt").mkdir()
    (root / "ipt" / "__init__.py").write_text("")
    (root / "ipt" / "task.py").write_text(TASK)
    return root / "ipt"


def start(launcher, package, tmp_path, trial_id, mode="ok"):
    launch = LaunchConfig("ipt.task", str(package), str(tmp_path / "job"),
                          user_args=("--mode", mode))
    request = build_request("job", trial_id, {"a": 7}, SPEC, launch)
    return launcher.start(request), request


def seen(tmp_path):
    return [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    monkeypatch.delenv("CLOUD_ML_TRIAL_ID", raising=False)


def test_the_trial_sees_its_argv_env_and_path_and_this_process_gets_them_back(
        env, package, tmp_path, capfd):
    argv, path = list(sys.argv), list(sys.path)
    launcher = InProcessLauncher()
    handle, request = start(launcher, package, tmp_path, "1")
    assert wait(launcher, handle) == 0
    start_line = seen(tmp_path)[0]
    assert start_line["start"] == "1"
    assert start_line["argv"] == ["--mode", "ok", "--job-dir", str(tmp_path / "job" / "1"),
                                  "--a=7"]
    assert start_line["path0"] == str(package.parent)
    assert sys.argv == argv and sys.path == path and "CLOUD_ML_TRIAL_ID" not in os.environ
    assert not isinstance(sys.stdout, inprocess._Router)
    assert "trial output on stdout" in request.paths.stdout.read_text()
    assert "trial output" not in capfd.readouterr().out  # not in this process's output


def test_trials_run_one_at_a_time_in_start_order(env, package, tmp_path):
    launcher = InProcessLauncher()
    handles = [start(launcher, package, tmp_path, str(i))[0] for i in (1, 2, 3)]
    assert [wait(launcher, h) for h in handles] == [0, 0, 0]
    events = [("start", e["start"]) if "start" in e else ("end", e["end"])
              for e in seen(tmp_path)]
    assert events == [(what, i) for i in "123" for what in ("start", "end")]


def test_a_queued_trial_terminated_before_its_turn_never_runs(env, package, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("NATIVE_SECS", "0.5")
    launcher = InProcessLauncher()
    first, _ = start(launcher, package, tmp_path, "1", mode="native")
    second, _ = start(launcher, package, tmp_path, "2")
    launcher.terminate(second, grace=5.0)
    assert wait(launcher, second) == -signal.SIGTERM
    assert wait(launcher, first) == 0
    assert [e.get("start") for e in seen(tmp_path) if "start" in e] == ["1"]


def test_an_exception_fails_the_trial_with_its_traceback_in_the_log(env, package, tmp_path):
    launcher = InProcessLauncher()
    handle, request = start(launcher, package, tmp_path, "1", mode="raise")
    assert wait(launcher, handle) == 1
    assert "RuntimeError: the trainer broke" in request.paths.stderr.read_text()


def test_a_thread_stuck_in_native_code_is_abandoned_after_a_kill(env, package, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(inprocess, "ABANDON_AFTER", 0.2)
    monkeypatch.setenv("NATIVE_SECS", "15")
    launcher = InProcessLauncher()
    stuck, _ = start(launcher, package, tmp_path, "1", mode="native")
    after, _ = start(launcher, package, tmp_path, "2")
    until(lambda: (tmp_path / "seen.jsonl").exists())
    time.sleep(0.5)  # past its last bytecodes before the call into C (a kill there ends it)
    launcher.kill(stuck)
    assert wait(launcher, stuck) == -signal.SIGKILL
    assert "CLOUD_ML_TRIAL_ID" not in os.environ or os.environ["CLOUD_ML_TRIAL_ID"] == "2"
    assert wait(launcher, after) == 0  # the next trial was not held up by the stuck one
    assert stuck.thread is not None and stuck.thread.is_alive()  # still in its sleep
    stuck.thread.join(30)
    assert not stuck.thread.is_alive()
    ends = [e["end"] for e in seen(tmp_path) if "end" in e]
    assert ends == ["2"]  # the killed one ended at its next bytecode, before its last write
