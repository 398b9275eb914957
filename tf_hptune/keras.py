"""``ReportCallback``: a tf.keras ``model.fit`` trial that reports to the tuner and obeys it."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from tf_hptune.channel import StopWatcher
from tf_hptune.context import TrialContext, note_outside_tuning, trial_context, warn_once
from tf_hptune.report import report


def candidate_keys(tag: str) -> list[str]:
    """The Keras logs keys that hold metric ``tag``, in order: the tag itself, and for
    TensorBoard's ``epoch_<name>`` tags ``val_<name>`` (evaluation first, as the tuner ranks
    summaries), then ``<name>``."""
    candidates = [tag]
    if tag.startswith("epoch_"):
        candidates += ["val_" + tag[len("epoch_"):], tag[len("epoch_"):]]
    return candidates


def logs_key(tag: str, logs: Mapping[str, Any]) -> str | None:
    """The first of ``candidate_keys(tag)`` that ``logs`` has, else None."""
    return next((key for key in candidate_keys(tag) if key in logs), None)


class ReportCallback(tf.keras.callbacks.Callback):
    """Reports the job's metric from the Keras logs and stops training on request.

    By default it reports the job's own tag (``hyperparameterMetricTag: val_accuracy`` reads
    ``logs["val_accuracy"]``; a TensorBoard tag such as ``epoch_accuracy`` reads
    ``val_accuracy``, else ``accuracy``: see :func:`candidate_keys`). ``monitor`` names another
    logs key to report under the job's tag; that is said once in the log. A key missing from
    the logs at the end of an epoch is an error that names the keys the logs have.

    It reports at the end of every epoch (after validation) and, with ``every_n_batches``,
    every that many training batches (batch logs hold training metrics only, no ``val_*``).
    The step is the optimizer's iteration count, the number of batches trained so far. When
    the tuner asks the trial to stop, it sets ``model.stop_training`` (checked every
    ``check_secs`` at most): Keras ends the epoch, validates it, and this callback reports that
    last value. Outside a tuning job it does nothing.
    """

    def __init__(
        self,
        monitor: str | None = None,
        every_n_batches: int | None = None,
        check_secs: float = 0.1,
    ) -> None:
        super().__init__()
        if every_n_batches is not None and every_n_batches < 1:
            raise ValueError(f"every_n_batches must be a positive integer, got {every_n_batches}")
        self.monitor = monitor
        self.every_n_batches = every_n_batches
        self.check_secs = check_secs
        self.stopped = False
        self._ctx: TrialContext | None = None
        self._batches = 0
        self._last_bucket = 0
        self._watcher: StopWatcher | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        ctx = trial_context()
        if not ctx.in_tuning_job:
            note_outside_tuning("ReportCallback")
            self._ctx = None
            return
        self._ctx = ctx
        self.stopped = False
        if self.monitor is not None and self.monitor not in candidate_keys(ctx.metric_tag):
            warn_once(f"ReportCallback:monitor:{self.monitor}",
                      "tf_hptune: ReportCallback reports logs[%r] as the job's metric %r "
                      "(monitor=%r differs from hyperparameterMetricTag)", self.monitor,
                      ctx.metric_tag, self.monitor)
        if ctx.control_dir is not None:
            self._watcher = StopWatcher(ctx.control_dir, self.check_secs)
        self._batches = 0
        self._last_bucket = self._step() // self.every_n_batches if self.every_n_batches else 0
        self._check_stop(force=True)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._ctx is None:
            return
        self._batches += 1
        if self.every_n_batches:
            step = self._step()
            if step // self.every_n_batches > self._last_bucket:
                self._last_bucket = step // self.every_n_batches
                self._report(logs or {}, step, "batch")
        self._check_stop(force=False)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._ctx is None:
            return
        self._report(logs or {}, self._step(), "epoch")
        last = epoch + 1 >= (self.params or {}).get("epochs", float("inf"))
        self._check_stop(force=True, act=not last)  # at its last epoch it ends anyway

    def _step(self) -> int:
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        return int(iterations.numpy()) if iterations is not None else self._batches

    def _report(self, logs: Mapping[str, Any], step: int, where: str) -> None:
        assert self._ctx is not None
        wanted = [self.monitor] if self.monitor is not None else candidate_keys(
            self._ctx.metric_tag)
        key = next((k for k in wanted if k in logs), None)
        if key is None:
            message = (f"tf_hptune: ReportCallback found no {' or '.join(map(repr, wanted))} "
                       f"in the {where} logs, which have {sorted(logs)}")
            if where == "epoch":
                raise ValueError(f"{message}; set hyperparameterMetricTag (or "
                                 "ReportCallback(monitor=...)) to one of them")
            warn_once(f"ReportCallback:{where}:{self.monitor}", "%s", message)
            return
        report(self._ctx.metric_tag, logs[key], step, checkpoint_path="",
               caller="ReportCallback")

    def _check_stop(self, force: bool, act: bool = True) -> None:
        if self._watcher is not None and self._watcher.check(force, act):
            self.stopped = True
            self.model.stop_training = True


__all__ = ["ReportCallback", "candidate_keys", "logs_key"]
