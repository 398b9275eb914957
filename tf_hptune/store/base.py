"""The store's interface and the frozen snapshots it returns.

The Tuner (or a ``Study`` given a store) is the only writer of a job. Readers (``jobs describe``,
``jobs list``) may read at any time.
"""
from __future__ import annotations

import abc
import enum
import json
import math
import os
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tf_hptune.errors import JobNameError
from tf_hptune.names import MAX_JOB_NAME_LENGTH, is_job_name

HOME_ENV = "TF_HPTUNE_HOME"
STORE_FILENAME = "store.db"
JOB_FIELDS = frozenset(
    {"state", "start_time", "end_time", "error_message", "tuner_pid", "tuner_host", "config",
     "launch", "info"}
)
TRIAL_FIELDS = frozenset(
    {"state", "start_time", "end_time", "final_step", "final_value", "stopped_early", "reason",
     "log_tail", "pid", "trial_dir"}
)
_TRIAL_ID_RE = re.compile(r"^(0|[1-9][0-9]*)$")


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
    ) -> tuple[Measurement, ...]:
        """Upsert measurements keyed by (trial, step) (a later one of the same step wins);
        return those that were new or changed, in step order, as stored."""

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


# --- validation shared by every backend -----------------------------------------------------
# Each backend calls these before it writes, so that a bad value never reaches a stored job and
# every backend refuses the same values with the same message.

def default_store_path() -> pathlib.Path:
    """``$TF_HPTUNE_HOME/store.db`` if the variable is set, else ``~/.tf_hptune/store.db``."""
    home = os.environ.get(HOME_ENV)
    if home:
        return pathlib.Path(home).expanduser() / STORE_FILENAME
    return pathlib.Path.home() / ".tf_hptune" / STORE_FILENAME


BACKENDS: dict[str, Callable[..., Store]] = {}
"""Store classes by name, each called as ``(path, readonly=False)``; ``open_store`` uses
``"sqlite"`` (the only one so far)."""


def open_store(path: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> Store:
    """Open (creating if needed) the store at ``path``, or at ``default_store_path()``;
    ``":memory:"`` is a store private to the returned object. ``readonly``: open an existing
    store for reading only (a store on a read-only mount works); a missing one is a
    ``StoreError`` and nothing is created."""
    return BACKENDS["sqlite"](default_store_path() if path is None else path, readonly=readonly)


def same_value(a: float, b: float) -> bool:
    """Whether a measurement's value is unchanged (NaN stays NaN)."""
    return a == b or (math.isnan(a) and math.isnan(b))


def check_trial_id(trial_id: object) -> str:
    """Trial ids are decimal strings ("1", "2", ...); ints are accepted and converted."""
    if isinstance(trial_id, int) and not isinstance(trial_id, bool) and trial_id >= 0:
        return str(trial_id)
    if isinstance(trial_id, str) and _TRIAL_ID_RE.match(trial_id):
        return trial_id
    raise ValueError(f"trial id {trial_id!r} is invalid: use a decimal string like '1'")


def _json_default(obj: object) -> Any:
    """Let numpy scalars (and anything else with ``.item()``) through as Python values."""
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def to_json(what: str, value: Mapping[str, Any]) -> str:
    """A mapping field as JSON text; anything else is a ``TypeError`` naming the field."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping, got {type(value).__name__}")
    try:
        return json.dumps(dict(value), default=_json_default)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what} cannot be stored as JSON: {e}") from None


def _state(value: object, what: str) -> State:
    try:
        return State(value)
    except ValueError:
        allowed = ", ".join(s.value for s in State)
        raise ValueError(f"{what}: invalid state {value!r} (use one of {allowed})") from None


def _opt(value: object, kind: type, what: str) -> Any:
    """``None`` or ``kind(value)``; a bad value raises naming the field."""
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise TypeError(f"{what} must be {kind.__name__} or None, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be {kind.__name__} or None, got {value!r}") from None


def _fields(fields: Mapping[str, Any], allowed: frozenset[str], what: str,
            kinds: Mapping[str, type]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in allowed:
            raise TypeError(f"{what}: unknown field {key!r} (allowed: "
                            f"{', '.join(sorted(allowed))})")
        label = f"{what} {key}"
        kind = kinds.get(key, str)
        if key == "state":
            out[key] = _state(value, f"{what} state")
        elif kind is dict:
            out[key] = to_json(key, value)
        elif kind is bool:
            out[key] = bool(value)
        else:
            out[key] = _opt(value, kind, label)
    return out


def check_job_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``update_job``'s fields, checked and typed: ``state`` a ``State``, times floats, the
    mappings (``config``, ``launch``, ``info``) as JSON text."""
    return _fields(fields, JOB_FIELDS, "update_job", {
        "start_time": float, "end_time": float, "tuner_pid": int, "config": dict,
        "launch": dict, "info": dict})


def check_trial_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``update_trial``'s fields, checked and typed (``final_value`` may be NaN or
    infinite)."""
    return _fields(fields, TRIAL_FIELDS, "update_trial", {
        "start_time": float, "end_time": float, "final_step": int, "pid": int,
        "final_value": float, "stopped_early": bool})


MIN_STEP, MAX_STEP = -(2**63), 2**63 - 1  # SQLite's INTEGER


def check_measurements(measurements: Iterable[Measurement]) -> dict[int, Measurement]:
    """Measurements by step, typed; a later one of the same step wins. A step that is not an
    integer in the signed 64-bit range, or a value that is not a number (a bool), is refused
    with ``ValueError`` / ``TypeError`` before anything is written."""
    out: dict[int, Measurement] = {}
    for m in measurements:
        if isinstance(m.step, bool) or isinstance(m.value, bool):
            raise TypeError(f"measurement (step {m.step!r}, value {m.value!r}): step must be an "
                            "int and value a number")
        try:
            step = int(m.step)
        except (OverflowError, ValueError):
            raise ValueError(f"measurement step {m.step!r} is not an integer") from None
        if not MIN_STEP <= step <= MAX_STEP:
            raise ValueError(f"measurement step {step} is beyond the signed 64-bit integers "
                             "the store keeps")
        out[step] = Measurement(step, float(m.value), float(m.time))
    return dict(sorted(out.items()))
