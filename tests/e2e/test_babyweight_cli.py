"""End to end: the bundled babyweight Estimator tuned through the CLI with real TensorFlow."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_babyweight_job_through_the_cli(tmp_path):
    store = str(tmp_path / "store.db")
    config = tmp_path / "demo.yaml"
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["trainingInput"]["hyperparameters"].update(maxTrials=3, maxParallelTrials=2)
    config.write_text(yaml.safe_dump(cfg))
    env_data = {"TF_HPTUNE_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "submit", "training", "babyweight_e2e",
         "--config", str(config), "--module-name", "trainer.task",
         "--package-path", str(ROOT / "trainer_examples" / "babyweight" / "trainer"),
         "--job-dir", str(tmp_path / "out"), "--store", store, "--stream-logs",
         "--poll-interval", "0.2", "--seed", "0",
         "--", "--train_examples", "4000", "--eval_steps", "5"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
        env={**__import__("os").environ, **env_data})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Best trial:" in proc.stdout

    described = yaml.safe_load(subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "describe", "babyweight_e2e",
         "--store", store], capture_output=True, text=True, check=True).stdout)
    assert described["state"] == "SUCCEEDED"
    out = described["trainingOutput"]
    assert out["completedTrialCount"] == "3" and out["hyperparameterMetricTag"] == "rmse"
    rmses = [t["finalMetric"]["objectiveValue"] for t in out["trials"]]
    assert rmses == sorted(rmses) and all(0.8 < r < 3.0 for r in rmses)
    for t in out["trials"]:
        assert 3 <= int(t["hyperparameters"]["nembeds"]) <= 30
        assert t["hyperparameters"]["nnsize"] in {"4", "16", "32", "64", "128"}
        steps = [int(m["trainingStep"]) for m in t["allMetrics"]]
        assert len(steps) >= 2 and steps == sorted(steps)
        # the final metric is the last evaluation, the one after the last checkpoint
        assert t["finalMetric"]["trainingStep"] == str(steps[-1])
        trial_dir = tmp_path / "out" / t["trialId"]
        # the classic trainer nests its output under the TF_CONFIG trial number
        assert list((trial_dir / t["trialId"]).glob("model.ckpt-*.index"))
