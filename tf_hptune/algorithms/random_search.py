"""RANDOM_SEARCH: independent draws, uniform on each parameter's scale."""
from __future__ import annotations

from typing import Any

import numpy as np

from tf_hptune.algorithms.base import Designer


class RandomDesigner(Designer):
    """Draws each point independently, among the feasible ones when the spec has constraints
    (``SearchSpace.sample`` rejects the others). May repeat a point in a small space, as the
    service's did."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rng = np.random.default_rng(self.seed)

    def suggest(self, count: int) -> list[dict[str, Any]]:
        return [self.space.sample(self._rng) for _ in range(count)]
