"""Estimator trials: change ``tf.estimator.train_and_evaluate`` to
``tf_hptune.estimator.train_and_evaluate``, or pass ``make_hooks()`` to ``Estimator.train``.

This package imports TensorFlow; the tuner side never imports it.
"""
from __future__ import annotations

from tf_hptune.estimator.hooks import (
    EvalReportListener,
    StopHook,
    TrialHooks,
    make_hooks,
    report_evaluation,
)
from tf_hptune.estimator.training import ReportExporter, train_and_evaluate

__all__ = [
    "EvalReportListener",
    "ReportExporter",
    "StopHook",
    "TrialHooks",
    "make_hooks",
    "report_evaluation",
    "train_and_evaluate",
]
