"""A rule that knows what it does not know: it predicts a trial's final value from models
fitted to the job's own finished curves at the trial's current step, with the uncertainty of
fits to few curves, and stops only when the chance of beating the best is small even after
allowing for every evaluation at which it decides."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln, stdtr

from tf_hptune.spec.model import Goal
from tf_hptune.stopping.base import KEEP, EarlyStopper, StopDecision, evaluation_noise
from tf_hptune.trial import Point, Trial


def best_by(points: Sequence[Point], sign: float, at: np.ndarray) -> np.ndarray:
    """The curve's best loss (``sign * value``) up to each step of ``at``; NaN before its
    first point. A running best ignores the upward spikes of noisy evaluations."""
    steps = np.array([p[0] for p in points], dtype=float)
    run = np.minimum.accumulate(sign * np.array([p[1] for p in points], dtype=float))
    index = np.searchsorted(steps, at, side="right") - 1
    return np.where(index >= 0, run[np.maximum(index, 0)], np.nan)


def _t_logpdf(z: np.ndarray, dof: float, scale: np.ndarray) -> np.ndarray:
    u = z / scale
    return (gammaln((dof + 1) / 2) - gammaln(dof / 2) - 0.5 * np.log(dof * np.pi)
            - np.log(scale) - (dof + 1) / 2 * np.log1p(u * u / dof))


def fit(design: np.ndarray, y: np.ndarray, query: np.ndarray, floor: float
        ) -> tuple[float, float, int, float] | None:
    """Least squares of ``y`` on ``design`` (one row per finished curve): the Student-t
    prediction at ``query`` (mean, scale, degrees of freedom; the scale includes the
    uncertainty of the coefficients, so a query unlike the curves is uncertain) and the
    leave-one-out log predictive density of the curves. None with too few curves."""
    n, p = design.shape
    if n < p + 2:
        return None
    gram = design.T @ design
    if np.linalg.cond(gram) > 1e10:
        return None
    inv = np.linalg.inv(gram)
    coef = inv @ (design.T @ y)
    resid = y - design @ coef
    rss = float(resid @ resid)
    dof = n - p
    leverage = np.minimum(np.einsum("ij,jk,ik->i", design, inv, design), 1.0 - 1e-9)
    # leave-one-out: residual r / (1 - h), variance s2_(-i) / (1 - h), dof - 1
    s2_loo = np.maximum((rss - resid**2 / (1.0 - leverage)) / (dof - 1), 0.0)
    scale_loo = np.sqrt(np.maximum(s2_loo / (1.0 - leverage), floor**2))
    loo = float(np.sum(_t_logpdf(resid / (1.0 - leverage), dof - 1, scale_loo)))
    scale = max(float(np.sqrt(rss / dof * (1.0 + query @ inv @ query))), floor)
    return float(query @ coef), scale, dof, loo


class CalibratedStopper(EarlyStopper):
    """Three models of a finished curve's final loss y from its running best x at the trial's
    current step and its shape g (how much x fell over the last doubling of steps):
    y = x + c, y = a + b x, and y = a + b x + d g, each fitted by least squares to the job's
    finished curves (not to trials stopped early, whose end is unknown). Each gives a
    Student-t prediction for the trial; they are averaged with weights from how well each
    predicted the finished curves left out one at a time. The trial stops when the
    probability that its final loss beats the best finished one by more than ``tolerance``
    (relative) is below ``alpha / sqrt(looks)``, looks being the evaluations of a typical
    finished curve: the rule decides at each of them, and a stop is final.

    What it does not know, it does not stop for: nothing is stopped before ``min_completed``
    curves have finished; a model needs two curves more than its coefficients, and few
    curves give wide predictions (few degrees of freedom); a trial unlike the finished curves
    gets a wide one (the coefficients' uncertainty); and a trial still falling faster than
    every finished curve fell at the same step is kept."""

    def __init__(self, goal: Goal, *, alpha: float = 0.1, tolerance: float = 0.002,
                 min_completed: int = 4, **kwargs: float) -> None:
        super().__init__(goal, min_completed=min_completed, **kwargs)  # type: ignore[arg-type]
        self.alpha = alpha
        self.tolerance = tolerance

    def predict(self, trial: Trial, finished: Sequence[Trial]) -> tuple[float, float] | None:
        """The probability that ``trial``'s final loss beats the best of ``finished``, and its
        expected final loss; None when the finished curves cannot tell."""
        sign = self.goal.sign
        s = float(trial.last_step)
        at = np.array([s, s / 2.0])
        own = best_by(trial.measurements, sign, at)
        peers = np.array([best_by(c.measurements, sign, at) for c in finished])
        y = np.array([sign * c.measurements[-1][1] for c in finished])
        ok = np.isfinite(peers[:, 0])
        peers, y = peers[ok], y[ok]
        if len(y) < 3:
            return None
        best = float(y.min())
        noise = evaluation_noise(finished)
        best -= self.tolerance * abs(best)
        x_t, x = own[0], peers[:, 0]
        shape = bool(np.isfinite(own[1]) and np.all(np.isfinite(peers[:, 1])))
        g_t = own[1] - own[0] if shape else 0.0
        g = peers[:, 1] - peers[:, 0]
        if shape and g_t > float(np.max(g)) + noise:
            return None  # falling faster than every finished curve did here: unknown ground
        ones = np.ones_like(x)
        floor = max(noise, 1e-9 * abs(best))
        # (fit, offset): the prediction of y is the fit's plus the offset
        fits = [(fit(ones[:, None], y - x, np.array([1.0]), floor), x_t),
                (fit(np.column_stack([ones, x]), y, np.array([1.0, x_t]), floor), 0.0)]
        if shape:
            fits.append((fit(np.column_stack([ones, x, g]), y, np.array([1.0, x_t, g_t]),
                             floor), 0.0))
        good = [(f, offset) for f, offset in fits if f is not None]
        if not good:
            return None
        p = np.array([stdtr(dof, (best - offset - m) / scale)
                      for (m, scale, dof, _), offset in good])
        means = np.array([m + offset for (m, _, _, _), offset in good])
        loo = np.array([f[3] for f, _ in good])
        w = np.exp(loo - loo.max())
        w /= w.sum()
        return float(w @ p), float(w @ means)

    def _decide(self, trial: Trial, completed: Sequence[Trial], horizon: int) -> StopDecision:
        finished = [c for c in completed if not c.stopped_early]
        result = self.predict(trial, finished) if len(finished) >= self.min_completed else None
        if result is None:
            return KEEP
        p_beat, mean = result
        looks = float(np.median([len(c.measurements) for c in finished]))
        if p_beat < self.alpha / np.sqrt(looks):
            return StopDecision(True, f"calibrated rule: probability {p_beat:.4f} of beating "
                                f"the best (expected final value {self.goal.sign * mean:.6g})")
        return KEEP
