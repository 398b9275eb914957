"""A stopped trial's forecast final value, on constructed curves."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import curve_trial
from tf_hptune.trial import Trial, forecast_finals, values_at

STEPS = (100, 200, 300, 400, 500, 600, 700, 800)


def finished(tid: str, start: float, final: float) -> Trial:
    """A loss falling from ``start`` at the first step to ``final`` at the last, geometrically."""
    gap = (start - final) * 0.5 ** np.arange(len(STEPS))
    return curve_trial(tid, tuple(zip(STEPS, final + gap - gap[-1])), completed=True)


def stopped(tid: str, values: tuple[float, ...]) -> Trial:
    return curve_trial(tid, tuple(zip(STEPS, values)), completed=True, stopped_early=True)


def test_uninformative_early_values_forecast_the_typical_final_value():
    # early values all over the place, finals all near 1.06: an early 1.66 says little
    rng = np.random.default_rng(0)
    peers = [finished(str(i), 1.1 + 0.2 * rng.random(), 1.06 + 0.004 * rng.random())
             for i in range(12)]
    forecast = forecast_finals([*peers, stopped("s", (1.66,))])["s"]
    finals = [c.measurements[-1][1] for c in peers]
    assert min(finals) - 0.01 < forecast < max(finals) + 0.01


def test_parallel_curves_forecast_the_level_plus_the_change_to_the_end():
    # every finished curve ends the same distance below its level over steps 100 to 300
    peers = [finished(str(i), 2.0 + i, 1.0 + i) for i in range(5)]
    changes = [c.measurements[-1][1] - np.mean([v for _, v in c.measurements[:3]]) for c in peers]
    assert np.ptp(changes) < 1e-9
    forecast = forecast_finals([*peers, stopped("s", (9.0, 8.0, 7.0))])["s"]
    assert forecast == pytest.approx(8.0 + changes[0])


def test_only_stopped_trials_get_a_forecast_and_only_from_finished_peers():
    peers = [finished("a", 2.0, 1.0), finished("b", 3.0, 1.5)]
    trial = stopped("s", (2.5, 2.0))
    running = curve_trial("r", ((100, 2.0),))
    other = stopped("t", (9.0,))
    got = forecast_finals([*peers, trial, running, other])
    assert set(got) == {"s", "t"}
    # a stopped peer's last value is no final: dropping it changes nothing
    assert forecast_finals([*peers, trial]) == pytest.approx({"s": got["s"]})


def test_no_forecast_without_two_finished_peers_reaching_the_trials_steps():
    early = stopped("s", (2.0,))
    late_starter = curve_trial("late", ((300, 2.0), (800, 1.0)), completed=True)
    assert forecast_finals([finished("a", 2.0, 1.0), early]) == {}
    assert forecast_finals([finished("a", 2.0, 1.0), late_starter, early]) == {}
    assert "s" in forecast_finals([finished("a", 2.0, 1.0), finished("b", 2.0, 1.2), early])


def test_non_finite_values_give_no_forecast_and_spoil_no_other():
    peers = [finished(str(i), 2.0 + 0.1 * i, 1.0 + 0.1 * i) for i in range(4)]
    broken = curve_trial("x", ((100, float("nan")), (800, float("nan"))), completed=True)
    got = forecast_finals([*peers, broken, stopped("s", (2.2,)), stopped("n", (float("inf"),))])
    assert set(got) == {"s"} and np.isfinite(got["s"])


def test_values_at_interpolates_and_is_nan_before_the_first_point():
    got = values_at(((100, 1.0), (300, 3.0)), [50, 100, 200, 400])
    assert np.isnan(got[0]) and got[1:].tolist() == [1.0, 2.0, 3.0]
