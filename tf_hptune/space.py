"""The search space: each parameter's transform to and from the unit interval.

Algorithms work on arrays in [0, 1]; the space turns them back into typed, feasible values.
DOUBLE, INTEGER and DISCRETE parameters take one column (scaled linearly, by log, or by reverse
log); a CATEGORICAL parameter takes one column per category (one-hot, decoded by argmax).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tf_hptune.spec.model import ParameterSpec, ParamType, ScaleType, StudySpec

Value = Any  # int | float | str


def format_value(value: Value) -> str:
    """Format a typed value as the service passed it on the command line."""
    if isinstance(value, bool):
        raise TypeError(f"a parameter value cannot be a bool: {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.17g}"
    return str(value)


class _Scale:
    """Maps a positive-or-any interval [lo, hi] onto [0, 1] by the parameter's scale type."""

    def __init__(self, lo: float, hi: float, scale: ScaleType | None) -> None:
        self.lo, self.hi, self.scale = lo, hi, scale or ScaleType.UNIT_LINEAR_SCALE
        if self.scale is not ScaleType.UNIT_LINEAR_SCALE and lo <= 0:
            raise ValueError(f"log scales need a positive lower bound, got {lo!r}")

    def to_unit(self, x: float) -> float:
        lo, hi = self.lo, self.hi
        if hi == lo:
            return 0.5
        if self.scale is ScaleType.UNIT_LINEAR_SCALE:
            u = (x - lo) / (hi - lo)
        elif self.scale is ScaleType.UNIT_LOG_SCALE:
            u = (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        else:  # reverse log: mirror of the log scale, so values near hi spread out
            u = 1.0 - (math.log(hi + lo - x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return min(1.0, max(0.0, u))

    def from_unit(self, u: float) -> float:
        lo, hi = self.lo, self.hi
        u = min(1.0, max(0.0, float(u)))
        if self.scale is ScaleType.UNIT_LINEAR_SCALE:
            x = lo + u * (hi - lo)
        elif self.scale is ScaleType.UNIT_LOG_SCALE:
            x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        else:
            x = hi + lo - math.exp(math.log(lo) + (1.0 - u) * (math.log(hi) - math.log(lo)))
        return min(hi, max(lo, x))


@dataclass(frozen=True)
class Dimension:
    """One parameter's encoding. ``width`` columns of the unit array belong to it."""

    spec: ParameterSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> ParamType:
        return self.spec.type

    @property
    def width(self) -> int:
        return len(self.spec.categorical_values) if self.type is ParamType.CATEGORICAL else 1

    @property
    def _scale(self) -> _Scale:
        s = self.spec
        if s.type is ParamType.INTEGER:
            # Each integer owns an equal cell of the (scaled) interval.
            # Log scales need min >= 1 (the loader checks), so min - 0.5 stays positive.
            lo, hi = float(s.min_value) - 0.5, float(s.max_value) + 0.5  # type: ignore[arg-type]
            return _Scale(lo, hi, s.scale_type)
        if s.type is ParamType.DISCRETE:
            return _Scale(s.discrete_values[0], s.discrete_values[-1], s.scale_type)
        return _Scale(float(s.min_value), float(s.max_value), s.scale_type)  # type: ignore[arg-type]

    @property
    def cardinality(self) -> float:
        """Number of feasible values (``inf`` for DOUBLE)."""
        s = self.spec
        if s.type is ParamType.DOUBLE:
            return math.inf
        if s.type is ParamType.INTEGER:
            return int(s.max_value) - int(s.min_value) + 1  # type: ignore[arg-type]
        if s.type is ParamType.DISCRETE:
            return len(s.discrete_values)
        return len(s.categorical_values)

    def values(self) -> list[Value]:
        """Every feasible value, in order (not for DOUBLE)."""
        s = self.spec
        if s.type is ParamType.INTEGER:
            return list(range(int(s.min_value), int(s.max_value) + 1))  # type: ignore[arg-type]
        if s.type is ParamType.DISCRETE:
            return [self._discrete(v) for v in s.discrete_values]
        if s.type is ParamType.CATEGORICAL:
            return list(s.categorical_values)
        raise ValueError(f"parameter {s.name!r} is DOUBLE: it has no finite set of values")

    def _discrete(self, v: float) -> Value:
        whole = all(float(x).is_integer() for x in self.spec.discrete_values)
        return int(v) if whole else float(v)

    def encode(self, value: Value) -> np.ndarray:
        """Typed value -> ``width`` unit columns."""
        s = self.spec
        if s.type is ParamType.CATEGORICAL:
            out = np.zeros(self.width)
            out[s.categorical_values.index(str(value))] = 1.0
            return out
        return np.array([self._scale.to_unit(float(value))])

    def decode(self, cols: Sequence[float] | np.ndarray) -> Value:
        """``width`` unit columns -> the nearest feasible typed value."""
        s = self.spec
        if s.type is ParamType.CATEGORICAL:
            return s.categorical_values[int(np.argmax(np.asarray(cols)))]
        u = float(cols[0])
        if s.type is ParamType.DISCRETE:
            units = np.array([self._scale.to_unit(v) for v in s.discrete_values])
            return self._discrete(s.discrete_values[int(np.argmin(np.abs(units - u)))])
        x = self._scale.from_unit(u)
        if s.type is ParamType.INTEGER:
            return int(min(s.max_value, max(s.min_value, round(x))))  # type: ignore[type-var]
        return float(x)

    def sample_unit(self, rng: np.random.Generator) -> np.ndarray:
        """A random point of this dimension in unit space: uniform on the scale for ranges,
        uniform over the values for DISCRETE and CATEGORICAL."""
        s = self.spec
        if s.type is ParamType.CATEGORICAL:
            return self.encode(s.categorical_values[rng.integers(self.width)])
        if s.type is ParamType.DISCRETE:
            return self.encode(s.discrete_values[rng.integers(len(s.discrete_values))])
        return np.array([rng.random()])


class SearchSpace:
    """All of a study's parameters, in spec order."""

    def __init__(self, params: Sequence[ParameterSpec]) -> None:
        self.dimensions = tuple(Dimension(p) for p in params)
        self._slices: list[slice] = []
        start = 0
        for d in self.dimensions:
            self._slices.append(slice(start, start + d.width))
            start += d.width
        self.width = start

    @classmethod
    def from_spec(cls, spec: StudySpec) -> "SearchSpace":
        return cls(spec.params)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def encode(self, params: Mapping[str, Value]) -> np.ndarray:
        """Typed params -> a unit vector of length ``width``."""
        return np.concatenate([d.encode(params[d.name]) for d in self.dimensions])

    def decode(self, x: Sequence[float] | np.ndarray) -> dict[str, Value]:
        """A unit vector -> typed, feasible params."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.width,):
            raise ValueError(f"expected a vector of length {self.width}, got shape {x.shape}")
        return {d.name: d.decode(x[sl]) for d, sl in zip(self.dimensions, self._slices)}

    def round(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """Snap a unit vector to the encoding of its nearest feasible point."""
        return self.encode(self.decode(x))

    def sample(self, rng: np.random.Generator) -> dict[str, Value]:
        return self.decode(np.concatenate([d.sample_unit(rng) for d in self.dimensions]))

    def key(self, params: Mapping[str, Value]) -> tuple[str, ...]:
        """A hashable identity of a point (as the trainer would see it)."""
        return tuple(format_value(params[d.name]) for d in self.dimensions)

    @property
    def grid_size(self) -> float:
        return math.prod(d.cardinality for d in self.dimensions)

    def grid(self) -> Iterator[dict[str, Value]]:
        """Every point of a space with no DOUBLE parameter, first parameter slowest."""
        names = self.names
        for combo in itertools.product(*(d.values() for d in self.dimensions)):
            yield dict(zip(names, combo))

    def to_args(self, params: Mapping[str, Value]) -> list[str]:
        """``--name value`` argv items, in spec order."""
        out: list[str] = []
        for d in self.dimensions:
            out += [f"--{d.name}", format_value(params[d.name])]
        return out
