"""Job state: one SQLite file per user by default, the Tuner its only writer."""
from __future__ import annotations

from tf_hptune.store.base import (
    JobRecord,
    Measurement,
    State,
    Store,
    TrialRecord,
    check_job_name,
    default_store_path,
    open_store,
    same_value,
)
from tf_hptune.store.sqlite import SqliteStore

__all__ = [
    "JobRecord",
    "Measurement",
    "SqliteStore",
    "State",
    "Store",
    "TrialRecord",
    "check_job_name",
    "default_store_path",
    "open_store",
    "same_value",
]
