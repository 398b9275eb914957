"""Designers: what to try next. ``make_designer`` picks one for a spec's algorithm."""
from __future__ import annotations

from collections.abc import Callable

from tf_hptune.algorithms.base import Designer
from tf_hptune.algorithms.bayes import BayesianDesigner
from tf_hptune.algorithms.grid import GridDesigner
from tf_hptune.algorithms.random_search import RandomDesigner
from tf_hptune.space import SearchSpace
from tf_hptune.spec.model import Algorithm, Goal

DesignerFactory = Callable[[SearchSpace, Goal, "int | None"], Designer]

# ALGORITHM_UNSPECIFIED means Bayesian optimisation, as in the service.
DESIGNERS: dict[Algorithm, DesignerFactory] = {
    Algorithm.ALGORITHM_UNSPECIFIED: BayesianDesigner,
    Algorithm.RANDOM_SEARCH: RandomDesigner,
    Algorithm.GRID_SEARCH: GridDesigner,
}


def make_designer(
    algorithm: Algorithm, space: SearchSpace, goal: Goal, seed: int | None = None
) -> Designer:
    """The designer registered for ``algorithm``."""
    return DESIGNERS[algorithm](space, goal, seed)


__all__ = [
    "DESIGNERS", "BayesianDesigner", "Designer", "GridDesigner", "RandomDesigner",
    "make_designer",
]
