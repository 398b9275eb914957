"""Estimator trials: change ``tf.estimator.train_and_evaluate`` to
``tf_hptune.estimator.train_and_evaluate``, or pass ``make_hooks()`` to ``Estimator.train``.

This package imports TensorFlow; the tuner side never imports it.
"""
from __future__ import annotations

import sys

import tensorflow as tf


def _require_estimator() -> None:
    """Refuse, with the way out, a TensorFlow without ``tf.estimator`` (2.16 and later)."""
    try:
        tf.estimator.Estimator  # noqa: B018 (a lazy module: the access imports it)
    except (AttributeError, ImportError) as e:
        raise ImportError(
            f"tf_hptune.estimator needs tf.estimator, which TensorFlow {tf.__version__} on "
            f"Python {sys.version_info.major}.{sys.version_info.minor} does not have ({e}). "
            "TensorFlow 2.16 removed it: Estimator trainers need TensorFlow 2.15 with "
            "tensorflow-estimator 2.15 on Python <= 3.11 (pip install 'tf-hptune[tf215]'). "
            "Keras trainers use tf_hptune.keras.ReportCallback, others tf_hptune.report_metric."
        ) from None


_require_estimator()

from tf_hptune.estimator.hooks import (  # noqa: E402 (after the check, which explains)
    EvalReportListener,
    StopHook,
    TrialHooks,
    make_hooks,
    report_evaluation,
)
from tf_hptune.estimator.training import (  # noqa: E402
    ReportExporter,
    train_and_evaluate,
)

__all__ = [
    "EvalReportListener",
    "ReportExporter",
    "StopHook",
    "TrialHooks",
    "make_hooks",
    "report_evaluation",
    "train_and_evaluate",
]
