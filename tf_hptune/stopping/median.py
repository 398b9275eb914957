"""Vizier's median stopping rule."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tf_hptune.stopping.base import KEEP, Curve, EarlyStopper, StopDecision


class MedianStopper(EarlyStopper):
    """Stop a trial whose best value by step s is worse than the median, over completed trials,
    of their running averages up to s."""

    def _decide(self, trial: Curve, completed: Sequence[Curve], horizon: int) -> StopDecision:
        s = trial.last_step
        averages = [
            float(np.mean([self.loss(v) for step, v in c.points if step <= s]))
            for c in completed
            if c.points[0][0] <= s
        ]
        if len(averages) < self.min_completed:
            return KEEP
        median = float(np.median(averages))
        best = self.best_loss(trial)
        if best > median:
            return StopDecision(
                True,
                f"median rule: best value {self.loss(best):.6g} by step {s} is worse than the "
                f"median {self.loss(median):.6g} of completed trials' running averages",
            )
        return KEEP
