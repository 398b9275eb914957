"""``train_and_evaluate``: ``tf.estimator.train_and_evaluate`` that reports and obeys the tuner."""
from __future__ import annotations

import logging
from typing import Any

import tensorflow as tf

from tf_hptune.context import note_outside_tuning, trial_context
from tf_hptune.estimator.hooks import StopHook, report_evaluation

log = logging.getLogger("tf_hptune")


class ReportExporter(tf.estimator.Exporter):
    """Reports the job's metric from every evaluation of ``train_and_evaluate``.

    ``train_and_evaluate`` calls its exporters right after each evaluation, the final one
    included, with the evaluation's results, so nothing waits for the next checkpoint. It
    exports nothing.
    """

    @property
    def name(self) -> str:
        return "tf_hptune_report"

    def export(
        self,
        estimator: tf.estimator.Estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: dict[str, Any],
        is_the_final_export: bool,
    ) -> None:
        report_evaluation(eval_result, checkpoint_path=checkpoint_path or "")


def train_and_evaluate(
    estimator: tf.estimator.Estimator,
    train_spec: tf.estimator.TrainSpec,
    eval_spec: tf.estimator.EvalSpec,
) -> Any:
    """A drop-in for ``tf.estimator.train_and_evaluate``.

    Outside a tuning job it only calls the original. In a trial it also reports the job's
    metric (``trial_context().metric_tag``) with its global step after every evaluation, the
    final one included, and when the tuner asks the trial to stop it ends training at the next
    check, lets Estimator save a checkpoint and evaluate it, and exits the process with 0.
    The return value is the original's.
    """
    ctx = trial_context()
    if not ctx.in_tuning_job:
        note_outside_tuning("train_and_evaluate")
        return tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    watcher = ctx.stop_watcher()
    stop_hook = StopHook(watcher) if watcher is not None else None
    if stop_hook is not None:
        train_spec = train_spec._replace(hooks=(*train_spec.hooks, stop_hook))
    user_exporters = len(eval_spec.exporters)
    eval_spec = eval_spec._replace(exporters=(*eval_spec.exporters, ReportExporter()))
    result = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    if stop_hook is not None and stop_hook.stopped:
        log.warning("tf_hptune: trial %s stopped by the tuner; exiting", ctx.trial_id)
        raise SystemExit(0)
    if result is None:  # distributed modes return nothing
        return None
    metrics, exports = result
    return metrics, None if exports is None else exports[:user_exporters]


__all__ = ["ReportExporter", "train_and_evaluate"]
