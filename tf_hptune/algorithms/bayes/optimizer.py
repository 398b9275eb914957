"""Maximise an acquisition function over the feasible points of a mixed search space.

1. A pool: every feasible point of a small finite space, or else a scrambled Sobol sample
   plus perturbations of anchor points (the best trials so far) reflected at the unit
   bounds, all snapped to the space (integers, discrete values and categories) and filtered
   by the constraints. A batch draws one pool for all its members (``pool``), with the
   acquisition's values there.
2. Local search from the best pool points and the anchors: L-BFGS-B with exact gradients on
   the DOUBLE columns, then for each INTEGER / DISCRETE parameter a scan of near and evenly
   spread values and for each CATEGORICAL one every category; repeated while it improves
   (when there are such parameters). A caller may skip it (``local=False``).

Points in ``taken`` (keys of completed, running and already chosen points) are never
returned, so a batch has no duplicates; ``None`` means no admissible point was found.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
from scipy import optimize
from scipy.stats import qmc

from tf_hptune.space import SearchSpace
from tf_hptune.spec.model import ParamType

_SPREAD = 16  # evenly spaced values scanned for an ordered parameter with many values
_STEPS = np.array([1, 2, 4, 8, 16, 64])  # index offsets scanned around the current value
_SCALES = (0.02, 0.08, 0.25)  # perturbation sizes, in unit columns


class Acquisition(Protocol):
    def values(self, rows: np.ndarray) -> np.ndarray:
        """The acquisition at each row (higher is better)."""

    def value_grad(self, row: np.ndarray) -> tuple[float, np.ndarray]:
        """The acquisition at one row and its gradient in the row's columns."""


def row_keys(rows: np.ndarray) -> list[bytes]:
    """Hashable identities of snapped rows (insensitive to last-bit differences)."""
    return [r.tobytes() for r in np.round(rows, 9) + 0.0]


class AcquisitionOptimizer:
    """Searches one ``SearchSpace``; ``pool_size``, ``starts`` and ``rounds`` bound the work."""

    def __init__(
        self, space: SearchSpace, rng: np.random.Generator, *, pool_size: int = 1024,
        starts: int = 4, rounds: int = 3,
    ) -> None:
        self.space, self.rng = space, rng
        self.pool_size, self.starts, self.rounds = pool_size, starts, rounds
        dims = list(zip(space.dimensions, space.slices))
        self._continuous = np.array(
            [sl.start for d, sl in dims if d.type is ParamType.DOUBLE], dtype=int)
        self._discrete = [(d, sl) for d, sl in dims if d.type is not ParamType.DOUBLE]
        small = not len(self._continuous) and space.grid_size <= 4 * pool_size
        self._grid = (self._admissible(np.array([space.encode(p) for p in space.grid()])
                                       .reshape(-1, space.width), set()) if small else None)

    def maximize(
        self, acquisition: Acquisition, anchors: np.ndarray, taken: set[bytes],
        pool: tuple[np.ndarray, np.ndarray] | None = None, local: bool = True,
    ) -> np.ndarray | None:
        """The best admissible row found, or None when every candidate is taken. ``pool``:
        candidate rows (from ``pool``) and the acquisition's values there, when the caller
        has them; else a pool is drawn around ``anchors``. Without ``local``, the best
        candidate as it is (no local search)."""
        rows, values = pool if pool is not None else (self.pool(anchors), None)
        keep = [i for i, key in enumerate(row_keys(rows)) if key not in taken]
        if not keep:
            return None
        rows = rows[keep]
        values = acquisition.values(rows) if values is None else values[keep]
        if self._grid is not None or not local:  # (a grid pool is the whole space)
            return rows[int(np.argmax(values))]
        order = np.argsort(-values)[: self.starts]
        starts = np.vstack([rows[order], anchors[: max(1, self.starts // 2)]])
        best, best_value = rows[order[0]], values[order[0]]
        for start in starts:
            row, value = self._local_search(acquisition, start, taken)
            if value > best_value:
                best, best_value = row, value
        return best

    # -- candidates --------------------------------------------------------------------------
    def pool(self, anchors: np.ndarray) -> np.ndarray:
        """Feasible candidates without repeats: the whole space when it is small, else a
        scrambled Sobol sample and perturbations of the anchors."""
        if self._grid is not None:
            return self._grid
        seed = int(self.rng.integers(2**31))
        sobol = qmc.Sobol(self.space.width, scramble=True, seed=seed).random(self.pool_size)
        near = [self._perturb(anchors, scale) for scale in _SCALES]
        return self._admissible(self.space.snap(np.vstack([sobol, *near])), set())

    def _perturb(self, anchors: np.ndarray, scale: float, copies: int = 24) -> np.ndarray:
        rows = np.repeat(anchors, copies, axis=0)
        # reflected back into the unit cube: clipped (by ``snap``), half the perturbations of
        # an anchor on a bound would sit on that bound, and the search with them
        rows = 1.0 - np.abs(1.0 - np.abs(rows + scale * self.rng.standard_normal(rows.shape)))
        for dim, sl in self._discrete:
            if dim.type is ParamType.CATEGORICAL:  # resample the category now and then
                flip = self.rng.random(len(rows)) < min(1.0, 2 * scale)
                rows[flip, sl] = self.rng.random((int(flip.sum()), dim.width))
        return rows

    def _admissible(self, rows: np.ndarray, taken: set[bytes]) -> np.ndarray:
        """Feasible rows not in ``taken``, without repeats."""
        rows = rows[self.space.feasible_rows(rows)]
        keep, seen = [], set(taken)
        for i, key in enumerate(row_keys(rows)):
            if key not in seen:
                seen.add(key)
                keep.append(i)
        return rows[keep]

    # -- local search ------------------------------------------------------------------------
    def _local_search(
        self, acquisition: Acquisition, row: np.ndarray, taken: set[bytes]
    ) -> tuple[np.ndarray, float]:
        value = -np.inf
        # a second gradient ascent from the first's optimum finds nothing new: rounds matter
        # only when other parameters were scanned in between
        for _ in range(self.rounds if self._discrete else 1):
            moved = False
            for candidates in self._moves(acquisition, row):
                candidates = self._admissible(candidates, taken)
                if not len(candidates):
                    continue
                values = acquisition.values(candidates)
                i = int(np.argmax(values))
                if values[i] > value + 1e-9:
                    row, value, moved = candidates[i], float(values[i]), True
            if not moved:
                break
        return row, value

    def _moves(self, acquisition: Acquisition, row: np.ndarray) -> Iterable[np.ndarray]:
        """Candidate sets around ``row``: a gradient step on the DOUBLE columns, then a scan
        of each other parameter with the rest held."""
        if len(self._continuous):
            yield self._gradient_ascent(acquisition, row)[None, :]
        for dim, sl in self._discrete:
            if dim.type is ParamType.CATEGORICAL:
                options = np.eye(dim.width)
            else:
                count = int(dim.spec.cardinality)
                here = int(dim.unit_index(row[sl])[0])
                index = np.concatenate([here + _STEPS, here - _STEPS,
                                        np.linspace(0, count - 1, min(count, _SPREAD))])
                index = np.unique(np.clip(index.astype(np.int64), 0, count - 1))
                options = dim.index_units(index)[:, None]
            rows = np.repeat(row[None, :], len(options), axis=0)
            rows[:, sl] = options
            yield rows

    def _gradient_ascent(self, acquisition: Acquisition, row: np.ndarray) -> np.ndarray:
        cols, x = self._continuous, row.copy()

        def negative(z: np.ndarray) -> tuple[float, np.ndarray]:
            x[cols] = z
            value, grad = acquisition.value_grad(x)
            return -value, -grad[cols]

        result = optimize.minimize(negative, row[cols], jac=True, method="L-BFGS-B",
                                   bounds=[(0.0, 1.0)] * len(cols), options={"maxiter": 40})
        out = row.copy()
        out[cols] = np.clip(result.x, 0.0, 1.0)
        return out
