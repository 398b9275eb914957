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


def test_val_loss_is_reported_at_each_epoch_end_under_the_metric_tag(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "rmse")
    _, history = fit(ReportCallback())
    assert TrialChannel(paths, "rmse").measurements() == [
        (BATCHES * (e + 1), pytest.approx(v)) for e, v in enumerate(history["val_loss"])]


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


def test_a_missing_monitor_is_said_once(monkeypatch, tmp_path, caplog):
    paths = trial_env(monkeypatch, tmp_path, "accuracy")
    with caplog.at_level(logging.WARNING, logger="tf_hptune"):
        fit(ReportCallback(monitor="val_accuracy"), epochs=2)
    assert caplog.text.count("found no 'val_accuracy' in the epoch logs") == 1
    assert not paths.measurements.exists()


def test_a_stop_ends_fit_after_the_next_batch_and_reports_its_validation(monkeypatch, tmp_path):
    paths = trial_env(monkeypatch, tmp_path, "rmse")

    def stop_at_batch_5(batch, logs):
        if batch == 4:
            paths.stop_file.write_text("stop\n")

    callback = ReportCallback(check_secs=0.0)
    model, history = fit(tf.keras.callbacks.LambdaCallback(on_train_batch_end=stop_at_batch_5),
                         callback)
    assert callback.stopped and int(model.optimizer.iterations.numpy()) == 5
    assert TrialChannel(paths, "rmse").measurements() == [
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
