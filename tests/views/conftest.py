"""A stored job with a trial in each shape the views draw: completed, stopped early, failed,
cancelled before it started, still running."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import MIXED_PARAMS, make_spec
from tf_hptune.store import JobRecord, State, TrialRecord, open_store
from tf_hptune.study import Study

# trial id -> (its curve, how it ended); values are losses (the job minimises "loss")
CURVES: dict[str, tuple[list[tuple[int, float]], str]] = {
    "1": ([(100, 2.0), (200, 1.2), (300, 0.9), (400, 0.8)], "complete"),
    "2": ([(100, 1.5), (200, 0.7), (300, 0.5), (400, 0.42)], "complete"),
    "3": ([(100, 3.0), (200, 2.6)], "stopped"),
    "4": ([(100, 2.2)], "failed"),
    "5": ([(100, 1.1), (200, 0.6), (300, 0.45), (400, 0.35)], "complete"),
    "6": ([(100, 1.9), (200, 1.4)], "running"),
    "7": ([], "cancelled"),  # never started
}


@dataclass
class StoredJob:
    store_path: str
    name: str
    job_dir: Path
    job: JobRecord
    trials: list[TrialRecord]


def record_job(tmp_path: Path, name: str = "views_job", tag: str = "loss") -> StoredJob:
    """Record the job of ``CURVES``, optimising ``tag``, in a real SQLite store under
    ``tmp_path``."""
    spec = make_spec(MIXED_PARAMS, goal="MINIMIZE", hyperparameterMetricTag=tag,
                     maxTrials=len(CURVES), maxParallelTrials=len(CURVES),
                     enableTrialEarlyStopping=True)
    store_path = str(tmp_path / "store.db")
    job_dir = tmp_path / name
    study = Study.create(spec, store=store_path, name=name, seed=0)
    study.suggest(len(CURVES))
    for tid, (curve, end) in CURVES.items():
        if end == "cancelled":
            study.fail(tid, "cancelled by the user", state=State.CANCELLED)
            continue
        study.start(tid, trial_dir=str(job_dir / tid))
        for step, value in curve:
            study.report(tid, step, value)
        if end == "complete":
            study.complete(tid)
        elif end == "stopped":
            study.complete(tid, stopped_early=True, reason="unlikely to beat the best")
        elif end == "failed":
            study.fail(tid, "exited with code 1")
    study.store.close()
    with open_store(store_path) as store:
        return StoredJob(store_path, name, job_dir, store.get_job(name), store.list_trials(name))


@pytest.fixture
def stored_job(tmp_path: Path) -> StoredJob:
    return record_job(tmp_path)
