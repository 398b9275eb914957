"""tf_hptune.estimator in this process: reporting at each evaluation, make_hooks, and nothing
changed outside a tuner. Trial subprocesses (stops, the tuner) are in test_trials.py."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tftrial import estimator_task, models  # noqa: E402
from tftrial.testing import no_trial_env, trial_env  # noqa: E402

from tf_hptune.channel import TrialChannel  # noqa: E402
from tf_hptune.channel.events import EventDirectoryScanner  # noqa: E402
from tf_hptune.estimator import (  # noqa: E402
    StopHook,
    TrialHooks,
    make_hooks,
    report_evaluation,
    train_and_evaluate,
)


def eval_values(model_dir, tag):
    """(step, value) of ``tag`` in the model dir's evaluation summaries."""
    return EventDirectoryScanner(os.path.join(model_dir, "eval"), tag).measurements()


def reported(paths):
    """What tf_hptune's reporters wrote to the measurements file."""
    if not paths.measurements.exists():
        return []
    return [(m["step"], m["value"]) for m in map(json.loads, paths.measurements.open())]


def test_outside_a_tuner_it_is_the_original_call(monkeypatch, caplog):
    no_trial_env(monkeypatch)
    calls = []
    monkeypatch.setattr(tf.estimator, "train_and_evaluate",
                        lambda *args: calls.append(args) or "result")
    estimator, train_spec, eval_spec = object(), object(), object()
    with caplog.at_level(logging.WARNING, logger="tf_hptune"):
        assert train_and_evaluate(estimator, train_spec, eval_spec) == "result"
        assert make_hooks() == TrialHooks([], [])
        assert not report_evaluation({"loss": 1.0, "global_step": 1})
    assert len(calls) == 1 and all(a is b for a, b in zip(calls[0],
                                                          (estimator, train_spec, eval_spec)))
    assert caplog.text.count("not running as a trial") == 1  # said once, by the first call
    assert "train_and_evaluate and the other tf_hptune reporters do nothing" in caplog.text


def test_report_evaluation_takes_the_metric_and_global_step(monkeypatch, tmp_path, caplog):
    paths = trial_env(monkeypatch, tmp_path, "rmse")
    assert report_evaluation({"rmse": np.float32(0.25), "loss": 3.0, "global_step": np.int64(7)})
    with caplog.at_level(logging.WARNING, logger="tf_hptune"):
        assert not report_evaluation({"loss": 1.0, "global_step": 8})
        assert not report_evaluation({"rmse": np.ones(3), "global_step": 9})
    assert "'rmse' is not among the evaluation's metrics ['global_step', 'loss']" in caplog.text
    assert "not a scalar" in caplog.text
    assert TrialChannel(paths, "rmse").measurements() == [(7, 0.25)]


@pytest.mark.slow
def test_canned_estimator_reports_each_evaluation_while_it_trains(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "loss")
    model_dir = str(paths.job_dir)
    seen_at_checkpoint = {}

    class Snapshot(tf.compat.v1.train.CheckpointSaverListener):
        """A user listener: runs before train_and_evaluate's evaluation at each checkpoint."""

        def after_save(self, session, global_step_value):
            seen_at_checkpoint[global_step_value] = [s for s, _ in reported(paths)]

    estimator = models.canned(model_dir, 100, 0.05)
    train_spec = tf.estimator.TrainSpec(models.input_fn(True), max_steps=300,
                                        saving_listeners=[Snapshot()])
    eval_spec = tf.estimator.EvalSpec(models.input_fn(False), start_delay_secs=0,
                                      throttle_secs=0)
    metrics, exports = train_and_evaluate(estimator, train_spec, eval_spec)
    # each evaluation was reported as soon as it ran, before the next checkpoint
    assert seen_at_checkpoint == {0: [], 100: [], 200: [100], 300: [100, 200]}
    evaluations = eval_values(model_dir, "loss")
    assert [s for s, _ in evaluations] == [100, 200, 300]
    assert reported(paths) == evaluations  # the final evaluation included
    # the tuner's view: evaluation values, not the training summaries' own 'loss'
    assert TrialChannel(paths, "loss").measurements() == reported(paths)
    assert exports == [] and metrics["global_step"] == 300
    assert metrics["loss"] == pytest.approx(evaluations[-1][1])


@pytest.mark.slow
def test_custom_model_fn_with_make_hooks_in_its_own_loop(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "rmse")
    metrics = estimator_task.main(["--job-dir", str(paths.job_dir), "--model", "custom",
                                   "--integration", "hooks"])
    evaluations = eval_values(str(paths.job_dir), "rmse")
    assert [s for s, _ in evaluations] == [100, 200, 300]
    # 100 and 200 by the listener at the next train call's checkpoints, 300 by
    # report_evaluation
    assert reported(paths) == evaluations
    assert metrics["rmse"] == pytest.approx(evaluations[-1][1])


@pytest.mark.slow
def test_a_stop_before_training_runs_no_step(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "rmse")
    paths.stop_file.write_text("stop\n")
    estimator = models.custom(str(paths.job_dir), 100, 0.05)
    hooks = make_hooks(estimator)
    assert isinstance(hooks.training_hooks[0], StopHook) and not hooks.stopped
    estimator.train(models.input_fn(True), max_steps=300, hooks=hooks.training_hooks,
                    saving_listeners=hooks.saving_listeners)
    assert hooks.stopped
    assert estimator.get_variable_value("global_step") == 0
    assert tf.train.latest_checkpoint(str(paths.job_dir)).endswith("model.ckpt-0")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["canned", "custom"])
def test_without_a_tuner_the_same_trainer_changes_nothing(monkeypatch, tmp_path, model):
    no_trial_env(monkeypatch)
    runs = {}
    for integration in ("plain", "wrapper"):
        job_dir = tmp_path / integration
        metrics, exports = estimator_task.main(["--job-dir", str(job_dir), "--model", model,
                                                "--integration", integration])
        files = sorted(str(p.relative_to(job_dir)).rsplit(".", 2)[0] if "tfevents" in p.name
                       else str(p.relative_to(job_dir)) for p in job_dir.rglob("*"))
        runs[integration] = (metrics, exports, files)
    assert runs["plain"] == runs["wrapper"]
    assert not list(tmp_path.rglob("measurements.jsonl"))
