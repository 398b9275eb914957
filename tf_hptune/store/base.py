"""The store's interface and the frozen snapshots it returns.

The Tuner (or a ``Study`` given a store) is the only writer of a job. Readers (``jobs describe``,
``jobs list``) may read at any time.
"""
from __future__ import annotations

import abc
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tf_hptune.errors import JobNameError
from tf_hptune.names import MAX_JOB_NAME_LENGTH, is_job_name


class State(str, enum.Enum):
    """Job and trial states, spelled as the service spelled them."""

    QUEUED = "QUEUED"
    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in (State.SUCCEEDED, State.FAILED, State.CANCELLED)


def check_job_name(name: object) -> str:
    """Return ``name`` if it follows the service's rule, else raise ``JobNameError``."""
    if not is_job_name(name):
        raise JobNameError(
            f"job name {name!r} is invalid: use up to {MAX_JOB_NAME_LENGTH} letters, digits "
            "and underscores, starting with a letter"
        )
    return name  # type: ignore[return-value]


@dataclass(frozen=True)
class Measurement:
    """One reported value of the metric at a training step."""

    step: int
    value: float
    time: float = 0.0


@dataclass(frozen=True)
class TrialRecord:
    """A trial as stored. ``params`` holds typed values (int, float, str)."""

    job_name: str
    trial_id: str
    params: Mapping[str, Any]
    state: State
    create_time: float
    start_time: float | None = None
    end_time: float | None = None
    final_step: int | None = None
    final_value: float | None = None
    stopped_early: bool = False
    reason: str | None = None
    log_tail: str | None = None
    pid: int | None = None
    trial_dir: str | None = None
    measurements: tuple[Measurement, ...] = field(default=(), compare=False)

    @property
    def id(self) -> str:
        return self.trial_id

    @property
    def number(self) -> int:
        return int(self.trial_id)


@dataclass(frozen=True)
class JobRecord:
    """A job as stored. ``config`` is the validated config as a plain dict (JSON-able);
    ``launch`` holds how trials are started (module, package path, job dir, user args);
    ``info`` what the tuner learned about the job itself (e.g. the jobs it learned from)."""

    name: str
    state: State
    config: Mapping[str, Any]
    launch: Mapping[str, Any]
    create_time: float
    start_time: float | None = None
    end_time: float | None = None
    error_message: str | None = None
    tuner_pid: int | None = None
    tuner_host: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


class Store(abc.ABC):
    """Narrow interface over job state. Every method is atomic; snapshots are frozen."""

    @abc.abstractmethod
    def create_job(
        self, name: str, config: Mapping[str, Any], launch: Mapping[str, Any]
    ) -> JobRecord:
        """Record a new QUEUED job. Raises ``JobNameError`` or ``JobExistsError``."""

    @abc.abstractmethod
    def get_job(self, name: str) -> JobRecord:
        """Raises ``JobNotFoundError``."""

    @abc.abstractmethod
    def list_jobs(self) -> list[JobRecord]:
        """All jobs, oldest first."""

    @abc.abstractmethod
    def update_job(self, name: str, **fields: Any) -> JobRecord:
        """Set any of ``state``, ``start_time``, ``end_time``, ``error_message``,
        ``tuner_pid``, ``tuner_host``, ``config``, ``launch``, ``info``."""

    @abc.abstractmethod
    def create_trial(self, job_name: str, trial_id: str, params: Mapping[str, Any]) -> TrialRecord:
        """Record a new QUEUED trial. Raises ``StoreError`` if the id is taken."""

    @abc.abstractmethod
    def update_trial(self, job_name: str, trial_id: str, **fields: Any) -> TrialRecord:
        """Set any of ``state``, ``start_time``, ``end_time``, ``final_step``, ``final_value``,
        ``stopped_early``, ``reason``, ``log_tail``, ``pid``, ``trial_dir``."""

    @abc.abstractmethod
    def add_measurements(
        self, job_name: str, trial_id: str, measurements: Iterable[Measurement]
    ) -> int:
        """Upsert measurements keyed by (trial, step); return how many were new or changed."""

    @abc.abstractmethod
    def get_trial(self, job_name: str, trial_id: str) -> TrialRecord:
        """One trial with its measurements in step order."""

    @abc.abstractmethod
    def list_trials(self, job_name: str) -> list[TrialRecord]:
        """Every trial of the job, in id order, each with its measurements in step order."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
