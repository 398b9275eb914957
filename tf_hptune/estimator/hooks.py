"""Session hooks and checkpoint listeners that connect an Estimator trial to the tuner."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import tensorflow as tf

from tf_hptune.channel import StopWatcher
from tf_hptune.channel.events import EventDirectoryScanner
from tf_hptune.context import note_outside_tuning, trial_context, warn_once
from tf_hptune.report import report


def report_evaluation(eval_result: Mapping[str, Any], checkpoint_path: str = "") -> bool:
    """Report the job's metric from an ``Estimator.evaluate`` result at its ``global_step``.

    Returns True when reported; False outside a tuning job or when the result lacks the
    metric tag (said once in the log; the tuner may still find the tag in summaries).
    """
    ctx = trial_context()
    if not ctx.in_tuning_job:
        note_outside_tuning("report_evaluation")
        return False
    tag = ctx.metric_tag
    try:
        value = float(eval_result[tag])
    except KeyError:
        warn_once(f"missing:{tag}", "tf_hptune: the metric tag %r is not among the "
                  "evaluation's metrics %s", tag, sorted(eval_result))
        return False
    except (TypeError, ValueError):
        warn_once(f"scalar:{tag}", "tf_hptune: evaluation metric %r is not a scalar: %r",
                  tag, eval_result[tag])
        return False
    step = eval_result.get(tf.compat.v1.GraphKeys.GLOBAL_STEP)
    return report(tag, value, step, checkpoint_path=checkpoint_path, caller="report_evaluation")


class StopHook(tf.compat.v1.train.SessionRunHook):
    """Ends training when the tuner asks the trial to stop (``watcher``).

    Checked when the session is created (a trial asked to stop before training runs no step)
    and after each step, at most every ``watcher.check_secs``; training then ends through
    ``request_stop()``, so Estimator's ``CheckpointSaverHook`` saves a final checkpoint and its
    listeners (the evaluation of ``train_and_evaluate``) run as at a normal end.
    """

    def __init__(self, watcher: StopWatcher) -> None:
        self.watcher = watcher

    @property
    def stopped(self) -> bool:
        return self.watcher.stopped

    def after_create_session(self, session: Any, coord: Any) -> None:
        if self.watcher.check(force=True):
            coord.request_stop()

    def after_run(self, run_context: Any, run_values: Any) -> None:
        if self.watcher.check():
            run_context.request_stop()


class EvalReportListener(tf.compat.v1.train.CheckpointSaverListener):
    """At each checkpoint and at the end of training, reports the metric of the evaluations
    written since the last time under ``model_dir``'s evaluation directories (``eval*``).

    Listeners run in order, so an evaluation made by a later listener at the same checkpoint
    (``train_and_evaluate``'s) is reported at the next one; report a last evaluation with
    :func:`report_evaluation`, or leave it to the tuner, which reads summaries after the exit.
    """

    def __init__(self, model_dir: str | os.PathLike[str], tag: str) -> None:
        self.tag = tag
        self._scanner = EventDirectoryScanner(model_dir, tag)

    def after_save(self, session: Any, global_step_value: int) -> None:
        self._report_new()

    def end(self, session: Any, global_step_value: int) -> None:
        self._report_new()

    def _report_new(self) -> None:
        for step, value, _wall_time, source in self._scanner.read_new():
            if self._scanner.is_eval_dir(source):
                report(self.tag, value, step, checkpoint_path="", caller="EvalReportListener")


class TrialHooks(NamedTuple):
    """What to pass to ``Estimator.train(hooks=..., saving_listeners=...)``."""

    training_hooks: list[tf.compat.v1.train.SessionRunHook]
    saving_listeners: list[tf.compat.v1.train.CheckpointSaverListener]

    @property
    def stopped(self) -> bool:
        """Whether training ended because the tuner asked this trial to stop."""
        return any(isinstance(h, StopHook) and h.stopped for h in self.training_hooks)


def make_hooks(estimator: tf.estimator.Estimator | None = None) -> TrialHooks:
    """Hooks for trainers that call ``estimator.train`` themselves: a :class:`StopHook`, and
    with ``estimator`` an :class:`EvalReportListener` on its model dir. Empty outside a
    tuning job."""
    ctx = trial_context()
    if not ctx.in_tuning_job:
        note_outside_tuning("make_hooks")
        return TrialHooks([], [])
    hooks: list[tf.compat.v1.train.SessionRunHook] = []
    watcher = ctx.stop_watcher()
    if watcher is not None:
        hooks.append(StopHook(watcher))
    listeners: list[tf.compat.v1.train.CheckpointSaverListener] = []
    if estimator is not None:
        listeners.append(EvalReportListener(estimator.model_dir, ctx.metric_tag))
    return TrialHooks(hooks, listeners)


__all__ = [
    "EvalReportListener",
    "StopHook",
    "TrialHooks",
    "make_hooks",
    "report_evaluation",
]
