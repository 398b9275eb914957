"""Designers: what to try next. ``make_designer`` picks one for a spec's algorithm."""
from __future__ import annotations

from collections.abc import Callable

from tf_hptune.algorithms.base import Designer, TrialView
from tf_hptune.algorithms.bayes import BayesianDesigner
from tf_hptune.algorithms.grid import GridDesigner
from tf_hptune.algorithms.random_search import RandomDesigner
from tf_hptune.space import SearchSpace
from tf_hptune.spec.model import Algorithm, StudySpec

DesignerFactory = Callable[[StudySpec, SearchSpace, "int | None"], Designer]

# ALGORITHM_UNSPECIFIED means Bayesian optimisation, as in the service.
DESIGNERS: dict[Algorithm, DesignerFactory] = {
    Algorithm.ALGORITHM_UNSPECIFIED: BayesianDesigner,
    Algorithm.RANDOM_SEARCH: RandomDesigner,
    Algorithm.GRID_SEARCH: GridDesigner,
}


def make_designer(spec: StudySpec, space: SearchSpace, seed: int | None = None) -> Designer:
    """The designer for ``spec.algorithm``."""
    return DESIGNERS[spec.algorithm](spec, space, seed)


__all__ = [
    "DESIGNERS", "BayesianDesigner", "Designer", "GridDesigner", "RandomDesigner", "TrialView",
    "make_designer",
]
