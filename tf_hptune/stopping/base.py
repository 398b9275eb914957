"""The EarlyStopper interface: which running trial to stop, from plain data about curves."""
from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from tf_hptune.spec.model import Goal


@dataclass(frozen=True)
class Curve:
    """One trial's measurements, ``(step, value)`` in step order, values as reported.

    ``completed`` is True for a trial that ended with a metric (normally or stopped early);
    failed trials are not peers.
    """

    trial_id: str
    points: tuple[tuple[int, float], ...]
    completed: bool = False
    stopped_early: bool = False

    @property
    def last_step(self) -> int:
        return self.points[-1][0] if self.points else 0


@dataclass(frozen=True)
class StopDecision:
    should_stop: bool
    reason: str = ""


KEEP = StopDecision(False)


class EarlyStopper(abc.ABC):
    """Decides whether to stop ``trial`` given its ``peers`` (every other trial of the job).

    Contract shared by every rule (enforced here, not in each rule): never stop before the
    warm-up (``min_completed`` completed peers, and ``min_step_fraction`` of the longest
    completed curve), and never stop the trial whose best value is the best of all trials.
    ``decide`` only sees data available now; it keeps no state between calls.
    """

    def __init__(
        self, goal: Goal, *, min_completed: int = 2, min_step_fraction: float = 0.05
    ) -> None:
        self.goal = goal
        self.min_completed = min_completed
        self.min_step_fraction = min_step_fraction

    def loss(self, value: float) -> float:
        """A value as a quantity to minimise."""
        return value if self.goal is Goal.MINIMIZE else -value

    def best_loss(self, curve: Curve) -> float:
        return min(self.loss(v) for _, v in curve.points)

    def decide(self, trial: Curve, peers: Sequence[Curve]) -> StopDecision:
        if trial.completed or not trial.points:
            return KEEP
        done = [p for p in peers if p.completed and p.points and p.trial_id != trial.trial_id]
        if len(done) < self.min_completed:
            return KEEP
        horizon = max(p.last_step for p in done)
        if trial.last_step < self.min_step_fraction * horizon:
            return KEEP
        others = [p for p in peers if p.points and p.trial_id != trial.trial_id]
        if all(self.best_loss(trial) <= self.best_loss(p) for p in others):
            return KEEP  # the current best is never stopped
        return self._decide(trial, done, horizon)

    @abc.abstractmethod
    def _decide(self, trial: Curve, completed: Sequence[Curve], horizon: int) -> StopDecision:
        """The rule itself, called only past the warm-up and for a trial that is not best."""
