"""tf_hptune.hypertune.HyperTune writes cloudml-hypertune's metrics file (CMLE.md)."""
from __future__ import annotations

import json
import logging
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tftrial"))
from tftrial.testing import no_trial_env, trial_env  # noqa: E402

from tf_hptune import context, hypertune  # noqa: E402
from tf_hptune.channel import TrialChannel  # noqa: E402


def test_the_file_format_is_the_packages(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "my_metric_tag", trial_id="4")
    hpt = hypertune.HyperTune()
    hpt.report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="my_metric_tag", metric_value=0.987, global_step=1000)
    hpt.report_hyperparameter_tuning_metric("", 2, checkpoint_path="/m/model.ckpt-5")
    raw = paths.metric_file.read_text().splitlines()
    first, second = (json.loads(line) for line in raw)
    assert raw[0] == json.dumps(first, sort_keys=True)
    assert first.pop("timestamp") > 0 and second.pop("timestamp") > 0
    assert first == {"checkpoint_path": "", "global_step": "1000", "my_metric_tag": "0.987",
                     "trial": "4"}
    assert second == {"checkpoint_path": "/m/model.ckpt-5", "global_step": "0",
                      "training/hptuning/metric": "2.0", "trial": "4"}
    assert TrialChannel(paths, "my_metric_tag").measurements() == [(1000, 0.987)]


def test_only_the_latest_100_reports_are_kept(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "loss")
    hpt = hypertune.HyperTune()
    for step in range(150):
        hpt.report_hyperparameter_tuning_metric("loss", step / 10, step)
    steps = [int(json.loads(x)["global_step"]) for x in paths.metric_file.read_text().splitlines()]
    assert steps == list(range(50, 150))
    # the measurements file keeps every report
    assert len(TrialChannel(paths, "loss").measurements()) == 150


def test_outside_a_tuner_nothing_is_written(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(context, "_warned", set())
    no_trial_env(monkeypatch)
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(tmp_path / "output.metrics"))
    with caplog.at_level(logging.WARNING, logger="tf_hptune"):
        hypertune.HyperTune().report_hyperparameter_tuning_metric("loss", 1.0, 1)
    assert not (tmp_path / "output.metrics").exists()
    assert "HyperTune.report_hyperparameter_tuning_metric" in caplog.text


def test_a_value_that_is_not_a_number_is_refused(monkeypatch, tmp_path):
    trial_env(monkeypatch, tmp_path, "loss")
    with pytest.raises(ValueError):
        hypertune.HyperTune().report_hyperparameter_tuning_metric("loss", "high", 1)
