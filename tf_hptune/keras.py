"""``ReportCallback``: a tf.keras ``model.fit`` trial that reports to the tuner and obeys it."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from tf_hptune.channel import StopWatcher
from tf_hptune.context import TrialContext, note_outside_tuning, trial_context, warn_once
from tf_hptune.report import report


def logs_key(tag: str, logs: Mapping[str, Any]) -> str | None:
    """The Keras logs key holding metric ``tag``: the tag itself, or for TensorBoard's
    ``epoch_<name>`` tags ``val_<name>`` (evaluation first, as the tuner ranks summaries),
    then ``<name>``."""
    candidates = [tag]
    if tag.startswith("epoch_"):
        candidates += ["val_" + tag[len("epoch_"):], tag[len("epoch_"):]]
    return next((key for key in candidates if key in logs), None)


class ReportCallback(tf.keras.callbacks.Callback):
    """Reports ``logs[monitor]`` as the job's metric tag and stops training on request.

    It reports at the end of every epoch (after validation) and, with ``every_n_batches``,
    every that many training batches (batch logs hold training metrics only, no ``val_*``).
    The step is the optimizer's iteration count, the number of batches trained so far.
    ``monitor=None`` finds the key from the metric tag (see :func:`logs_key`). When the tuner
    asks the trial to stop, it sets ``model.stop_training`` (checked every ``check_secs`` at
    most): Keras ends the epoch, validates it, and this callback reports that last value.
    Outside a tuning job it does nothing.
    """

    def __init__(
        self,
        monitor: str | None = "val_loss",
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
        self._check_stop(force=True)

    def _step(self) -> int:
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        return int(iterations.numpy()) if iterations is not None else self._batches

    def _report(self, logs: Mapping[str, Any], step: int, where: str) -> None:
        assert self._ctx is not None
        key = self.monitor if self.monitor in logs else None
        if self.monitor is None:
            key = logs_key(self._ctx.metric_tag, logs)
        if key is None:
            warn_once(f"ReportCallback:{where}:{self.monitor}",
                      "tf_hptune: ReportCallback found no %r in the %s logs %s",
                      self.monitor or self._ctx.metric_tag, where, sorted(logs))
            return
        report(self._ctx.metric_tag, logs[key], step, checkpoint_path="",
               caller="ReportCallback")

    def _check_stop(self, force: bool) -> None:
        if self._watcher is not None and self._watcher.check(force):
            self.stopped = True
            self.model.stop_training = True


__all__ = ["ReportCallback", "logs_key"]
