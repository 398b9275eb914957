"""A learning-curve rule: predict a trial's final value from its partial curve and the
completed trials' curves, and stop when its chance of beating the best is small."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from tf_hptune.spec.model import Goal
from tf_hptune.stopping.base import KEEP, EarlyStopper, StopDecision, evaluation_noise
from tf_hptune.trial import SMOOTH, Trial, predict_final, recent, values_at


class CurveStopper(EarlyStopper):
    """Each completed trial c gives one prediction of this trial's final loss: its current loss
    plus c's change from the same step to its end. The predictions form a kernel density;
    the trial stops when the probability that its final loss beats the best completed final
    loss is below ``threshold``. The reason quotes the trial's forecast final value
    (``tf_hptune.trial``, the value the optimizer learns from)."""

    def __init__(
        self, goal: Goal, *, threshold: float = 0.3, smooth: int = SMOOTH, **kwargs: float
    ) -> None:
        super().__init__(goal, **kwargs)  # type: ignore[arg-type]
        self.threshold = threshold
        self.smooth = int(smooth)

    def _decide(self, trial: Trial, completed: Sequence[Trial], horizon: int) -> StopDecision:
        # The trial's current level: the mean of its last few values (evaluations are noisy),
        # compared with each peer's mean at the same steps.
        steps, level = recent(trial, self.smooth)
        current = self.goal.loss(level)
        # Peers stopped early never reached their end: their change to the end is unknown.
        finished = [c for c in completed if not c.stopped_early] or list(completed)
        levels = np.array([self.goal.loss(float(np.mean(values_at(c.measurements, steps))))
                           for c in finished])
        finals = np.array([self.goal.loss(c.measurements[-1][1]) for c in finished])
        ok = np.isfinite(levels)
        levels, finals = levels[ok], finals[ok]
        deltas = finals - levels
        if len(deltas) < self.min_completed:
            return KEEP
        predictions = current + deltas
        best = min(self.goal.loss(c.measurements[-1][1]) for c in completed)
        spread = float(np.std(predictions))
        width = max(spread * len(predictions) ** -0.2, evaluation_noise(finished),
                    1e-3 * max(abs(best), 1e-12))
        p_beat = float(np.mean(norm.cdf((best - predictions) / width)))
        if p_beat < self.threshold:
            forecast = self.goal.loss(predict_final(current, levels, finals))
            return StopDecision(
                True,
                f"learning-curve rule: probability {p_beat:.3f} of beating the best "
                f"{self.goal.loss(best):.6g} (forecast final value {forecast:.6g})",
            )
        return KEEP
