"""Estimator trainers as real trial subprocesses (tf_hptune.launch + TrialChannel) and through
the Tuner: reports at the right steps, stops with and without the hook."""
from __future__ import annotations

import signal
import time

import pytest

pytest.importorskip("tensorflow")

from tftrial.testing import PACKAGE, start_trial  # noqa: E402

from tests.conftest import make_spec  # noqa: E402
from tf_hptune.channel.events import EventDirectoryScanner  # noqa: E402
from tf_hptune.launch import LaunchConfig  # noqa: E402
from tf_hptune.store import State, open_store  # noqa: E402
from tf_hptune.study import Study  # noqa: E402
from tf_hptune.tuner import Tuner  # noqa: E402

pytestmark = pytest.mark.slow
SLOW_TRAINING = ["--train_steps", "5000", "--checkpoint_steps", "50", "--step_sleep", "0.01"]


def checkpoint_step(model_dir) -> int:
    text = (model_dir / "checkpoint").read_text()
    return int(text.split('"')[1].rsplit("-", 1)[1])


def evaluations(model_dir, tag):
    return EventDirectoryScanner(model_dir / "eval", tag).measurements()


@pytest.mark.parametrize("model, integration, tag", [
    ("canned", "wrapper", "average_loss"),
    ("custom", "hooks", "rmse"),
])
def test_a_stop_ends_training_with_a_checkpoint_and_exit_0(tmp_path, model, integration, tag):
    trial = start_trial(tmp_path, "estimator_task",
                        ["--model", model, "--integration", integration, *SLOW_TRAINING], tag)
    trial.wait_for(trial.channel.measurements)
    trial.channel.request_stop("early stopping")
    stopped_at = time.monotonic()
    assert trial.wait() == 0, trial.log()
    assert time.monotonic() - stopped_at < 30
    measured = trial.channel.measurements()
    final_step = measured[-1][0]
    # training ended early, at the checkpoint saved at the stop, whose evaluation is the last
    # value the tuner has
    assert 50 <= final_step < 5000 and checkpoint_step(trial.paths.job_dir) == final_step
    assert measured == evaluations(trial.paths.job_dir, tag)
    assert "asked this trial to stop" in trial.log()


def test_without_the_hook_a_stop_is_a_sigterm_and_summaries_elsewhere_are_found(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    trial = start_trial(tmp_path / "job", "estimator_task",
                        ["--model", "custom", "--integration", "plain",
                         "--output_dir", str(elsewhere), *SLOW_TRAINING], "rmse")
    trial.wait_for(lambda: len(trial.channel.measurements()) >= 2)
    trial.channel.request_stop("early stopping")
    seen = len(trial.channel.measurements())
    trial.wait_for(lambda: len(trial.channel.measurements()) > seen)  # it ignores the file
    trial.launcher.terminate(trial.handle, 5.0)
    assert trial.wait() == -signal.SIGTERM
    measured = trial.channel.measurements()
    assert measured == evaluations(elsewhere / "1", "rmse")
    assert [s for s, _ in measured] == list(range(50, 50 * len(measured) + 1, 50))
    assert not list(trial.paths.job_dir.iterdir()) and not trial.paths.measurements.exists()


def test_a_tuning_job_of_estimator_trials_keeps_each_final_evaluation(tmp_path):
    spec = make_spec([{"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 0.01,
                       "maxValue": 0.2, "scaleType": "UNIT_LOG_SCALE"}],
                     goal="MINIMIZE", hyperparameterMetricTag="rmse", maxTrials=2,
                     maxParallelTrials=2)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="est", seed=0)
    launch = LaunchConfig("tftrial.estimator_task", str(PACKAGE), str(tmp_path / "out"),
                          user_args=("--model", "custom", "--train_steps", "200"))
    assert Tuner(study, launch, poll_interval=0.1).run() is State.SUCCEEDED
    for t in study.trials:
        assert t.state is State.SUCCEEDED, t.log_tail
        evals = evaluations(tmp_path / "out" / t.trial_id, "rmse")
        assert [(m.step, m.value) for m in t.measurements] == evals
        assert (t.final_step, t.final_value) == evals[-1] and t.final_step == 200


def test_early_stopping_stops_a_real_estimator_trial_cleanly_through_the_hook(tmp_path):
    from tf_hptune.launch import LocalLauncher

    class ExitCodes(LocalLauncher):
        def __init__(self, python):
            super().__init__(python)
            self.codes = {}

        def poll(self, handle):
            code = super().poll(handle)
            if code is not None:
                self.codes[handle.trial_id] = code
            return code

    # two good learning rates complete; a hopeless one is then stopped by the default rule
    spec = make_spec([{"parameterName": "learning_rate", "type": "CATEGORICAL",
                       "categoricalValues": ["0.05", "0.04", "0.0000001"]}],
                     goal="MINIMIZE", hyperparameterMetricTag="rmse", algorithm="GRID_SEARCH",
                     maxTrials=3, maxParallelTrials=1, enableTrialEarlyStopping=True)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="es", seed=0)
    launch = LaunchConfig("tftrial.estimator_task", str(PACKAGE), str(tmp_path / "out"),
                          user_args=("--model", "custom", "--train_steps", "600",
                                     "--checkpoint_steps", "50"))
    launcher = ExitCodes(launch.python)
    # a long grace: a SIGTERM could only come long after the hook has ended the trial
    tuner = Tuner(study, launch, launcher=launcher, poll_interval=0.1, grace=120.0)
    assert tuner.run() is State.SUCCEEDED
    first, second, hopeless = study.trials
    assert not first.stopped_early and not second.stopped_early
    assert hopeless.stopped_early and "learning-curve rule" in hopeless.reason
    assert launcher.codes == {"1": 0, "2": 0, "3": 0}
    model_dir = tmp_path / "out" / "3"
    saved = checkpoint_step(model_dir)
    assert saved < 600  # training ended early, with a checkpoint of where it stopped
    # the final evaluation, of that checkpoint, is the trial's final metric
    assert hopeless.final_step == saved == evaluations(model_dir, "rmse")[-1][0]
