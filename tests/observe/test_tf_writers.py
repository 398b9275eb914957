"""Trainers that never import tf_hptune and write summaries outside their --job-dir are measured
through the observe hook: TensorFlow's own writers, in real trial subprocesses."""
from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tftrial"))
from tftrial.testing import start_trial  # noqa: E402

from tf_hptune.observe import read_summary_dirs  # noqa: E402
from tf_hptune.observe.pythonpath import _tf_hptune_observe as observe  # noqa: E402

tf = pytest.importorskip("tensorflow")


def test_logdir_tensors_are_read_when_their_value_is_known(tmp_path):
    assert observe._as_local_dir(tf.constant(str(tmp_path / "eager"))) == str(tmp_path / "eager")
    with tf.Graph().as_default():
        constant = tf.constant(str(tmp_path / "graph"))
        computed = tf.strings.join([constant, "x"])
        assert observe._as_local_dir(constant) == str(tmp_path / "graph")
        assert observe._as_local_dir(computed) is None


@pytest.mark.slow
def test_a_custom_loop_writing_tf2_summaries_elsewhere_is_measured(tmp_path):
    trial = start_trial(tmp_path / "job", "loop_task",
                        ["--output_dir", str(tmp_path / "elsewhere"), "--steps", "200"],
                        tag="eval_loss")
    assert trial.wait() == 0, trial.log()
    written = json.loads((trial.paths.job_dir / "values.json").read_text())
    measured = trial.channel.measurements()
    assert [s for s, _ in measured] == [int(s) for s in written] == [50, 100, 150, 200]
    assert [v for _, v in measured] == pytest.approx(list(written.values()), rel=1e-6)
    assert read_summary_dirs(trial.paths.control_dir) == [str(tmp_path / "elsewhere" / "1")]
    assert not trial.paths.measurements.exists()  # found through the summaries alone


@pytest.mark.slow
def test_keras_tensorboard_callback_elsewhere_validation_wins(tmp_path):
    trial = start_trial(tmp_path / "job", "keras_task",
                        ["--integration", "plain", "--tensorboard_dir", str(tmp_path / "tb")],
                        tag="epoch_loss")
    assert trial.wait() == 0, trial.log()
    history = json.loads((trial.paths.job_dir / "history.json").read_text())
    measured = trial.channel.measurements()
    assert [s for s, _ in measured] == history["epochs"] == [0, 1, 2]
    assert [v for _, v in measured] == pytest.approx(history["history"]["val_loss"], rel=1e-6)
    assert {str(tmp_path / "tb" / "1" / d) for d in ("train", "validation")} <= set(
        read_summary_dirs(trial.paths.control_dir))
