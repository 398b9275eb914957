"""The search space: each parameter's transform to and from the unit interval.

Algorithms work on arrays in [0, 1]; the space turns them back into typed, feasible values.
DOUBLE, INTEGER and DISCRETE parameters take one column (scaled linearly, by log, or by reverse
log); a CATEGORICAL parameter takes one column per category (one-hot, decoded by argmax).
Constraints between parameters (``spec.constraints``) are enforced here and nowhere else:
``sample`` and ``grid`` yield only feasible points, and ``feasible_rows`` filters many at once.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tf_hptune.errors import SpecError, TfHptuneError
from tf_hptune.spec.constraints import Constraint, parse_constraint
from tf_hptune.spec.model import ParameterSpec, ParamType, ScaleType, StudySpec

Value = Any  # int | float | str
Floats = Any  # a float or an array of floats

MAX_REJECTION_DRAWS = 100_000  # random draws before concluding that constraints exclude all
MAX_ENUMERATED = 1_000_000  # grid points enumerated when random draws find no feasible one


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
    """Maps a positive-or-any interval [lo, hi] onto [0, 1] by the parameter's scale type.
    Works elementwise on floats and numpy arrays alike."""

    def __init__(self, lo: float, hi: float, scale: ScaleType | None) -> None:
        self.lo, self.hi, self.scale = lo, hi, scale or ScaleType.UNIT_LINEAR_SCALE
        if self.scale is not ScaleType.UNIT_LINEAR_SCALE and lo <= 0:
            raise ValueError(f"log scales need a positive lower bound, got {lo!r}")

    def to_unit(self, x: Floats, clip: bool = True) -> Floats:
        """Unit position of ``x``; unclipped, a value outside [lo, hi] lies outside [0, 1]
        (NaN where the scale cannot place it)."""
        lo, hi = self.lo, self.hi
        if hi == lo:
            return np.full_like(np.asarray(x, dtype=float), 0.5)[()]
        if self.scale is ScaleType.UNIT_LINEAR_SCALE:
            u = (x - lo) / (hi - lo)
        elif self.scale is ScaleType.UNIT_LOG_SCALE:
            with np.errstate(invalid="ignore", divide="ignore"):
                u = (np.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        else:  # reverse log: mirror of the log scale, so values near hi spread out
            with np.errstate(invalid="ignore", divide="ignore"):
                u = 1.0 - (np.log(hi + lo - x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return np.clip(u, 0.0, 1.0) if clip else u

    def from_unit(self, u: Floats) -> Floats:
        lo, hi = self.lo, self.hi
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        if self.scale is ScaleType.UNIT_LINEAR_SCALE:
            x = lo + u * (hi - lo)
        elif self.scale is ScaleType.UNIT_LOG_SCALE:
            x = np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        else:
            x = hi + lo - np.exp(math.log(lo) + (1.0 - u) * (math.log(hi) - math.log(lo)))
        return np.clip(x, lo, hi)[()]


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

    def encode_many(self, values: Sequence[Value]) -> np.ndarray:
        """``encode`` for many values at once: (len(values), width)."""
        s = self.spec
        if s.type is ParamType.CATEGORICAL:
            index = {c: i for i, c in enumerate(s.categorical_values)}
            return np.eye(self.width)[[index[str(v)] for v in values]].reshape(-1, self.width)
        units = self._scale.to_unit(np.asarray([float(v) for v in values], dtype=float))
        return np.asarray(units, dtype=float).reshape(-1, 1)

    def position(self, value: Value) -> np.ndarray:
        """Like ``encode``, for a value from another job's range: a number outside this range
        lies outside [0, 1] on the same scale. ValueError for a category this one lacks."""
        if self.type is ParamType.CATEGORICAL:
            return self.encode(value)
        if isinstance(value, bool):
            raise ValueError(f"{self.name}: not a number: {value!r}")
        return np.array([self._scale.to_unit(float(value), clip=False)])  # type: ignore[arg-type]

    def decode(self, cols: Sequence[float] | np.ndarray) -> Value:
        """``width`` unit columns -> the nearest feasible typed value."""
        value = self.column(np.asarray(cols, dtype=float).reshape(1, self.width))[0]
        if self.type is ParamType.CATEGORICAL:
            return str(value)
        if self.type is ParamType.INTEGER:
            return int(value)
        return self._discrete(value) if self.type is ParamType.DISCRETE else float(value)

    @property
    def _units(self) -> np.ndarray:
        """The unit positions of a DISCRETE parameter's values, increasing."""
        return np.asarray(self._scale.to_unit(np.asarray(self.spec.discrete_values)))

    def _nearest(self, u: np.ndarray) -> np.ndarray:
        """Index of the DISCRETE value nearest to each unit position (the lower one on ties)."""
        units = self._units
        upper = np.clip(np.searchsorted(units, u), 1, len(units) - 1) if len(units) > 1 else 0
        lower = np.maximum(upper - 1, 0)
        return np.where(np.abs(u - units[lower]) <= np.abs(units[upper] - u), lower, upper)

    def index_units(self, index: np.ndarray) -> np.ndarray:
        """Unit positions of the ordered values at ``index`` (INTEGER and DISCRETE)."""
        if self.type is ParamType.DISCRETE:
            return self._units[index]
        low = float(self.spec.min_value)  # type: ignore[arg-type]
        return np.asarray(self._scale.to_unit(low + np.asarray(index, dtype=float)))

    def unit_index(self, u: np.ndarray) -> np.ndarray:
        """Index of the ordered value nearest to each unit position (INTEGER and DISCRETE)."""
        if self.type is ParamType.DISCRETE:
            return self._nearest(u)
        low = float(self.spec.min_value)  # type: ignore[arg-type]
        return (self.column(np.asarray(u, dtype=float)[:, None]) - low).astype(np.int64)

    def column(self, cols: np.ndarray) -> np.ndarray:
        """Rows of ``width`` unit columns -> their nearest feasible values, as one array:
        floats for numeric parameters (whole for INTEGER), objects (str) for CATEGORICAL."""
        s = self.spec
        if s.type is ParamType.CATEGORICAL:
            return np.asarray(s.categorical_values, dtype=object)[np.argmax(cols, axis=1)]
        u = cols[:, 0]
        if s.type is ParamType.DISCRETE:
            return np.asarray(s.discrete_values, dtype=float)[self._nearest(u)]
        x = np.asarray(self._scale.from_unit(u), dtype=float)
        if s.type is ParamType.INTEGER:
            return np.clip(np.rint(x), s.min_value, s.max_value)
        return x

    def snap(self, cols: np.ndarray) -> np.ndarray:
        """Rows of unit columns -> the encodings of their nearest feasible values."""
        s = self.spec
        if s.type is ParamType.CATEGORICAL:
            return np.eye(self.width)[np.argmax(cols, axis=1)]
        if s.type is ParamType.DISCRETE:
            return self._units[self._nearest(cols[:, 0])][:, None]
        if s.type is ParamType.INTEGER:
            return np.asarray(self._scale.to_unit(self.column(cols)))[:, None]
        return np.clip(cols, 0.0, 1.0)

    def sample_units(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` random rows of this dimension's (snapped) unit columns: uniform on the
        scale for ranges, uniform over the values for DISCRETE and CATEGORICAL."""
        s = self.spec
        if s.type is ParamType.CATEGORICAL:
            return np.eye(self.width)[rng.integers(self.width, size=count)]
        if s.type is ParamType.DISCRETE:
            return self._units[rng.integers(len(s.discrete_values), size=count)][:, None]
        return self.snap(rng.random((count, 1)))


class SearchSpace:
    """All of a study's parameters, in spec order, and the constraints between them.

    ``constraints`` are expressions over the parameters (see ``tf_hptune.spec.constraints``);
    a point is feasible when it satisfies all of them.
    """

    def __init__(
        self, params: Sequence[ParameterSpec], constraints: Sequence[str] = ()
    ) -> None:
        self.dimensions = tuple(Dimension(p) for p in params)
        self.constraints: tuple[Constraint, ...] = tuple(
            parse_constraint(text, params, f"constraints[{i}]")
            for i, text in enumerate(constraints)
        )
        self._feasible_grid: list[dict[str, Value]] | None = None
        self._slices: list[slice] = []
        start = 0
        for d in self.dimensions:
            self._slices.append(slice(start, start + d.width))
            start += d.width
        self.width = start

    @classmethod
    def from_spec(cls, spec: StudySpec) -> "SearchSpace":
        """The spec's space; ``SpecError`` (at ``hyperparameters.constraints``) when no point
        satisfies its constraints."""
        space = cls(spec.params, spec.constraints)
        if space.constraints:
            try:
                space.sample(np.random.default_rng(0))
            except TfHptuneError as exc:
                raise SpecError("hyperparameters.constraints", list(spec.constraints),
                                str(exc)) from None
        return space

    @property
    def slices(self) -> tuple[slice, ...]:
        """The columns of each dimension, in order."""
        return tuple(self._slices)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def encode(self, params: Mapping[str, Value]) -> np.ndarray:
        """Typed params -> a unit vector of length ``width``."""
        return np.concatenate([d.encode(params[d.name]) for d in self.dimensions])

    def encode_rows(self, points: Sequence[Mapping[str, Value]]) -> np.ndarray:
        """``encode`` for many points at once: (len(points), width); a designer encodes every
        trial at each suggestion, 10,000 of them one by one took 3 s."""
        out = np.zeros((len(points), self.width))
        for d, sl in zip(self.dimensions, self._slices):
            out[:, sl] = d.encode_many([p[d.name] for p in points])
        return out

    def decode(self, x: Sequence[float] | np.ndarray) -> dict[str, Value]:
        """A unit vector -> typed, feasible params."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.width,):
            raise ValueError(f"expected a vector of length {self.width}, got shape {x.shape}")
        return {d.name: d.decode(x[sl]) for d, sl in zip(self.dimensions, self._slices)}

    def round(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """Snap a unit vector to the encoding of its nearest feasible point."""
        return self.encode(self.decode(x))

    def snap(self, rows: np.ndarray) -> np.ndarray:
        """``round`` for many rows at once: (m, width) -> (m, width)."""
        return np.hstack([d.snap(rows[:, sl]) for d, sl in zip(self.dimensions, self._slices)])

    def sample_rows(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` random snapped rows, feasible or not (see ``feasible_rows``)."""
        return np.hstack([d.sample_units(rng, count) for d in self.dimensions])

    def feasible(self, params: Mapping[str, Value]) -> bool:
        """Whether a typed point satisfies every constraint."""
        return bool(self._satisfies(params, 1)[0])

    def feasible_rows(self, rows: np.ndarray) -> np.ndarray:
        """Feasibility of each unit row (decoded to its nearest values): a bool array (m,)."""
        if not self.constraints:
            return np.ones(len(rows), dtype=bool)
        columns = {d.name: d.column(rows[:, sl]) for d, sl in zip(self.dimensions, self._slices)}
        return self._satisfies(columns, len(rows))

    def _satisfies(self, columns: Mapping[str, Any], count: int) -> np.ndarray:
        """Whether each of ``count`` points, given as value columns, satisfies every constraint."""
        ok = np.ones(count, dtype=bool)
        for constraint in self.constraints:
            ok &= np.broadcast_to(constraint(columns), ok.shape)
        return ok

    def sample(self, rng: np.random.Generator) -> dict[str, Value]:
        """A random feasible point: uniform on each parameter's scale, then rejection of
        infeasible points. Raises ``TfHptuneError`` when no feasible point can be found."""
        draws, count = 0, 1
        while draws < MAX_REJECTION_DRAWS:
            rows = self.sample_rows(rng, count)
            ok = self.feasible_rows(rows)
            if ok.any():
                return self.decode(rows[int(np.argmax(ok))])
            draws, count = draws + count, min(4 * count, 4096)
        grid = self._enumerate_feasible()
        return grid[int(rng.integers(len(grid)))]

    def _enumerate_feasible(self) -> list[dict[str, Value]]:
        """Every feasible point of a small finite space (for very selective constraints)."""
        if self._feasible_grid is None:
            finite = all(d.type is not ParamType.DOUBLE for d in self.dimensions)
            if not finite or self.grid_size > MAX_ENUMERATED:
                raise TfHptuneError(
                    f"no point satisfying the constraints {self._shown_constraints()} was found "
                    f"in {MAX_REJECTION_DRAWS:,} random draws")
            self._feasible_grid = list(self.grid())
            if not self._feasible_grid:
                raise TfHptuneError(
                    f"no point of the search space satisfies the constraints "
                    f"{self._shown_constraints()} (all {self.grid_size:,} points checked)")
        return self._feasible_grid

    def _shown_constraints(self) -> str:
        return " and ".join(repr(c.text) for c in self.constraints)

    def key(self, params: Mapping[str, Value]) -> tuple[str, ...]:
        """A hashable identity of a point (as the trainer would see it)."""
        return tuple(format_value(params[d.name]) for d in self.dimensions)

    @property
    def grid_size(self) -> float:
        return math.prod(d.spec.cardinality for d in self.dimensions)

    def grid(self) -> Iterator[dict[str, Value]]:
        """Every feasible point of a space with no DOUBLE parameter, first parameter slowest."""
        names = self.names
        combos = itertools.product(*(d.values() for d in self.dimensions))
        while chunk := list(itertools.islice(combos, 4096)):
            columns = dict(zip(names, (np.asarray(c, dtype=object) for c in zip(*chunk))))
            ok = self._satisfies(columns, len(chunk))
            for combo, feasible in zip(chunk, ok):
                if feasible:
                    yield dict(zip(names, combo))
