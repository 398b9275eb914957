"""A stand-in for the cloudml-hypertune package: change ``import hypertune`` to
``from tf_hptune import hypertune`` and nothing else.

The metrics file is the package's: ``$CLOUD_ML_HP_METRIC_FILE`` (default
``/tmp/hypertune/output.metrics``), the latest 100 reports, one JSON object per line with sorted
keys and string values but ``timestamp``. Two differences: the file keeps the latest reports of
every writer in the process (the package kept only its own instance's), and outside a tuning job
nothing is written (the package wrote to its default path). Each report is also appended to the
trial's measurements file, like ``tf_hptune.report_metric``. Never imports TensorFlow.
"""
from __future__ import annotations

from typing import SupportsFloat, SupportsInt

from tf_hptune.report import report


class HyperTune:
    """Reports hyperparameter tuning metrics, as ``hypertune.HyperTune`` did."""

    def report_hyperparameter_tuning_metric(
        self,
        hyperparameter_metric_tag: str,
        metric_value: SupportsFloat,
        global_step: SupportsInt | None = None,
        checkpoint_path: str = "",
    ) -> None:
        """Report ``metric_value`` of ``hyperparameter_metric_tag`` (empty means
        ``training/hptuning/metric``) at ``global_step`` (None is step 0)."""
        report(
            hyperparameter_metric_tag,
            metric_value,
            global_step,
            checkpoint_path=checkpoint_path,
            caller="HyperTune.report_hyperparameter_tuning_metric",
        )


__all__ = ["HyperTune"]
