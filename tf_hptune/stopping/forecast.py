"""A stopped trial's expected final value, from the curves of the trials that ran to the end.

A stopped trial's last value is what the service reports as its final metric, but early in
training it says little about where the trial would have ended (one noisy evaluation at an
eighth of the run can be 50% above every final value). The model learns better from a forecast:
across the finished trials, a least-squares line from their level at the stopped trial's last
steps to their final value, with the slope held in [0, 1]. At slope 1 the forecast is the
trial's level plus the typical change to the end; where early levels do not predict final
values, the slope falls towards 0 and the forecast towards the finished trials' typical final.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tf_hptune.stopping.base import Curve

SMOOTH = 3  # a trial's level: the mean of its last few values (evaluations are noisy)
MAX_PEERS = 200  # finished trials a forecast is drawn from, at most (the latest ones)


def values_at(points: Sequence[tuple[int, float]], steps: Sequence[int]) -> np.ndarray:
    """The curve's values at ``steps``, linearly interpolated; NaN before its first point."""
    curve_steps = np.array([p[0] for p in points], dtype=float)
    at = np.asarray(steps, dtype=float)
    values = np.interp(at, curve_steps, [p[1] for p in points])
    return np.where(at < curve_steps[0], np.nan, values)


def recent(trial: Curve, smooth: int = SMOOTH) -> tuple[list[int], float]:
    """The steps of the trial's last ``smooth`` points and its level: their mean value."""
    points = trial.points[-smooth:]
    return [s for s, _ in points], float(np.mean([v for _, v in points]))


def predict_final(current: float, levels: np.ndarray, finals: np.ndarray) -> float:
    """``current`` carried to the end by the peers' line from ``levels`` to ``finals`` (one
    entry per peer): slope b in [0, 1], intercept the median of ``finals - b * levels``."""
    spread = float(np.var(levels))
    slope = 1.0
    if len(levels) >= 3 and spread > 0.0:
        slope = float(np.clip(np.mean((levels - levels.mean()) * finals) / spread, 0.0, 1.0))
    return slope * current + float(np.median(finals - slope * levels))


def forecast_finals(curves: Sequence[Curve]) -> dict[str, float]:
    """Each curve stopped early (by trial id): its expected final value, from the completed
    curves that were not stopped. A trial gets none while fewer than two of them reach back
    to its last steps. (The forecast is the same whether the goal is to minimise or not.)"""
    finished = [c for c in curves if c.completed and not c.stopped_early and c.points]
    finished = finished[-MAX_PEERS:]
    stopped = [c for c in curves if c.stopped_early and c.points]
    if len(finished) < 2 or not stopped:
        return {}
    windows = {c.trial_id: recent(c) for c in stopped}
    grid = sorted({s for steps, _ in windows.values() for s in steps})
    column = {s: i for i, s in enumerate(grid)}
    at = np.array([values_at(c.points, grid) for c in finished])  # peers x steps
    finals = np.array([c.points[-1][1] for c in finished])
    out: dict[str, float] = {}
    for trial_id, (steps, current) in windows.items():
        levels = at[:, [column[s] for s in steps]].mean(axis=1)
        ok = np.isfinite(levels) & np.isfinite(finals)
        if ok.sum() >= 2 and np.isfinite(current):
            out[trial_id] = predict_final(current, levels[ok], finals[ok])
    return out
