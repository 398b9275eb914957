"""A rule that knows what it does not know (draft for experiments)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln, stdtr

from tf_hptune.spec.model import Goal
from tf_hptune.stopping.base import KEEP, EarlyStopper, StopDecision, evaluation_noise
from tf_hptune.trial import SMOOTH, Trial, recent, values_at


def _t_logpdf(z: np.ndarray, dof: float, scale: np.ndarray) -> np.ndarray:
    u = z / scale
    return (gammaln((dof + 1) / 2) - gammaln(dof / 2) - 0.5 * np.log(dof * np.pi)
            - np.log(scale) - (dof + 1) / 2 * np.log1p(u * u / dof))


def _fit(design: np.ndarray, y: np.ndarray, query: np.ndarray, floor: float
         ) -> tuple[float, float, int, float] | None:
    """OLS of y on design: the prediction at query (mean, scale, dof) and the LOO log
    predictive density of the peers (None when there are too few peers)."""
    n, p = design.shape
    if n < p + 2:
        return None
    gram = design.T @ design
    try:
        inv = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(inv)) or np.abs(inv).max() * np.abs(gram).max() > 1e12:
        return None
    coef = inv @ design.T @ y
    resid = y - design @ coef
    rss = float(resid @ resid)
    dof = n - p
    s2 = rss / dof
    h = np.einsum("ij,jk,ik->i", design, inv, design)
    h = np.minimum(h, 1.0 - 1e-9)
    # leave-one-out: residual r/(1-h), variance s2_(-i) / (1-h), dof n-p-1
    s2_loo = np.maximum((rss - resid**2 / (1.0 - h)) / (dof - 1), 0.0)
    scale_loo = np.sqrt(np.maximum(s2_loo / (1.0 - h), floor**2))
    loo = float(np.sum(_t_logpdf(resid / (1.0 - h), dof - 1, scale_loo)))
    scale = max(float(np.sqrt(s2 * (1.0 + float(query @ inv @ query)))), floor)
    return float(query @ coef), scale, dof, loo


class CalibratedStopper(EarlyStopper):
    def __init__(self, goal: Goal, *, alpha: float = 0.1, look_power: float = 0.5,
                 smooth: int = SMOOTH, models: str = "0123", combine: str = "mix",
                 guard: int = 1, margin: float = 0.0, **kwargs: float) -> None:
        super().__init__(goal, **kwargs)  # type: ignore[arg-type]
        self.alpha = alpha
        self.look_power = look_power
        self.smooth = int(smooth)
        self.models = str(models)
        self.guard = int(guard)
        self.combine = combine
        self.margin = margin

    def p_beat(self, trial: Trial, finished: Sequence[Trial]) -> tuple[float, float] | None:
        loss = self.goal.loss
        sign = self.goal.sign
        steps, _ = recent(trial, self.smooth)
        k = len(steps)
        at = [*steps, *(s / 2.0 for s in steps), *(s / 4.0 for s in steps)]
        horizon = max(c.last_step for c in finished)
        doublings = float(np.log2(max(horizon / steps[-1], 1.0)))

        def levels(points: Sequence[tuple[int, float]]) -> np.ndarray:
            v = sign * values_at(points, at)
            return np.array([v[:k].mean(), v[k:2 * k].mean(), v[2 * k:].mean()])

        def extrapolate(lv: np.ndarray) -> np.ndarray:
            """Level carried to the horizon: the last doubling's drop, continued with the ratio
            of the last two doublings' drops (0 to 0.9), NaN where not defined."""
            g1, g2 = lv[..., 0] - lv[..., 1], lv[..., 1] - lv[..., 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.where((g1 < 0) & (g2 < 0), np.clip(g1 / g2, 0.0, 0.9), 0.0)
            q = np.where(np.isfinite(lv[..., 2]), q, np.nan)
            factor = np.where(q > 0, q * (1 - q**doublings) / np.where(q < 1, 1 - q, 1), 0.0)
            return lv[..., 0] + np.minimum(g1, 0.0) * factor

        own = levels(trial.measurements)
        peers = np.array([levels(c.measurements) for c in finished])
        y = np.array([loss(c.measurements[-1][1]) for c in finished])
        ok = np.isfinite(peers[:, 0])
        peers, y = peers[ok], y[ok]
        if len(y) < 2:
            return None
        x_t, x = own[0], peers[:, 0]
        best = float(y.min())
        best -= self.margin * abs(best)
        floor = evaluation_noise(finished)
        ones = np.ones_like(x)
        shape = bool(np.isfinite(own[1]) and np.all(np.isfinite(peers[:, 1])))
        g_t = own[0] - own[1] if shape else 0.0
        g = peers[:, 0] - peers[:, 1]
        z_t, z = extrapolate(own), extrapolate(peers)
        has_z = bool(np.isfinite(z_t) and np.all(np.isfinite(z)))
        guard = self.guard == 1 or (self.guard == 2 and shape and g_t < np.min(g) - floor) or (
            self.guard == 3 and not has_z)
        if shape and guard and g_t < 0:
            optimistic = x_t + g_t * doublings
            if optimistic < best:
                return 1.0, optimistic
        fits = []
        if "0" in self.models:  # final = level + c
            fits.append((_fit(ones[:, None], y - x, np.array([1.0]), floor), x_t))
        if "1" in self.models:  # final = a + b level
            fits.append((_fit(np.column_stack([ones, x]), y, np.array([1.0, x_t]), floor), 0.0))
        if "2" in self.models and shape:  # final = level + c + d shape
            fits.append((_fit(np.column_stack([ones, g]), y - x, np.array([1.0, g_t]), floor),
                         x_t))
        if "3" in self.models and shape:  # final = a + b level + d shape
            fits.append((_fit(np.column_stack([ones, x, g]), y, np.array([1.0, x_t, g_t]),
                              floor), 0.0))
        if "4" in self.models and has_z:  # final = a + b extrapolated level
            fits.append((_fit(np.column_stack([ones, z]), y, np.array([1.0, z_t]), floor), 0.0))
        if "5" in self.models and has_z:  # final = extrapolated level + c
            fits.append((_fit(ones[:, None], y - z, np.array([1.0]), floor), z_t))
        fits = [(f, off) for f, off in fits if f is not None]
        if not fits:
            return None
        ps = np.array([stdtr(dof, (best - off - m) / sc) for (m, sc, dof, _), off in fits])
        means = np.array([m + off for (m, _, _, _), off in fits])
        if self.combine == "max":
            return float(ps.max()), float(means[ps.argmax()])
        loo = np.array([f[3] for f, _ in fits])
        w = np.exp(loo - loo.max())
        w /= w.sum()
        return float(w @ ps), float(w @ means)

    def _decide(self, trial: Trial, completed: Sequence[Trial], horizon: int) -> StopDecision:
        finished = [c for c in completed if not c.stopped_early]
        if len(finished) < self.min_completed:
            return KEEP
        result = self.p_beat(trial, finished)
        if result is None:
            return KEEP
        p_beat, mean = result
        looks = float(np.median([len(c.measurements) for c in finished]))
        threshold = self.alpha / looks**self.look_power
        if p_beat < threshold:
            return StopDecision(True, f"calibrated rule: probability {p_beat:.4f} of beating "
                                f"the best (forecast final value {self.goal.loss(mean):.6g})")
        return KEEP
