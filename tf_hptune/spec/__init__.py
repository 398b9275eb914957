"""The tuning config: load, validate, and the frozen model it becomes."""
from __future__ import annotations

from tf_hptune.spec.loader import load_spec, spec_to_dict
from tf_hptune.spec.model import (
    DEFAULT_METRIC_TAG,
    Algorithm,
    Goal,
    ParameterSpec,
    ParamType,
    ScaleType,
    StudySpec,
)

__all__ = [
    "DEFAULT_METRIC_TAG",
    "Algorithm",
    "Goal",
    "ParamType",
    "ParameterSpec",
    "ScaleType",
    "StudySpec",
    "load_spec",
    "spec_to_dict",
]
