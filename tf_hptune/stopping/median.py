"""Vizier's median stopping rule."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tf_hptune.stopping.base import KEEP, EarlyStopper, StopDecision
from tf_hptune.trial import Trial


class MedianStopper(EarlyStopper):
    """Stop a trial whose best value by step s is worse than the median, over completed trials,
    of their running averages up to s."""

    def _decide(self, trial: Trial, completed: Sequence[Trial], horizon: int) -> StopDecision:
        s = trial.last_step
        averages = [
            float(np.mean([self.goal.loss(v) for step, v in c.measurements if step <= s]))
            for c in completed
            if c.measurements[0][0] <= s
        ]
        if len(averages) < self.min_completed:
            return KEEP
        median = float(np.median(averages))
        best = self.best_loss(trial)
        if best > median:
            return StopDecision(
                True,
                f"median rule: best value {self.goal.loss(best):.6g} by step {s} is worse than "
                f"the median {self.goal.loss(median):.6g} of completed trials' running averages",
            )
        return KEEP
