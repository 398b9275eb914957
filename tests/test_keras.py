"""tf_hptune.keras.ReportCallback with tf.keras 2.15's model.fit."""
from __future__ import annotations

import json
import logging
import sys
import time

import pytest

from tests.conftest import ROOT

tf = pytest.importorskip("tensorflow")
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tftrial"))
from tftrial import models  # noqa: E402
from tftrial.testing import no_trial_env, start_trial, trial_env  # noqa: E402

from tf_hptune import context  # noqa: E402
from tf_hptune.channel import TrialChannel  # noqa: E402
from tf_hptune.keras import ReportCallback, logs_key  # noqa: E402

BATCHES = 16  # per epoch: 256 examples, batches of 16
# Keras 2.15 seeds its layers with random.randint(1, 1e9)
pytestmark = pytest.mark.filterwarnings("ignore:non-integer arguments to randrange")


@pytest.fixture(autouse=True)
def fresh_notice(monkeypatch):
    monkeypatch.setattr(context, "_warned", set())


def fit(*callbacks, epochs=3):
    model = models.keras_model(0.05)
    x, y = models.data(256, 1)
    history = model.fit(x, y, batch_size=16, epochs=epochs, validation_data=models.data(64, 2),
                        callbacks=list(callbacks), verbose=0, shuffle=False)
    return model, history.history


def test_the_jobs_own_tag_is_reported_at_each_epoch_end_by_default(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "val_mae")
    _, history = fit(ReportCallback())
    assert TrialChannel(paths, "val_mae").measurements() == [
        (BATCHES * (e + 1), pytest.approx(v)) for e, v in enumerate(history["val_mae"])]


def test_an_explicit_monitor_is_reported_under_the_tag_and_said_once(monkeypatch, tmp_path,
                                                                      caplog):
    paths = trial_env(monkeypatch, tmp_path, "rmse")
    with caplog.at_level(logging.WARNING, logger="tf_hptune"):
        _, history = fit(ReportCallback(monitor="val_loss"))
    assert TrialChannel(paths, "rmse").measurements() == [
        (BATCHES * (e + 1), pytest.approx(v)) for e, v in enumerate(history["val_loss"])]
    assert caplog.text.count("reports logs['val_loss'] as the job's metric 'rmse'") == 1


def test_every_n_batches_reports_training_values_too(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "loss")
    batch_logs = {}
    step = {"n": 0}

    def remember(batch, logs):
        step["n"] += 1
        batch_logs[step["n"]] = logs["loss"]

    _, history = fit(tf.keras.callbacks.LambdaCallback(on_train_batch_end=remember),
                     ReportCallback(monitor="loss", every_n_batches=5), epochs=2)
    measured = dict(TrialChannel(paths, "loss").measurements())
    assert sorted(measured) == [5, 10, 15, 16, 20, 25, 30, 32]
    for s in (5, 10, 15, 20, 25, 30):
        assert measured[s] == pytest.approx(batch_logs[s])
    assert [measured[16], measured[32]] == pytest.approx(history["loss"])


def test_the_logs_key_follows_the_metric_tag():
    logs = {"loss": 1, "mae": 2, "val_loss": 3, "val_mae": 4}
    assert logs_key("epoch_mae", logs) == "val_mae"
    assert logs_key("epoch_mae", {"mae": 2}) == "mae"
    assert logs_key("mae", logs) == "mae"
    assert logs_key("epoch_accuracy", logs) is None


def test_monitor_none_takes_the_key_from_the_tag(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "epoch_mae")
    _, history = fit(ReportCallback(monitor=None), epochs=2)
    assert [v for _, v in TrialChannel(paths, "epoch_mae").measurements()] == pytest.approx(
        history["val_mae"])


def test_a_tag_missing_from_the_logs_fails_the_first_epoch_naming_the_keys(monkeypatch,
                                                                            tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "val_accuracy")  # a regression has no accuracy
    with pytest.raises(ValueError, match=r"no 'val_accuracy' in the epoch logs, which have "
                                         r"\['loss', 'mae', 'val_loss', 'val_mae'\]"):
        fit(ReportCallback(), epochs=2)
    assert not paths.measurements.exists()
    with pytest.raises(ValueError, match="no 'val_acc' in the epoch logs"):
        fit(ReportCallback(monitor="val_acc"), epochs=2)


def test_a_stop_ends_fit_after_the_next_batch_and_reports_its_validation(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "val_loss")

    def stop_at_batch_5(batch, logs):
        if batch == 4:
            paths.stop_file.write_text("stop\n")

    callback = ReportCallback(check_secs=0.0)
    model, history = fit(tf.keras.callbacks.LambdaCallback(on_train_batch_end=stop_at_batch_5),
                         callback)
    assert callback.stopped and int(model.optimizer.iterations.numpy()) == 5
    assert paths.stopping_file.exists()  # it told the tuner it ends because it was asked
    assert TrialChannel(paths, "val_loss").measurements() == [
        (5, pytest.approx(history["val_loss"][0]))]
    assert len(history["val_loss"]) == 1


def test_outside_a_tuner_nothing_changes(monkeypatch, tmp_path, caplog):
    no_trial_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    _, plain = fit()
    callback = ReportCallback(every_n_batches=2)
    with caplog.at_level(logging.WARNING, logger="tf_hptune"):
        _, with_callback = fit(callback)
    assert with_callback == plain and not callback.stopped
    assert not list(tmp_path.iterdir())
    assert "ReportCallback" in caplog.text


def test_every_n_batches_must_be_positive():
    with pytest.raises(ValueError, match="every_n_batches"):
        ReportCallback(every_n_batches=0)


@pytest.mark.slow
def test_a_trial_subprocess_stops_cleanly(tmp_path):
    trial = start_trial(tmp_path, "keras_task",
                        ["--epochs", "30", "--batch_sleep", "0.02"], "val_loss")
    trial.wait_for(trial.channel.measurements)
    trial.channel.request_stop("early stopping")
    stopped_at = time.monotonic()
    assert trial.wait() == 0, trial.log()
    assert time.monotonic() - stopped_at < 10
    result = json.loads((trial.paths.job_dir / "history.json").read_text())
    epochs = len(result["epochs"])
    assert 1 <= epochs < 30
    measured = trial.channel.measurements()
    assert measured[-1] == (result["iterations"], pytest.approx(result["history"]["val_loss"][-1]))
    assert len(measured) == epochs


def test_a_stop_seen_at_the_last_epoch_is_not_acted_on(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "val_loss")

    def stop_in_the_last_epoch(batch, logs):
        if int(model_holder["m"].optimizer.iterations.numpy()) == 2 * BATCHES + 3:
            paths.stop_file.write_text("stop\n")

    model_holder = {}
    model = models.keras_model(0.05)
    model_holder["m"] = model
    x, y = models.data(256, 1)
    callback = ReportCallback(check_secs=1e9)  # looks only at epoch ends
    model.fit(x, y, batch_size=16, epochs=3, validation_data=models.data(64, 2), verbose=0,
              callbacks=[tf.keras.callbacks.LambdaCallback(
                  on_train_batch_end=stop_in_the_last_epoch), callback])
    assert not callback.stopped and not paths.stopping_file.exists()
    assert len(TrialChannel(paths, "val_loss").measurements()) == 3


@pytest.mark.slow
def test_a_keras_job_on_val_accuracy_reports_val_accuracy_with_the_defaults(tmp_path):
    from tftrial.testing import PACKAGE

    from tests.conftest import make_spec
    from tf_hptune.launch import LaunchConfig
    from tf_hptune.store import State, open_store
    from tf_hptune.study import Study
    from tf_hptune.tuner import Tuner

    spec = make_spec([{"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 0.01,
                       "maxValue": 0.5, "scaleType": "UNIT_LOG_SCALE"}],
                     goal="MAXIMIZE", hyperparameterMetricTag="val_accuracy", maxTrials=2,
                     maxParallelTrials=2)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="acc", seed=0)
    launch = LaunchConfig("tftrial.keras_task", str(PACKAGE), str(tmp_path / "out"),
                          user_args=("--classify", "--epochs", "3"))
    assert Tuner(study, launch, poll_interval=0.1).run() is State.SUCCEEDED
    for t in study.trials:
        history = json.loads((tmp_path / "out" / t.trial_id / "history.json").read_text())
        assert t.final_value == pytest.approx(history["history"]["val_accuracy"][-1])
        assert [m.value for m in t.measurements] == pytest.approx(
            history["history"]["val_accuracy"])
        assert not t.stopped_early
