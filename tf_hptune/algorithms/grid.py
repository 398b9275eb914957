"""GRID_SEARCH: every point of the grid once, in order; the job ends when the grid does."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tf_hptune.algorithms.base import Designer


class GridDesigner(Designer):
    """Walks the grid lazily, skipping points already tried (completed or running); the grid
    holds only points that satisfy the spec's constraints (``SearchSpace.grid``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cursor: Iterator[dict[str, Any]] = self.space.grid()

    def suggest(self, count: int) -> list[dict[str, Any]]:
        tried = {self.space.key(t.params) for t in (*self.completed, *self.running)}
        out: list[dict[str, Any]] = []
        for point in self._cursor:
            key = self.space.key(point)
            if key not in tried:
                out.append(point)
                tried.add(key)
                if len(out) == count:
                    break
        return out
