"""The Designer interface: what to try next, from plain data about finished and running trials."""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from tf_hptune.space import SearchSpace
from tf_hptune.spec.model import Goal
from tf_hptune.trial import PriorStudy, Trial


class Designer(abc.ABC):
    """Suggests parameters. Knows nothing of processes, GPUs, stores or stopping rules.

    Built from ``(space, goal, seed)``. Contract: ``update`` receives every completed trial
    (succeeded, failed or stopped) and every running one, replacing what it was given before;
    ``suggest(count)`` returns at most ``count`` feasible, typed parameter dicts; fewer
    (possibly none) means the space is exhausted for this designer. The same seed and the same
    calls give the same suggestions.
    """

    def __init__(self, space: SearchSpace, goal: Goal, seed: int | None = None) -> None:
        self.space = space
        self.goal = goal
        self.seed = seed
        self.completed: Sequence[Trial] = ()
        self.running: Sequence[Trial] = ()
        self.priors: Sequence[PriorStudy] = ()
        self.budget: int | None = None

    def set_priors(self, priors: Sequence[PriorStudy]) -> None:
        """Earlier, related jobs' results, given once before the first ``suggest`` (they do not
        change during a job). A designer may use them to start better; it must stay sound when
        they mislead. Ignored by default."""
        self.priors = tuple(priors)

    def set_budget(self, trials: int | None) -> None:
        """How many trials the study runs in all (a resumed job's earlier trials included),
        once known; None when open-ended. A designer may spend its last trials differently.
        Ignored by default."""
        self.budget = trials

    def update(self, completed: Sequence[Trial], running: Sequence[Trial]) -> None:
        self.completed = tuple(completed)
        self.running = tuple(running)

    @abc.abstractmethod
    def suggest(self, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` new points."""
