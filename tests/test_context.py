"""trial_context(): what a trial knows about itself, inside a tuner and outside one."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tftrial"))
from tftrial.testing import no_trial_env, trial_env  # noqa: E402

from tf_hptune import TrialContext, trial_context  # noqa: E402


def test_outside_a_tuner_every_field_is_harmless(monkeypatch):
    no_trial_env(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["task.py", "--job-dir", "out/run1", "--lr", "0.1"])
    ctx = trial_context()
    assert ctx == TrialContext(
        trial_id="", job_id="", metric_tag="training/hptuning/metric", job_dir="out/run1",
        hyperparameters={}, control_dir=None, goal=None,
        metric_file="/tmp/hypertune/output.metrics", in_tuning_job=False)
    assert ctx.paths is None and not ctx.stop_requested()


@pytest.mark.parametrize("argv, expected", [
    (["t"], None),
    (["t", "--job_dir=a", "--job-dir", "b"], "b"),
    (["t", "--job-dir"], None),
])
def test_job_dir_from_the_command_line(monkeypatch, argv, expected):
    no_trial_env(monkeypatch)
    monkeypatch.setattr(sys, "argv", argv)
    assert trial_context().job_dir == expected


def test_inside_a_trial_the_launchers_environment(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "rmse", trial_id="7",
                      params='{"lr": 0.5, "opt": "adam"}')
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"task": {"type": "master", "index": 0, "trial": "7"}, "job": {"jobDir": str(tmp_path)}}))
    ctx = trial_context()
    assert (ctx.trial_id, ctx.job_id, ctx.metric_tag, ctx.goal) == ("7", "job", "rmse", "MINIMIZE")
    assert ctx.job_dir == str(tmp_path / "7") and ctx.control_dir == str(paths.control_dir)
    assert dict(ctx.hyperparameters) == {"lr": 0.5, "opt": "adam"}
    assert ctx.metric_file == str(paths.metric_file) and ctx.in_tuning_job
    assert ctx.paths == paths
    with pytest.raises(TypeError):
        ctx.hyperparameters["lr"] = 1.0  # type: ignore[index]
    assert not ctx.stop_requested()
    paths.stop_file.write_text("early stopping\n")
    assert ctx.stop_requested()


def test_trial_id_from_tf_config_alone_and_bad_json_is_ignored(monkeypatch, caplog):
    no_trial_env(monkeypatch)
    monkeypatch.setenv("TF_CONFIG", '{"task": {"trial": "3"}}')
    monkeypatch.setenv("TF_HPTUNE_PARAMS", "{not json")
    ctx = trial_context()
    assert ctx.trial_id == "3" and ctx.in_tuning_job and dict(ctx.hyperparameters) == {}
    assert "TF_HPTUNE_PARAMS" in caplog.text


def test_importing_the_trial_side_does_not_import_tensorflow():
    code = ("import sys, tf_hptune, tf_hptune.report, tf_hptune.hypertune, tf_hptune.context, "
            "tf_hptune.observe; tf_hptune.report_metric; tf_hptune.trial_context(); "
            "print([m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
