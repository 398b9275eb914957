"""``tf.contrib.learn``: what maps onto TensorFlow 2.15's Estimator: ``Experiment``,
``learn_runner``, ``RunConfig``, ``ModeKeys``. Its own estimators, heads and export strategies
(``tf.contrib.learn.Estimator``, ``saved_model_export_utils``) are not provided."""
from __future__ import annotations

from tf_hptune.runtime.trial.contrib.learn import learn_runner
from tf_hptune.runtime.trial.contrib.learn.experiment import Experiment, ModeKeys, RunConfig

__all__ = ["Experiment", "ModeKeys", "RunConfig", "learn_runner"]
