"""A learning-curve rule: predict a trial's final value from its partial curve and the
completed trials' curves, and stop when its chance of beating the best is small."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from tf_hptune.spec.model import Goal
from tf_hptune.stopping.base import KEEP, Curve, EarlyStopper, StopDecision


def value_at(points: Sequence[tuple[int, float]], step: int) -> float | None:
    """The curve's value at ``step``, linearly interpolated; None before its first point."""
    steps = np.array([p[0] for p in points], dtype=float)
    if step < steps[0]:
        return None
    return float(np.interp(step, steps, [p[1] for p in points]))


class CurveStopper(EarlyStopper):
    """Each completed trial c gives one prediction of this trial's final loss: its current loss
    plus c's change from the same step to its end. The predictions form a kernel density;
    the trial stops when the probability that its final loss beats the best completed final
    loss is below ``threshold``."""

    def __init__(self, goal: Goal, *, threshold: float = 0.05, **kwargs: float) -> None:
        super().__init__(goal, **kwargs)  # type: ignore[arg-type]
        self.threshold = threshold

    def _decide(self, trial: Curve, completed: Sequence[Curve], horizon: int) -> StopDecision:
        s = trial.last_step
        # Peers stopped early never reached their end: their change to the end is unknown.
        finished = [c for c in completed if not c.stopped_early] or list(completed)
        deltas = []
        for c in finished:
            at_s = value_at(c.points, s)
            if at_s is not None:
                deltas.append(self.loss(c.points[-1][1]) - self.loss(at_s))
        if len(deltas) < self.min_completed:
            return KEEP
        current = self.loss(trial.points[-1][1])
        predictions = current + np.array(deltas)
        best = min(self.loss(c.points[-1][1]) for c in completed)
        spread = float(np.std(predictions))
        width = max(spread * len(predictions) ** -0.2, 1e-3 * max(abs(best), 1e-12))
        p_beat = float(np.mean(norm.cdf((best - predictions) / width)))
        if p_beat < self.threshold:
            predicted = self.loss(float(np.median(predictions)))
            return StopDecision(
                True,
                f"learning-curve rule: predicted final value {predicted:.6g} has probability "
                f"{p_beat:.3f} of beating the best {self.loss(best):.6g}",
            )
        return KEEP
