"""The Designer interface: what to try next, from plain data about finished and running trials."""
from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tf_hptune.space import SearchSpace
from tf_hptune.spec.model import Goal, ParameterSpec, StudySpec
from tf_hptune.stopping.base import Curve
from tf_hptune.stopping.forecast import forecast_finals
from tf_hptune.store import State, TrialRecord


@dataclass(frozen=True)
class TrialView:
    """A trial as a Designer sees it. ``value`` is the final metric as reported (not negated);
    it is None for a failed trial or one still running."""

    trial_id: str
    params: Mapping[str, Any]
    value: float | None = None
    failed: bool = False
    stopped_early: bool = False
    measurements: tuple[tuple[int, float], ...] = field(default=(), compare=False)


def views_of(records: Sequence[TrialRecord]) -> list[TrialView]:
    """The designer's view of each stored trial."""
    return [
        TrialView(
            t.trial_id, t.params,
            value=t.final_value if t.state is State.SUCCEEDED else None,
            failed=t.state is State.FAILED, stopped_early=t.stopped_early,
            measurements=tuple((m.step, m.value) for m in t.measurements),
        )
        for t in records
    ]


def estimates(trials: Sequence[TrialView]) -> list[float | None]:
    """What a model should learn as each trial's result: its final value, or for a trial
    stopped early (whose last value is an early, partial one) its forecast final value from
    the curves of the trials that ran to the end (``stopping.forecast``), when there is one."""
    forecasts = forecast_finals([
        Curve(t.trial_id, t.measurements, completed=t.value is not None,
              stopped_early=t.stopped_early)
        for t in trials if t.stopped_early or t.value is not None])
    return [forecasts.get(t.trial_id, t.value) if t.value is not None else None
            for t in trials]


@dataclass(frozen=True)
class PriorStudy:
    """An earlier, related job's finished trials, with the parameters they were drawn from
    (names, ranges and categories may differ from the new job's)."""

    job_name: str
    params: tuple[ParameterSpec, ...]
    trials: tuple[TrialView, ...]


class Designer(abc.ABC):
    """Suggests parameters. Knows nothing of processes, GPUs or storage.

    Contract: ``update`` receives every completed trial (succeeded, failed or stopped) and every
    running one, replacing what it was given before; ``suggest(count)`` returns at most
    ``count`` feasible, typed parameter dicts; fewer (possibly none) means the space is
    exhausted for this designer.
    """

    def __init__(self, spec: StudySpec, space: SearchSpace, seed: int | None = None) -> None:
        self.spec = spec
        self.space = space
        self.seed = seed
        self.completed: Sequence[TrialView] = ()
        self.running: Sequence[TrialView] = ()
        self.priors: Sequence[PriorStudy] = ()

    def set_priors(self, priors: Sequence[PriorStudy]) -> None:
        """Earlier, related jobs' results (see ``algorithms.prior``). A designer may use them
        to start better; it must stay sound when they mislead. Ignored by default."""
        self.priors = tuple(priors)

    def update(self, completed: Sequence[TrialView], running: Sequence[TrialView]) -> None:
        self.completed = tuple(completed)
        self.running = tuple(running)

    @abc.abstractmethod
    def suggest(self, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` new points."""

    def loss(self, value: float) -> float:
        """The value as a quantity to minimise, whatever the goal."""
        return value if self.spec.goal is Goal.MINIMIZE else -value
