"""The plain shape of a trial that designers and stopping rules see, and a stopped trial's
forecast final value.

Below ``algorithms/`` and ``stopping/``: it knows no store, process or rule. A stopped trial's
last value is what the service reports as its final metric, but early in training it says little
about where the trial would have ended (one noisy evaluation at an eighth of the run can be 50%
above every final value). Models learn better from a forecast: across the finished trials, a
least-squares line from their level at the stopped trial's last steps to their final value, with
the slope held in [0, 1]. At slope 1 the forecast is the trial's level plus the typical change to
the end; where early levels do not predict final values, the slope falls towards 0 and the
forecast towards the finished trials' typical final.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tf_hptune.spec.model import ParameterSpec

SMOOTH = 3  # a trial's level: the mean of its last few values (evaluations are noisy)
MAX_PEERS = 200  # finished trials a forecast is drawn from, at most (the latest ones)

Point = tuple[int, float]


@dataclass(frozen=True)
class Trial:
    """One trial: its typed ``params``, its ``measurements`` ``(step, value)`` in step order
    (values as reported, not negated), and how it ended.

    ``value`` is the final metric of a trial that ended with one (run to its end or stopped
    early); it is None for a trial still running and for a failed one (``failed``).
    """

    trial_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    measurements: tuple[Point, ...] = field(default=(), compare=False)
    value: float | None = None
    failed: bool = False
    stopped_early: bool = False

    @property
    def completed(self) -> bool:
        """Ended with a metric (normally or stopped early)."""
        return self.value is not None

    @property
    def last_step(self) -> int:
        return self.measurements[-1][0] if self.measurements else 0


@dataclass(frozen=True)
class PriorStudy:
    """An earlier, related job's finished trials, with the parameters they were drawn from
    (names, ranges and categories may differ from the new job's)."""

    job_name: str
    params: tuple[ParameterSpec, ...]
    trials: tuple[Trial, ...]


def values_at(points: Sequence[Point], steps: Sequence[int]) -> np.ndarray:
    """The curve's values at ``steps``, linearly interpolated; NaN before its first point."""
    curve_steps = np.array([p[0] for p in points], dtype=float)
    at = np.asarray(steps, dtype=float)
    values = np.interp(at, curve_steps, [p[1] for p in points])
    return np.where(at < curve_steps[0], np.nan, values)


def recent(trial: Trial, smooth: int = SMOOTH) -> tuple[list[int], float]:
    """The steps of the trial's last ``smooth`` points and its level: their mean value."""
    points = trial.measurements[-smooth:]
    return [s for s, _ in points], float(np.mean([v for _, v in points]))


def predict_final(current: float, levels: np.ndarray, finals: np.ndarray) -> float:
    """``current`` carried to the end by the peers' line from ``levels`` to ``finals`` (one
    entry per peer): slope b in [0, 1], intercept the median of ``finals - b * levels``."""
    spread = float(np.var(levels))
    slope = 1.0
    if len(levels) >= 3 and spread > 0.0:
        slope = float(np.clip(np.mean((levels - levels.mean()) * finals) / spread, 0.0, 1.0))
    return slope * current + float(np.median(finals - slope * levels))


def forecast_finals(trials: Sequence[Trial]) -> dict[str, float]:
    """Each trial stopped early (by trial id): its expected final value, from the completed
    trials that were not stopped. A trial gets none while fewer than two of them reach back
    to its last steps. (The forecast is the same whether the goal is to minimise or not.)"""
    finished = [t for t in trials if t.completed and not t.stopped_early and t.measurements]
    finished = finished[-MAX_PEERS:]
    stopped = [t for t in trials if t.stopped_early and t.measurements]
    if len(finished) < 2 or not stopped:
        return {}
    windows = {t.trial_id: recent(t) for t in stopped}
    grid = sorted({s for steps, _ in windows.values() for s in steps})
    column = {s: i for i, s in enumerate(grid)}
    at = np.array([values_at(t.measurements, grid) for t in finished])  # peers x steps
    finals = np.array([t.measurements[-1][1] for t in finished])
    out: dict[str, float] = {}
    for trial_id, (steps, current) in windows.items():
        levels = at[:, [column[s] for s in steps]].mean(axis=1)
        ok = np.isfinite(levels) & np.isfinite(finals)
        if ok.sum() >= 2 and np.isfinite(current):
            out[trial_id] = predict_final(current, levels[ok], finals[ok])
    return out


def estimates(trials: Sequence[Trial]) -> list[float | None]:
    """What a model should learn as each trial's result: its final value, or for a trial
    stopped early (whose last value is an early, partial one) its forecast final value from
    the trials that ran to the end, when there is one. None for trials without a result."""
    forecasts = forecast_finals([t for t in trials if t.completed])
    return [forecasts.get(t.trial_id, t.value) if t.completed else None for t in trials]


__all__ = ["PriorStudy", "SMOOTH", "Trial", "estimates", "forecast_finals", "predict_final",
           "recent", "values_at"]
