"""Tuning jobs on a real local Ray cluster (2 CPUs, started by the tests): real trial processes
on a node, their files relayed to the tuner, stop requests and cancels relayed to them, a worker
killed mid-trial; and, on a cluster of three nodes started for it, a node lost mid-trial.
Skipped where Ray is not installed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import FAKE_PACKAGE, ROOT, make_spec
from tests.launch.conftest import make_ray_launcher, node_of
from tf_hptune.launch import LaunchConfig, pid_alive
from tf_hptune.resources import ResourceSettings, plan_cluster
from tf_hptune.spec import Goal
from tf_hptune.stopping import EarlyStopper, StopDecision
from tf_hptune.store import State, open_store
from tf_hptune.study import Study
from tf_hptune.tuner import Tuner

PARAMS = [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 9}]
TF_PACKAGE = ROOT / "tests" / "fixtures" / "tftrial" / "tftrial"


class StopAll(EarlyStopper):
    """Stops every trial at its first measurement (no warm-up)."""

    def __init__(self):
        super().__init__(Goal.MINIMIZE)

    def decide(self, trial, peers):  # the whole decision
        return self._decide(trial, peers, 0)

    def _decide(self, trial, completed, horizon):
        return StopDecision(True, "stopped by the test")


def tuner_on_ray(request, tmp_path, user_args, *, trials=3, parallel=2, retry=False,
                 stopper=None, package=FAKE_PACKAGE, module="trainer.task", params=PARAMS):
    tmp_path.mkdir(parents=True, exist_ok=True)
    launcher = make_ray_launcher(request)
    launcher.retry_lost = retry
    # maxFailedTrials: a trial the test kills may end before any other has (on a loaded
    # machine), and must not fail the job by the service's more-than-half rule
    spec = make_spec(params, goal="MINIMIZE", hyperparameterMetricTag="loss", maxTrials=trials,
                     maxParallelTrials=parallel, algorithm="RANDOM_SEARCH",
                     maxFailedTrials=trials, enableTrialEarlyStopping=stopper is not None)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="ray_job", seed=0,
                         stopper=stopper)
    launch = LaunchConfig(module, str(package), str(tmp_path / "out"), user_args=user_args)
    pool = plan_cluster(ResourceSettings(), parallel, launcher.cluster_gpus())
    return study, Tuner(study, launch, launcher=launcher, pool=pool, poll_interval=0.1,
                        grace=2.0)


def in_background(target):
    errors: list[BaseException] = []

    def run():
        try:
            target()
        except BaseException as e:  # noqa: BLE001 - shown by the test
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_a_job_runs_on_ray_and_a_killed_worker_fails_only_its_trial(request, tmp_path):
    study, tuner = tuner_on_ray(request, tmp_path, ("--steps", "3", "--hang-trials", "2"))
    killed: dict = {}

    def kill_the_worker_of_trial_2():
        killed.update(node_of(tmp_path, "2"))
        os.kill(killed["worker_pid"], signal.SIGKILL)

    thread, errors = in_background(kill_the_worker_of_trial_2)
    assert tuner.run() is State.SUCCEEDED
    thread.join(10)
    assert not errors
    by_id = {t.trial_id: t for t in study.trials}
    assert by_id["2"].state is State.FAILED
    assert "its Ray worker or node was lost on" in by_id["2"].reason
    end = time.monotonic() + 10  # the watchdog ends the trainer its worker left behind
    while pid_alive(killed["pid"]) and time.monotonic() < end:
        time.sleep(0.1)
    assert not pid_alive(killed["pid"])
    for tid in ("1", "3"):
        trial = by_id[tid]
        assert trial.state is State.SUCCEEDED
        assert [m.step for m in trial.measurements] == [100, 200, 300]  # relayed
        control = tmp_path / "out" / "tf_hptune" / tid
        assert "fake trainer starting" in (control / "stdout.log").read_text()
        node = json.loads((control / "node.json").read_text())
        seen = json.loads((Path(node["job_dir"]) / "seen.json").read_text())
        assert seen["env"]["CLOUD_ML_TRIAL_ID"] == tid
        assert seen["env"]["CUDA_VISIBLE_DEVICES"] == ""  # no GPU asked for, none visible
        assert not (tmp_path / "out" / tid / "seen.json").exists()  # no disk is shared


def test_a_lost_trial_is_started_once_more_when_the_switch_says_so(request, tmp_path):
    once = tmp_path / "once"
    once.mkdir()
    study, tuner = tuner_on_ray(request, tmp_path, ("--steps", "2", "--hang-trials", "1",
                                                    "--hang-once", str(once)),
                                trials=1, parallel=1, retry=True)
    thread, errors = in_background(lambda: os.kill(node_of(tmp_path, "1", once)["worker_pid"],
                                                   signal.SIGKILL))
    assert tuner.run() is State.SUCCEEDED
    thread.join(10)
    assert not errors
    [trial] = study.trials
    assert trial.state is State.SUCCEEDED and trial.final_step == 200
    control = tmp_path / "out" / "tf_hptune" / "1"
    assert "lost its Ray worker" in (control / "stderr.log").read_text()
    assert json.loads((control / "node.json").read_text())["attempt"] == 2


def test_stop_requests_and_cancels_reach_ray_trials(request, tmp_path):
    study, tuner = tuner_on_ray(request, tmp_path / "stop", ("--mode", "listen", "--steps",
                                                             "200", "--sleep", "0.1"),
                                trials=1, parallel=1, stopper=StopAll())
    assert tuner.run() is State.SUCCEEDED
    [trial] = study.trials
    assert trial.stopped_early and trial.reason == "stopped by the test"
    assert trial.final_step < 20000  # it ended itself long before its 200 steps

    study, tuner = tuner_on_ray(request, tmp_path, ("--mode", "hang"), trials=2)
    nodes: list[dict] = []

    def cancel_once_both_run():
        nodes.extend(node_of(tmp_path, tid) for tid in ("1", "2"))
        tuner.request_cancel()

    thread, errors = in_background(cancel_once_both_run)
    assert tuner.run() is State.CANCELLED
    thread.join(10)
    assert not errors
    assert [t.state for t in study.trials] == [State.CANCELLED, State.CANCELLED]
    assert not any(pid_alive(n["pid"]) for n in nodes)


@pytest.mark.slow
def test_a_tensorflow_trainer_writing_only_summaries_is_measured_through_the_relay(
        request, tmp_path):
    study, tuner = tuner_on_ray(
        request, tmp_path / "tf", ("--integration", "plain", "--steps", "100", "--every",
                                   "50", "--tag", "loss"),
        trials=1, parallel=1, package=TF_PACKAGE, module="tftrial.loop_task",
        params=[{"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 0.01,
                 "maxValue": 0.1}])
    assert tuner.run() is State.SUCCEEDED
    [trial] = study.trials
    node = json.loads((tmp_path / "tf" / "out" / "tf_hptune" / "1" / "node.json").read_text())
    written = json.loads((Path(node["job_dir"]) / "values.json").read_text())
    assert {m.step: m.value for m in trial.measurements} == pytest.approx(
        {int(k): v for k, v in written.items()})


def test_submit_with_the_ray_executor_starts_a_local_ray_for_the_job(request, tmp_path):
    request.getfixturevalue("ray_cluster")  # skipped without Ray
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"trainingInput": {"hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": 2,
        "maxParallelTrials": 2, "params": PARAMS}}}))
    proc = subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "submit", "training", "ray_cli",
         "--config", str(config), "--module-name", "trainer.task", "--package-path",
         str(FAKE_PACKAGE), "--job-dir", str(tmp_path / "out"), "--store",
         str(tmp_path / "s.db"), "--executor", "ray", "--cpus-per-trial", "1", "--wait",
         "--poll-interval", "0.1", "--", "--steps", "2"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Job [ray_cli] ended: SUCCEEDED" in proc.stdout
    for tid in ("1", "2"):
        assert (tmp_path / "out" / "tf_hptune" / tid / "node.json").exists()
    job = open_store(tmp_path / "s.db").get_job("ray_cli")
    assert job.launch["executor"] == "ray"  # kept for a resume


def lose_the_node_of_trial_2(tmp_path: Path, *flags: str) -> dict:
    """``tests/fixtures/ray_lost_node.py``'s report: a job on a cluster of three Ray nodes
    started for it, the node of trial 2 removed without warning mid-trial."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'tf-hptune[ray]')")
    script = ROOT / "tests" / "fixtures" / "ray_lost_node.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the nodes' workers import this checkout
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "job"), *flags],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((tmp_path / "job" / "report.json").read_text())


def test_a_lost_node_fails_only_the_trial_it_ran_and_its_trainer_is_ended(tmp_path):
    report = lose_the_node_of_trial_2(tmp_path)
    trials = report["trials"]
    assert report["job"] == "SUCCEEDED"
    assert trials["2"]["state"] == "FAILED"
    assert "its Ray worker or node was lost on" in trials["2"]["reason"]
    assert "NodeDiedError" in trials["2"]["reason"]
    for tid in ("1", "3"):  # the relay lives on the tuner's node, not on the lost one
        assert trials[tid]["state"] == "SUCCEEDED"
        assert trials[tid]["steps"] == [100, 200, 300]
    assert report["mailbox_on_head"]
    assert not report["lost_trainer_alive"]


def test_a_trial_whose_node_is_lost_starts_again_on_another_with_retry_lost(tmp_path):
    report = lose_the_node_of_trial_2(tmp_path, "--retry")
    assert [t["state"] for t in report["trials"].values()] == ["SUCCEEDED"] * 3
    assert report["trials"]["2"]["steps"] == [100, 200, 300]
    assert report["trial_2_attempt"] == 2
    assert report["trial_2_node"] != report["lost_node"]
    assert "lost its Ray worker" in report["stderr"]
    assert not report["lost_trainer_alive"]
