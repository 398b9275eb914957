"""``tf.contrib.learn.learn_runner.run``: build an ``Experiment`` and run one schedule."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tf_hptune.runtime import MODE_NAME
from tf_hptune.runtime.trial.contrib.learn.experiment import Experiment

SCHEDULES = ("train_and_evaluate", "train", "evaluate")


def run(experiment_fn: Callable[..., Experiment], output_dir: str | None = None,
        schedule: str | None = None, run_config: Any = None, hparams: Any = None) -> Any:
    """``experiment_fn(run_config, hparams)`` (or the older ``experiment_fn(output_dir)``),
    then its ``schedule`` (default ``train_and_evaluate``); returns what the schedule does."""
    if (output_dir is None) == (run_config is None):
        raise ValueError("learn_runner.run needs exactly one of output_dir and run_config")
    schedule = schedule or SCHEDULES[0]
    if schedule not in SCHEDULES:
        raise ValueError(f"learn_runner.run(schedule={schedule!r}): the {MODE_NAME} runs one "
                         f"process, with schedule {' or '.join(SCHEDULES)}")
    experiment = (experiment_fn(output_dir) if run_config is None
                  else experiment_fn(run_config, hparams))
    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment_fn must return a tf.contrib.learn.Experiment, got "
                        f"{type(experiment).__name__}")
    return getattr(experiment, schedule)()


__all__ = ["SCHEDULES", "run"]
