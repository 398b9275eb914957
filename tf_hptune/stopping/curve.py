"""A learning-curve rule: predict a trial's final value from its partial curve and the
completed trials' curves, and stop when its chance of beating the best is small."""
from __future__ import annotations

from collections.abc import Callable, Sequence

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


def _noise(curves: Sequence[Curve], loss: Callable[[float], float]) -> float:
    """Evaluation noise, from the step-to-step changes over the second half of each curve
    (a robust estimate: median absolute change / (0.6745 * sqrt 2))."""
    changes = [abs(loss(b[1]) - loss(a[1]))
               for c in curves for a, b in zip(c.points[len(c.points) // 2:],
                                               c.points[len(c.points) // 2 + 1:])]
    return float(np.median(changes)) / (0.6745 * np.sqrt(2.0)) if changes else 0.0


class CurveStopper(EarlyStopper):
    """Each completed trial c gives one prediction of this trial's final loss: its current loss
    plus c's change from the same step to its end. The predictions form a kernel density;
    the trial stops when the probability that its final loss beats the best completed final
    loss is below ``threshold``."""

    def __init__(
        self, goal: Goal, *, threshold: float = 0.3, smooth: int = 3, **kwargs: float
    ) -> None:
        super().__init__(goal, **kwargs)  # type: ignore[arg-type]
        self.threshold = threshold
        self.smooth = int(smooth)

    def _decide(self, trial: Curve, completed: Sequence[Curve], horizon: int) -> StopDecision:
        # The trial's current level: the mean of its last few values (evaluations are noisy),
        # compared with each peer's mean at the same steps.
        recent = trial.points[-self.smooth:]
        steps = [s for s, _ in recent]
        current = float(np.mean([self.loss(v) for _, v in recent]))
        # Peers stopped early never reached their end: their change to the end is unknown.
        finished = [c for c in completed if not c.stopped_early] or list(completed)
        deltas = []
        for c in finished:
            at = [value_at(c.points, s) for s in steps]
            if None not in at:
                level = float(np.mean([self.loss(v) for v in at]))  # type: ignore[arg-type]
                deltas.append(self.loss(c.points[-1][1]) - level)
        if len(deltas) < self.min_completed:
            return KEEP
        predictions = current + np.array(deltas)
        best = min(self.loss(c.points[-1][1]) for c in completed)
        spread = float(np.std(predictions))
        width = max(spread * len(predictions) ** -0.2, _noise(finished, self.loss),
                    1e-3 * max(abs(best), 1e-12))
        p_beat = float(np.mean(norm.cdf((best - predictions) / width)))
        if p_beat < self.threshold:
            predicted = self.loss(float(np.median(predictions)))
            return StopDecision(
                True,
                f"learning-curve rule: predicted final value {predicted:.6g} has probability "
                f"{p_beat:.3f} of beating the best {self.loss(best):.6g}",
            )
        return KEEP
