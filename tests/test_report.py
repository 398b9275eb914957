"""report_metric: both trial-side files, read back by the tuner's TrialChannel; silence outside."""
from __future__ import annotations

import json
import logging
import math
import signal
import sys
import threading

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tftrial"))
from tftrial.testing import no_trial_env, start_trial, trial_env  # noqa: E402

import tf_hptune  # noqa: E402
from tf_hptune import context  # noqa: E402
from tf_hptune.channel import TrialChannel  # noqa: E402
from tf_hptune.channel.hypertune import read_reports  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_notice(monkeypatch):
    monkeypatch.setattr(context, "_warned", set())


def test_reports_reach_both_files_and_the_tuner(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "accuracy")
    channel = TrialChannel(paths, "accuracy")
    tf_hptune.report_metric("accuracy", 0.5, 100)
    assert channel.measurements() == [(100, 0.5)]
    tf_hptune.report_metric("accuracy", __import__("numpy").float32(0.75), 200)
    tf_hptune.report_metric("other", 9.0, 200)  # recorded, not the job's metric
    assert channel.measurements() == [(100, 0.5), (200, 0.75)]
    lines = [json.loads(x) for x in paths.measurements.read_text().splitlines()]
    assert [(x["tag"], x["step"], x["value"]) for x in lines] == [
        ("accuracy", 100, 0.5), ("accuracy", 200, 0.75), ("other", 200, 9.0)]
    assert read_reports(paths.metric_file, "accuracy")[0] == [(100, 0.5), (200, 0.75)]
    # the hypertune file alone is enough for a reader
    paths.measurements.unlink()
    assert TrialChannel(paths, "accuracy").measurements() == [(100, 0.5), (200, 0.75)]


def test_an_empty_tag_is_the_services_default(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "training/hptuning/metric")
    tf_hptune.report_metric("", 1.5, 3)
    assert TrialChannel(paths, "training/hptuning/metric").measurements() == [(3, 1.5)]


def test_nan_is_reported_so_the_tuner_can_fail_the_trial(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "loss")
    tf_hptune.report_metric("loss", float("nan"), 10)
    [(step, value)] = TrialChannel(paths, "loss").measurements()
    assert step == 10 and math.isnan(value)


def test_concurrent_reports_are_all_kept(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "loss")
    threads = [threading.Thread(target=lambda i=i: [tf_hptune.report_metric("loss", i, i * 10 + k)
                                                    for k in range(10)]) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    steps = [s for s, _ in TrialChannel(paths, "loss").measurements()]
    assert steps == sorted(i * 10 + k for i in range(4) for k in range(10))
    assert len(read_reports(paths.metric_file, "loss")[0]) == 40


def test_outside_a_tuner_nothing_is_written_and_it_is_said_once(monkeypatch, tmp_path, caplog):
    no_trial_env(monkeypatch)
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(tmp_path / "m" / "output.metrics"))
    with caplog.at_level(logging.WARNING, logger="tf_hptune"):
        tf_hptune.report_metric("loss", 1.0, 1)
        tf_hptune.report_metric("loss", 2.0, 2)
    assert not (tmp_path / "m").exists()
    notes = [r for r in caplog.records if "not running as a trial" in r.getMessage()]
    assert len(notes) == 1 and "report_metric" in notes[0].getMessage()


LOOP = ["--steps", "5000", "--every", "50", "--step_sleep", "0.005"]


@pytest.mark.slow
def test_a_custom_loop_reports_and_stops_with_a_checkpoint(tmp_path):
    trial = start_trial(tmp_path, "loop_task", ["--integration", "report", *LOOP], "eval_loss")
    trial.wait_for(trial.channel.measurements)
    trial.channel.request_stop("early stopping")
    assert trial.wait() == 0, trial.log()
    measured = trial.channel.measurements()
    lines = [json.loads(x) for x in trial.paths.measurements.read_text().splitlines()]
    assert measured == [(x["step"], x["value"]) for x in lines]
    assert [s for s, _ in measured] == list(range(50, 50 * len(measured) + 1, 50))
    assert (trial.paths.job_dir / "ckpt-1.index").exists()
    assert not (trial.paths.job_dir / "values.json").exists()  # it did not run to the end


@pytest.mark.slow
def test_a_custom_loop_without_tf_hptune_is_terminated(tmp_path):
    trial = start_trial(tmp_path, "loop_task", LOOP, "eval_loss")
    trial.wait_for(trial.channel.measurements)
    trial.channel.request_stop("early stopping")
    seen = len(trial.channel.measurements())
    trial.wait_for(lambda: len(trial.channel.measurements()) > seen)  # the file is ignored
    trial.launcher.terminate(trial.handle, 5.0)
    assert trial.wait() == -signal.SIGTERM
    assert not trial.paths.measurements.exists()
