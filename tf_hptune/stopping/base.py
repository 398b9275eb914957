"""The EarlyStopper interface: which running trial to stop, from plain data about trials."""
from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tf_hptune.spec.model import Goal
from tf_hptune.trial import Trial


@dataclass(frozen=True)
class StopDecision:
    should_stop: bool
    reason: str = ""


KEEP = StopDecision(False)


def evaluation_noise(trials: Sequence[Trial]) -> float:
    """Evaluation noise (a standard deviation), from the step-to-step changes over the second
    half of each curve (a robust estimate: median absolute change / (0.6745 * sqrt 2))."""
    changes = []
    for t in trials:
        half = [v for _, v in t.measurements[len(t.measurements) // 2:]]
        changes += [abs(b - a) for a, b in zip(half, half[1:])]
    return float(np.median(changes)) / (0.6745 * np.sqrt(2.0)) if changes else 0.0


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

    def best_loss(self, trial: Trial) -> float:
        return min(self.goal.loss(v) for _, v in trial.measurements)

    def decide(self, trial: Trial, peers: Sequence[Trial]) -> StopDecision:
        """Peers are the job's other trials that did not fail (completed or running)."""
        if trial.completed or not trial.measurements:
            return KEEP
        done = [p for p in peers
                if p.completed and p.measurements and p.trial_id != trial.trial_id]
        if len(done) < self.min_completed:
            return KEEP
        horizon = max(p.last_step for p in done)
        if trial.last_step < self.min_step_fraction * horizon:
            return KEEP
        others = [p for p in peers if p.measurements and p.trial_id != trial.trial_id]
        if all(self.best_loss(trial) <= self.best_loss(p) for p in others):
            return KEEP  # the current best is never stopped
        return self._decide(trial, done, horizon)

    @abc.abstractmethod
    def _decide(self, trial: Trial, completed: Sequence[Trial], horizon: int) -> StopDecision:
        """The rule itself, called only past the warm-up and for a trial that is not best."""
