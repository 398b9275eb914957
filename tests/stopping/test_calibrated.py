"""The calibrated rule: what it knows from the job's finished curves, and what it does not."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import curve_trial
from tf_hptune.spec import Goal
from tf_hptune.stopping import make_stopper
from tf_hptune.stopping.calibrated import best_by

STEPS = [100 * i for i in range(1, 11)]
SMALL = [0.01, -0.01, 0.005, -0.005, 0.0, 0.008, -0.008, 0.002, 0.012, -0.012, 0.004, -0.004]


def finished(i: int, value, steps=STEPS):
    """A finished curve ``value(step)``."""
    return curve_trial(str(i), tuple((s, float(value(s))) for s in steps), completed=True)


def decide(trial, peers, **options):
    return make_stopper(Goal.MINIMIZE, "calibrated", **options).decide(trial, [*peers, trial])


def test_running_best_ignores_spikes_and_is_unknown_before_the_first_point():
    points = ((100, 3.0), (200, 2.0), (300, 2.5), (400, 1.5))
    at = np.array([50.0, 100.0, 250.0, 300.0, 400.0])
    np.testing.assert_array_equal(best_by(points, 1.0, at), [np.nan, 3.0, 2.0, 2.0, 1.5])
    np.testing.assert_array_equal(best_by(points, -1.0, at), [np.nan, -3.0, -3.0, -3.0, -3.0])


def test_few_finished_curves_give_wide_predictions():
    # Finished curves fall by about the same amount after step 300, with a little scatter; a
    # trial 0.1 behind the best at step 300 is kept while 4 curves are finished, and stopped
    # once 12 tell the same story with more certainty.
    peers = [finished(i, lambda s, i=i: 1.0 + 0.05 * i + (1.0 + 10 * SMALL[i]) * np.exp(-s / 300))
             for i in range(12)]
    trial = curve_trial("t", tuple((s, 1.1 + np.exp(-s / 300)) for s in STEPS[:3]))
    assert not decide(trial, peers[:4]).should_stop
    assert decide(trial, peers).should_stop
    # and nothing is stopped before 4 curves have finished, however bad
    hopeless = curve_trial("h", ((100, 9.0), (200, 9.0), (300, 9.0)))
    assert not decide(hopeless, peers[:3]).should_stop
    assert decide(hopeless, peers[:4]).should_stop


def test_a_trial_still_falling_fast_is_not_a_trial_on_its_plateau():
    # every finished curve was flat from step 300 on
    peers = [finished(i, lambda s, i=i: 1.0 + 0.1 * i + SMALL[i] * (s < 1000)
                      + 0.5 * max(0.0, 3 - s / 100)) for i in range(8)]
    flat = curve_trial("a", ((100, 2.6), (200, 2.1), (300, 1.6), (400, 1.6), (500, 1.6),
                             (600, 1.6)))
    falling = curve_trial("b", ((100, 3.8), (200, 3.4), (300, 3.0), (400, 2.5), (500, 2.0),
                                (600, 1.6)))
    assert decide(flat, peers).should_stop
    assert not decide(falling, peers).should_stop


def test_how_much_early_values_say_is_measured_on_the_jobs_own_curves():
    # The same trial at step 200: stopped where finished curves ran parallel (the level there
    # ranks them), kept where slow learners ended best (the level says little).
    def curves(tau):
        return [finished(i, lambda s, i=i: 1.0 + 0.1 * i + 2.0 * np.exp(-s / tau(i))
                         + 0.01 * SMALL[i] * (s == 1000)) for i in range(8)]

    trial = curve_trial("t", ((100, 2.8), (200, 2.45)))
    assert decide(trial, curves(lambda i: 150)).should_stop
    assert not decide(trial, curves(lambda i: 600 - 60 * i)).should_stop


def test_deciding_at_more_evaluations_asks_for_more_certainty_at_each():
    # The same curves evaluated 4 or 40 times: the same prediction for the trial, but with 40
    # looks at which it could be stopped, each look's threshold is lower.
    def value(i, s):
        return (1.0 + 0.1 * i + 2.0 * max(0.0, 1 - s / 500)
                - SMALL[i] * 4 * min(1.0, max(0.0, (s - 500) / 500)))

    trial = curve_trial("t", ((250, 2.04), (500, 1.04)))
    few = [finished(i, lambda s, i=i: value(i, s), [250, 500, 750, 1000]) for i in range(8)]
    many = [finished(i, lambda s, i=i: value(i, s), range(25, 1001, 25)) for i in range(8)]
    stopper = make_stopper(Goal.MINIMIZE, "calibrated")
    p_few, p_many = stopper.predict(trial, few)[0], stopper.predict(trial, many)[0]
    assert p_few == pytest.approx(p_many) and 0.1 / np.sqrt(40) < p_few < 0.1 / np.sqrt(4)
    assert decide(trial, few).should_stop
    assert not decide(trial, many).should_stop


def test_trials_stopped_early_are_not_finished_curves():
    peers = [finished(i, lambda s, i=i: 1.0 + 0.1 * i + np.exp(-s / 300)) for i in range(3)]
    stopped = [curve_trial(str(10 + i), ((100, 5.0),), completed=True, stopped_early=True)
               for i in range(5)]
    hopeless = curve_trial("h", ((100, 9.0), (200, 9.0), (300, 9.0)))
    assert not decide(hopeless, [*peers, *stopped]).should_stop


def test_tolerance_stops_a_trial_that_could_only_tie_the_best():
    peers = [finished(i, lambda s, i=i: 1.0 + 0.1 * i + SMALL[i] * (s == 1000)
                      + np.exp(-s / 200)) for i in range(8)]
    tie = curve_trial("t", tuple((s, 1.003 + np.exp(-s / 200)) for s in STEPS[:6]))
    assert not decide(tie, peers, tolerance=0.0).should_stop
    assert decide(tie, peers, tolerance=0.05).should_stop
