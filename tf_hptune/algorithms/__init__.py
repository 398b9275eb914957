"""Designers: what to try next. ``make_designer`` picks one for a spec's algorithm."""
from __future__ import annotations

from typing import Callable

from tf_hptune.algorithms.base import Designer, TrialView
from tf_hptune.algorithms.grid import GridDesigner
from tf_hptune.algorithms.random_search import RandomDesigner
from tf_hptune.space import SearchSpace
from tf_hptune.spec.model import Algorithm, StudySpec

DesignerFactory = Callable[[StudySpec, SearchSpace, "int | None"], Designer]

# ALGORITHM_UNSPECIFIED means Bayesian optimisation in the service; until that designer lands it
# is random search (README says so).
DESIGNERS: dict[Algorithm, DesignerFactory] = {
    Algorithm.ALGORITHM_UNSPECIFIED: RandomDesigner,
    Algorithm.RANDOM_SEARCH: RandomDesigner,
    Algorithm.GRID_SEARCH: GridDesigner,
}


def make_designer(spec: StudySpec, space: SearchSpace, seed: int | None = None) -> Designer:
    """The designer for ``spec.algorithm``."""
    return DESIGNERS[spec.algorithm](spec, space, seed)


__all__ = ["DESIGNERS", "Designer", "GridDesigner", "RandomDesigner", "TrialView", "make_designer"]
