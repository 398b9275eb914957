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
    it is None for a failed trial or one still running. ``forecast``: for a trial stopped
    early, its expected final value (``stopping.forecast``), when there is one."""

    trial_id: str
    params: Mapping[str, Any]
    value: float | None = None
    failed: bool = False
    stopped_early: bool = False
    measurements: tuple[tuple[int, float], ...] = field(default=(), compare=False)
    forecast: float | None = None

    @property
    def estimate(self) -> float | None:
        """What a model should learn as the trial's result: its forecast final value if it
        was stopped early (its last value is an early, partial one), else its final value."""
        return self.forecast if self.forecast is not None else self.value


def record_curve(t: TrialRecord) -> Curve:
    """A stored trial's measurements as an early-stopping ``Curve``."""
    return Curve(t.trial_id, tuple((m.step, m.value) for m in t.measurements),
                 completed=t.state is State.SUCCEEDED, stopped_early=t.stopped_early)


def views_of(records: Sequence[TrialRecord]) -> list[TrialView]:
    """The designer's view of each stored trial, a trial stopped early with its forecast."""
    forecasts = forecast_finals([record_curve(t) for t in records if t.state is State.SUCCEEDED])
    return [
        TrialView(
            t.trial_id, t.params,
            value=t.final_value if t.state is State.SUCCEEDED else None,
            failed=t.state is State.FAILED, stopped_early=t.stopped_early,
            measurements=tuple((m.step, m.value) for m in t.measurements),
            forecast=forecasts.get(t.trial_id),
        )
        for t in records
    ]


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
