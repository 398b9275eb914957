"""Whole tuning jobs of a trainer written for the service's TensorFlow 1.x runtime
(tests/fixtures/tf1): it runs unchanged in the 1.x runtime mode with its bucket under
--gcs-root, and without the mode its trials fail with the hint."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, make_spec
from tf_hptune.launch import LaunchConfig
from tf_hptune.store import State, open_store
from tf_hptune.study import Study
from tf_hptune.tuner import Tuner

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow

PACKAGE = ROOT / "tests" / "fixtures" / "tf1" / "tf1trainer"
BUCKET = "tf-hptune-fixtures"
PARAMS = [{"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 0.005,
           "maxValue": 0.05, "scaleType": "UNIT_LOG_SCALE"}]


@pytest.fixture
def gcs_root(tmp_path: Path) -> Path:
    """A local stand-in for the trainer's bucket, holding its CSV data (y = 2 x1 - x2)."""
    data = tmp_path / "gcs" / BUCKET / "data"
    data.mkdir(parents=True)
    for name, offset in (("train-0.csv", 0), ("train-1.csv", 100), ("eval.csv", 200)):
        rows = [((i * 37 % 100) / 50 - 1, (i * 11 % 100) / 50 - 1)
                for i in range(offset, offset + 100)]
        (data / name).write_text("".join(f"{a},{b},{2 * a - b}\n" for a, b in rows))
    return tmp_path / "gcs"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tf_hptune.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def submit(tmp_path: Path, name: str, *flags: str, max_trials: int) -> dict:
    """Submit a job of the 1.x trainer through the CLI (foreground) and describe it."""
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"trainingInput": {"hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "rmse", "maxTrials": max_trials,
        "maxParallelTrials": max_trials, "params": PARAMS}}}))
    store = str(tmp_path / "store.db")
    proc = cli("jobs", "submit", "training", name, "--config", str(config), "--module-name",
               "tf1trainer.task", "--package-path", str(PACKAGE), "--store", store,
               "--stream-logs", "--poll-interval", "0.2", "--seed", "0", *flags, cwd=tmp_path)
    described = cli("jobs", "describe", name, "--store", store, "--format", "json", cwd=tmp_path)
    assert described.returncode == 0, described.stderr
    return {"proc": proc, "job": json.loads(described.stdout)}


def test_a_1x_trainer_runs_unchanged_in_the_mode_with_its_bucket_mapped(tmp_path, gcs_root):
    result = submit(tmp_path, "tf1_job", "--runtime-version", "1.15", "--gcs-root",
                    str(gcs_root), "--job-dir", f"gs://{BUCKET}/jobs/tf1_job", max_trials=2)
    proc, job = result["proc"], result["job"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    trials = job["trainingOutput"]["trials"]
    assert job["state"] == "SUCCEEDED" and len(trials) == 2
    job_dir = gcs_root / BUCKET / "jobs" / "tf1_job"  # --job-dir gs://... is mapped too
    for t in trials:
        # both evaluations (the checkpoints at steps 50 and 100) are measured
        assert [m["trainingStep"] for m in t["allMetrics"]] == ["50", "100"]
        assert 0 < float(t["finalMetric"]["objectiveValue"]) < 3
        model_dir = job_dir / t["trialId"] / t["trialId"]
        assert list((model_dir / "export" / "exporter").iterdir())  # the placeholder receiver
        written = json.loads((gcs_root / BUCKET / "runs" / f"trial-{t['trialId']}.json")
                             .read_text())  # a write to the hard-coded bucket
        assert written["learning_rate"] == pytest.approx(float(t["hyperparameters"]
                                                               ["learning_rate"]))


def test_learn_runner_experiments_run_through_the_tuner(tmp_path, gcs_root):
    spec = make_spec(PARAMS, goal="MINIMIZE", hyperparameterMetricTag="rmse", maxTrials=1)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="experiment", seed=0)
    launch = LaunchConfig("tf1trainer.task", str(PACKAGE), str(tmp_path / "out"),
                          user_args=("--style", "experiment", "--hparams", "hidden_units=8"),
                          runtime_version="1.15", gcs_root=str(gcs_root))
    state = Tuner(study, launch, poll_interval=0.2).run()
    trial = study.trials[0]
    assert state is State.SUCCEEDED, f"{trial.reason}\n{trial.log_tail}"
    # Experiment.train_and_evaluate reports each evaluation through tf_hptune.estimator
    assert [m.step for m in trial.measurements] == [50, 100]
    written = json.loads((gcs_root / BUCKET / "runs" / "trial-1.json").read_text())
    assert written["hidden_units"] == 8


def test_without_the_mode_the_trials_fail_with_the_hint(tmp_path):
    result = submit(tmp_path, "tf1_plain", "--job-dir", str(tmp_path / "out"), max_trials=1)
    assert result["proc"].returncode == 1
    trial = result["job"]["trainingOutput"]["trials"][0]
    assert trial["state"] == "FAILED"
    assert "No module named 'tensorflow.contrib'" in trial["logTail"]
    assert trial["errorMessage"].startswith(
        "exited with code 1: ModuleNotFoundError: No module named 'tensorflow.contrib'. The "
        "trainer looks like TensorFlow 1.x code (No module named 'tensorflow.contrib')")
    assert "--runtime-version 1.15" in trial["errorMessage"]
    assert "--runtime-version 1.15" in result["job"]["errorMessage"]  # the job's, too
