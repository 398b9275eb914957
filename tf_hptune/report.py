"""``report_metric``: tell the tuner a metric value at a training step. Never imports TensorFlow.

Each report goes to both trial-side files of the channel: it is appended to the trial's
``measurements.jsonl`` (every report kept) and written to the hypertune metrics file
(``$CLOUD_ML_HP_METRIC_FILE``, latest 100 reports), so any reader of either sees it. Outside a
tuning job nothing is written; that is said once in the log.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import SupportsFloat, SupportsInt

from tf_hptune.channel.hypertune import write_report
from tf_hptune.channel.jsonl import append_measurement
from tf_hptune.context import note_outside_tuning, trial_context
from tf_hptune.names import DEFAULT_METRIC_TAG

_lock = threading.Lock()  # one rewrite of the hypertune file at a time in this process


def report_metric(tag: str, value: SupportsFloat, step: SupportsInt) -> None:
    """Report ``value`` of metric ``tag`` (empty: ``training/hptuning/metric``) at ``step``.

    The tuner optimizes the tag named by the job's ``hyperparameterMetricTag``
    (``trial_context().metric_tag``); values of other tags are recorded but not used.
    """
    report(tag, value, step, checkpoint_path="", caller="report_metric")


def report(
    tag: str,
    value: SupportsFloat,
    step: SupportsInt | None,
    *,
    checkpoint_path: str,
    caller: str,
) -> bool:
    """The one implementation behind every reporter; True when the report was written."""
    ctx = trial_context()
    if not ctx.in_tuning_job:
        note_outside_tuning(caller)
        return False
    tag = tag or DEFAULT_METRIC_TAG
    value = float(value)
    step_int = int(step) if step is not None else 0
    with _lock:
        if ctx.paths is not None:
            append_measurement(ctx.paths.measurements, tag, step_int, value)
        write_report(Path(ctx.metric_file), tag, value, step_int, checkpoint_path, ctx.trial_id)
    return True


__all__ = ["report", "report_metric"]
