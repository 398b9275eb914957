"""RANDOM_SEARCH: independent draws, uniform on each parameter's scale."""
from __future__ import annotations

from typing import Any

import numpy as np

from tf_hptune.algorithms.base import Designer

MAX_REDRAWS = 64  # draws of one point that may land on tried points before the grid is searched
MAX_ENUMERATED = 100_000  # a finite space up to this size is searched for an untried point


class RandomDesigner(Designer):
    """Draws each point independently, among the feasible ones when the spec has constraints
    (``SearchSpace.sample`` rejects the others). A draw that lands on a point already tried
    (completed, running, or earlier in the batch) is drawn again, so a small space is not
    repeated while unexplored points remain: after ``MAX_REDRAWS`` misses, a small finite space
    gives a random untried point, and only a space with none left (or too large to list) gives
    a repeat."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rng = np.random.default_rng(self.seed)

    def suggest(self, count: int) -> list[dict[str, Any]]:
        tried = {self.space.key(t.params) for t in (*self.completed, *self.running)}
        out = []
        for _ in range(count):
            for _ in range(MAX_REDRAWS):
                point = self.space.sample(self._rng)
                if self.space.key(point) not in tried:
                    break
            else:
                point = self._untried(tried) or point
            tried.add(self.space.key(point))
            out.append(point)
        return out

    def _untried(self, tried: set[tuple[str, ...]]) -> dict[str, Any] | None:
        if not self.space.grid_size <= MAX_ENUMERATED:  # also a space with a DOUBLE (inf)
            return None
        untried = [p for p in self.space.grid() if self.space.key(p) not in tried]
        return untried[int(self._rng.integers(len(untried)))] if untried else None
