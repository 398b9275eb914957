"""Several tf-hptune processes on one store at once, and what they create is private."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import FAKE_PACKAGE, ROOT
from tf_hptune.store import State, open_store

CONFIG = {"hyperparameters": {
    "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": 6,
    "maxParallelTrials": 3, "algorithm": "RANDOM_SEARCH",
    "params": [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 9}]}}


def submit_argv(tmp_path, name, store):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    return [sys.executable, "-m", "tf_hptune.cli", "jobs", "submit", "training", name,
            "--config", str(cfg), "--module-name", "trainer.task", "--package-path",
            str(FAKE_PACKAGE), "--job-dir", str(tmp_path / name), "--store", store,
            "--poll-interval", "0.02", "--stream-logs", "--", "--steps", "4", "--sleep", "0.1"]


def popen(argv):
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_submits_with_one_name_one_wins(tmp_path):
    store = str(tmp_path / "s.db")
    argv = submit_argv(tmp_path, "same", store)
    argv[argv.index("--job-dir") + 1] = str(tmp_path / "first")
    other = list(argv)
    other[other.index("--job-dir") + 1] = str(tmp_path / "second")
    procs = [popen(argv), popen(other)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1]
    loser = next(err for code, _, err in results if code == 1)
    assert "job 'same' already exists" in loser and "Traceback" not in loser
    assert [j.name for j in open_store(store).list_jobs()] == ["same"]


def test_two_jobs_on_one_store_while_describe_and_list_run(tmp_path):
    store = str(tmp_path / "s.db")
    jobs = [popen(submit_argv(tmp_path, name, store)) for name in ("job_a", "job_b")]
    readers = 0
    while any(p.poll() is None for p in jobs):
        for argv in (["jobs", "list"], ["jobs", "describe", "job_a"]):
            r = subprocess.run([sys.executable, "-m", "tf_hptune.cli", *argv, "--store", store],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert "locked" not in r.stderr and "Traceback" not in r.stderr
            readers += 1
    for p in jobs:
        out, err = p.communicate()
        assert p.returncode == 0, out + err
        assert "locked" not in err
    s = open_store(store)
    for name in ("job_a", "job_b"):
        assert s.get_job(name).state is State.SUCCEEDED
        assert [t.state for t in s.list_trials(name)] == [State.SUCCEEDED] * 6
    assert readers >= 2


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_store_logs_and_trial_directories_are_private(tmp_path):
    home = tmp_path / "home"
    argv = submit_argv(tmp_path, "job_p", "unused")
    i = argv.index("--store")
    del argv[i:i + 2]
    # a permissive umask: privacy must not depend on the user's
    proc = subprocess.run(["bash", "-c", 'umask 022; exec "$@"', "_", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "TF_HPTUNE_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    checked = [home, home / "store.db"]
    control = tmp_path / "job_p" / "tf_hptune"
    checked += [control, control / "job.json", tmp_path / "job_p" / "1"]
    checked += [control / "1", control / "1" / "stdout.log", control / "1" / "stderr.log"]
    for path in checked:
        assert path.exists() and private(path), path
