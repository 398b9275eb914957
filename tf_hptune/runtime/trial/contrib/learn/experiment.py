"""``tf.contrib.learn.Experiment``, ``RunConfig`` and ``ModeKeys`` over ``tf.estimator``."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from tf_hptune.runtime import MODE_NAME

_est = tf.compat.v1.estimator  # the 1.x Estimator API: its Estimator is the base of both

# Experiment options about distributed scheduling: nothing to do in a one-process trial.
SCHEDULING_OPTIONS = frozenset({
    "local_eval_frequency", "eval_delay_secs", "continuous_eval_throttle_secs",
    "min_eval_frequency", "delay_workers_by_global_step", "train_steps_per_iteration",
    "checkpoint_and_export", "check_interval_secs",
})


class ModeKeys:
    """The 1.x names of the Estimator modes."""

    TRAIN = "train"
    EVAL = "eval"
    INFER = "infer"


class RunConfig(_est.RunConfig):
    """``tf.contrib.learn.RunConfig``: a ``tf.estimator.RunConfig`` that also takes the 1.x
    session options (as its ``session_config``) and cluster addresses (unused locally)."""

    def __init__(self, master: str | None = None, num_cores: int = 0,
                 log_device_placement: bool = False, gpu_memory_fraction: float = 1,
                 evaluation_master: str = "", **kwargs: Any) -> None:
        if kwargs.get("session_config") is None and (
                num_cores or log_device_placement or gpu_memory_fraction != 1):
            kwargs["session_config"] = tf.compat.v1.ConfigProto(
                intra_op_parallelism_threads=num_cores,
                inter_op_parallelism_threads=num_cores,
                log_device_placement=log_device_placement,
                gpu_options=tf.compat.v1.GPUOptions(
                    per_process_gpu_memory_fraction=gpu_memory_fraction))
        super().__init__(**kwargs)


class Experiment:
    """An Estimator with its input functions and steps. ``train_and_evaluate`` runs
    ``tf_hptune.estimator.train_and_evaluate`` (evaluating at every checkpoint and at the end,
    each evaluation reported to the tuner); ``train`` and ``evaluate`` call the Estimator's.
    ``export_strategies`` must be ``tf.estimator.Exporter``s (e.g. ``LatestExporter``)."""

    def __init__(self, estimator: _est.Estimator, train_input_fn: Callable[[], Any],
                 eval_input_fn: Callable[[], Any], eval_metrics: Any = None,
                 train_steps: int | None = None, eval_steps: int | None = 100,
                 train_monitors: Sequence[Any] | None = None,
                 eval_hooks: Sequence[Any] | None = None,
                 export_strategies: Any = None, saving_listeners: Sequence[Any] | None = None,
                 **scheduling: Any) -> None:
        unknown = sorted(set(scheduling) - SCHEDULING_OPTIONS)
        if unknown:
            raise TypeError(f"Experiment() got unexpected keyword arguments {unknown}")
        if not isinstance(estimator, _est.Estimator):
            raise TypeError(f"Experiment needs a tf.estimator.Estimator in the {MODE_NAME}, got "
                            f"{type(estimator).__name__} (tf.contrib.learn's estimators are "
                            "not provided)")
        if eval_metrics:
            raise ValueError(f"Experiment(eval_metrics=...) is not supported in the {MODE_NAME}; "
                             "add metrics with tf.contrib.estimator.add_metrics")
        exporters = export_strategies or ()
        exporters = [exporters] if isinstance(exporters, _est.Exporter) else exporters
        if not all(isinstance(e, _est.Exporter) for e in exporters):
            raise TypeError(f"Experiment(export_strategies=...) takes tf.estimator.Exporter "
                            f"objects in the {MODE_NAME}, got {exporters!r}")
        self.estimator = estimator
        self.train_spec = _est.TrainSpec(train_input_fn, max_steps=train_steps,
                                                 hooks=train_monitors or (),
                                                 saving_listeners=saving_listeners or ())
        self.eval_spec = _est.EvalSpec(eval_input_fn, steps=eval_steps,
                                               hooks=eval_hooks or (), exporters=exporters,
                                               start_delay_secs=0, throttle_secs=0)

    def train_and_evaluate(self) -> Any:
        from tf_hptune.estimator import train_and_evaluate

        return train_and_evaluate(self.estimator, self.train_spec, self.eval_spec)

    def train(self, delay_secs: float | None = None) -> Any:
        return self.estimator.train(self.train_spec.input_fn, max_steps=self.train_spec.max_steps,
                                    hooks=self.train_spec.hooks,
                                    saving_listeners=self.train_spec.saving_listeners)

    def evaluate(self, delay_secs: float | None = None, name: str | None = None) -> Any:
        return self.estimator.evaluate(self.eval_spec.input_fn, steps=self.eval_spec.steps,
                                       hooks=self.eval_spec.hooks, name=name)
