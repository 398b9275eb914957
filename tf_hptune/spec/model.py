"""The tuning config as frozen dataclasses; enum values keep the service's spellings."""
from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tf_hptune.names import DEFAULT_METRIC_TAG


class Goal(str, enum.Enum):
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @property
    def sign(self) -> float:
        """1 when smaller is better, -1 when larger is: ``sign * value`` is a loss."""
        return 1.0 if self is Goal.MINIMIZE else -1.0

    def loss(self, value: float) -> float:
        """``value`` as a quantity to minimise."""
        return self.sign * value


class ParamType(str, enum.Enum):
    DOUBLE = "DOUBLE"
    INTEGER = "INTEGER"
    CATEGORICAL = "CATEGORICAL"
    DISCRETE = "DISCRETE"


class ScaleType(str, enum.Enum):
    UNIT_LINEAR_SCALE = "UNIT_LINEAR_SCALE"
    UNIT_LOG_SCALE = "UNIT_LOG_SCALE"
    UNIT_REVERSE_LOG_SCALE = "UNIT_REVERSE_LOG_SCALE"


class Algorithm(str, enum.Enum):
    ALGORITHM_UNSPECIFIED = "ALGORITHM_UNSPECIFIED"
    GRID_SEARCH = "GRID_SEARCH"
    RANDOM_SEARCH = "RANDOM_SEARCH"


@dataclass(frozen=True)
class ParameterSpec:
    """One entry of ``params``. Bounds are set for DOUBLE/INTEGER, values for the others."""

    name: str
    type: ParamType
    min_value: float | None = None
    max_value: float | None = None
    categorical_values: tuple[str, ...] = ()
    discrete_values: tuple[float, ...] = ()
    scale_type: ScaleType | None = None

    @property
    def cardinality(self) -> float:
        """Number of values it can take (``inf`` for DOUBLE)."""
        if self.type is ParamType.DOUBLE:
            return math.inf
        if self.type is ParamType.INTEGER:
            return int(self.max_value) - int(self.min_value) + 1  # type: ignore[arg-type]
        return len(self.categorical_values or self.discrete_values)


@dataclass(frozen=True)
class StudySpec:
    """``trainingInput.hyperparameters`` after validation.

    ``training_input`` keeps the whole ``trainingInput`` mapping (for ``TF_CONFIG["job"]``);
    ``ignored_keys`` lists the ``trainingInput`` keys that mean nothing locally.
    ``constraints`` are expressions between parameters (``nnsize % nheads == 0``), checked by
    the loader; ``SearchSpace`` compiles and enforces them. ``enable_transfer_learning`` (on by
    default, beyond the service's config) lets the job learn from similarly named earlier
    jobs. ``early_stopping_rule`` (beyond the service) names the rule in
    ``tf_hptune.stopping.STOPPERS``; None is the default rule.
    """

    params: tuple[ParameterSpec, ...]
    goal: Goal = Goal.MAXIMIZE
    metric_tag: str = DEFAULT_METRIC_TAG
    max_trials: int = 1
    max_parallel_trials: int = 1
    max_failed_trials: int = 0
    enable_early_stopping: bool = False
    early_stopping_rule: str | None = None
    enable_transfer_learning: bool = True
    algorithm: Algorithm = Algorithm.ALGORITHM_UNSPECIFIED
    resume_previous_job_id: str | None = None
    constraints: tuple[str, ...] = ()
    training_input: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    ignored_keys: tuple[str, ...] = ()

    def param(self, name: str) -> ParameterSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)
