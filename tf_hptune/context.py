"""``trial_context()``: the trial as seen from inside the trainer process.

Read from the environment the launcher sets (``CLOUD_ML_*``, ``TF_CONFIG``, ``TF_HPTUNE_*``), at
each call, so that it is right wherever it is called. Outside a tuning job every field has a
harmless value and ``in_tuning_job`` is False. Never imports TensorFlow.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tf_hptune.channel import StopWatcher, TrialPaths
from tf_hptune.channel.hypertune import metric_file_path
from tf_hptune.names import DEFAULT_METRIC_TAG

log = logging.getLogger("tf_hptune")

_JOB_DIR_FLAGS = ("--job-dir", "--job_dir")


_WATCHERS: dict[str, StopWatcher] = {}  # by control dir: one per trial in this process


@dataclass(frozen=True)
class TrialContext:
    """One trial's identity and settings.

    ``job_dir`` is the trial's own ``--job-dir`` (``<job dir>/<trial id>`` in a tuning job);
    ``control_dir`` is where the tuner and the trial exchange files (None outside a tuner).
    """

    trial_id: str
    job_id: str
    metric_tag: str
    job_dir: str | None
    hyperparameters: Mapping[str, Any] = field(hash=False)
    control_dir: str | None
    goal: str | None
    metric_file: str
    in_tuning_job: bool

    @property
    def paths(self) -> TrialPaths | None:
        """The trial's files, when a tuner gave it a control directory."""
        if self.control_dir is None:
            return None
        return TrialPaths(job_dir=Path(self.job_dir or ""), control_dir=Path(self.control_dir))

    def stop_requested(self) -> bool:
        """Whether the tuner has asked this trial to stop (its STOP file exists). The first
        call tells the tuner that the trial listens, so it is not sent SIGTERM at once."""
        watcher = self.stop_watcher()
        return watcher is not None and watcher.check(force=True)

    def stop_watcher(self) -> StopWatcher | None:
        """This trial's watcher of the tuner's stop requests (None outside a tuner); made
        once per trial in a process."""
        if self.control_dir is None:
            return None
        if self.control_dir not in _WATCHERS:
            _WATCHERS[self.control_dir] = StopWatcher(self.control_dir)
        return _WATCHERS[self.control_dir]


def trial_context() -> TrialContext:
    """The current trial's context, read from the environment now."""
    env = os.environ
    tf_config = _json_object(env.get("TF_CONFIG"), "TF_CONFIG")
    task = tf_config.get("task") if isinstance(tf_config.get("task"), dict) else {}
    job = tf_config.get("job") if isinstance(tf_config.get("job"), dict) else {}
    trial_id = env.get("CLOUD_ML_TRIAL_ID") or str(task.get("trial") or "")
    job_root = job.get("jobDir")
    if trial_id and isinstance(job_root, str) and job_root:
        job_dir: str | None = os.path.join(job_root, trial_id)
    else:
        job_dir = _job_dir_from_argv(sys.argv)
    return TrialContext(
        trial_id=trial_id,
        job_id=env.get("CLOUD_ML_JOB_ID", ""),
        metric_tag=env.get("CLOUD_ML_HP_METRIC_TAG") or DEFAULT_METRIC_TAG,
        job_dir=job_dir,
        hyperparameters=MappingProxyType(
            _json_object(env.get("TF_HPTUNE_PARAMS"), "TF_HPTUNE_PARAMS")
        ),
        control_dir=env.get("TF_HPTUNE_CONTROL_DIR") or None,
        goal=env.get("TF_HPTUNE_GOAL") or None,
        metric_file=str(metric_file_path()),
        in_tuning_job=bool(trial_id),
    )


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(key: str, message: str, *args: Any) -> None:
    """Log ``message`` the first time ``key`` is seen in this process."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message, *args)


def note_outside_tuning(what: str) -> None:
    """Say once per process that reporters do nothing because no tuner runs this trial."""
    warn_once("outside", "tf_hptune: not running as a trial of a tuning job (no "
              "CLOUD_ML_TRIAL_ID); %s and the other tf_hptune reporters do nothing", what)


def _json_object(text: str | None, name: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("tf_hptune: ignoring $%s, which is not JSON: %.200r", name, text)
        return {}
    return value if isinstance(value, dict) else {}


def _job_dir_from_argv(argv: list[str]) -> str | None:
    """The last ``--job-dir X`` / ``--job-dir=X`` (or ``--job_dir``) on the command line."""
    found = None
    for i, arg in enumerate(argv):
        if arg in _JOB_DIR_FLAGS and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(tuple(f + "=" for f in _JOB_DIR_FLAGS)):
            found = arg.split("=", 1)[1]
    return found


__all__ = ["TrialContext", "note_outside_tuning", "trial_context", "warn_once"]
