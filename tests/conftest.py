"""Shared fixtures: specs built from the service's YAML, and the fake trainer's location."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.trial import Trial

ROOT = Path(__file__).resolve().parent.parent
FAKE_PACKAGE = Path(__file__).resolve().parent / "fixtures" / "fake" / "trainer"


def make_spec(params: list[dict[str, Any]], **hp: Any) -> StudySpec:
    """A spec from a bare ``hyperparameters`` mapping."""
    return load_spec({"hyperparameters": {"params": params, **hp}})


MIXED_PARAMS = [
    {"parameterName": "nembeds", "type": "INTEGER", "minValue": 3, "maxValue": 30,
     "scaleType": "UNIT_LINEAR_SCALE"},
    {"parameterName": "nnsize", "type": "DISCRETE", "discreteValues": [4, 16, 32, 64, 128]},
    {"parameterName": "learning-rate", "type": "DOUBLE", "minValue": 1e-4, "maxValue": 0.1,
     "scaleType": "UNIT_LOG_SCALE"},
    {"parameterName": "momentum", "type": "DOUBLE", "minValue": 0.5, "maxValue": 0.999,
     "scaleType": "UNIT_REVERSE_LOG_SCALE"},
    {"parameterName": "optimizer", "type": "CATEGORICAL",
     "categoricalValues": ["adam", "sgd", "256 128 64"]},
]


@pytest.fixture
def mixed_spec() -> StudySpec:
    return make_spec(MIXED_PARAMS, goal="MINIMIZE", hyperparameterMetricTag="loss",
                     maxTrials=6, maxParallelTrials=2)


def curve_trial(trial_id: str, points: tuple[tuple[int, float], ...], completed: bool = False,
                stopped_early: bool = False) -> Trial:
    """A trial given by its curve; a completed one's final value is its last point's."""
    value = points[-1][1] if completed and points else None
    return Trial(trial_id, measurements=tuple(points), value=value, stopped_early=stopped_early)
