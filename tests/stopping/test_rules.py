"""Each early-stopping rule on constructed learning curves."""
from __future__ import annotations

import pytest

from tests.conftest import curve_trial
from tf_hptune.spec import Goal
from tf_hptune.stopping import STOPPERS, make_stopper

STEPS = [100 * i for i in range(1, 11)]


def curve(tid, floor, upto=10, completed=False, goal=Goal.MINIMIZE, stopped=False):
    """A decaying loss towards ``floor`` (or a rising accuracy for MAXIMIZE)."""
    sign = 1.0 if goal is Goal.MINIMIZE else -1.0
    pts = tuple((s, sign * (floor + 1.0 / (i + 1))) for i, s in enumerate(STEPS[:upto]))
    return curve_trial(tid, pts, completed=completed, stopped_early=stopped)


def peers(goal=Goal.MINIMIZE, n=4):
    return [curve(str(i), 1.0 + 0.1 * i, completed=True, goal=goal) for i in range(n)]


@pytest.mark.parametrize("name", sorted(STOPPERS))
@pytest.mark.parametrize("goal", list(Goal))
def test_a_clearly_bad_curve_is_stopped_after_warm_up(name, goal):
    stopper = make_stopper(goal, name)
    bad = curve("bad", 5.0, upto=3, goal=goal)
    decision = stopper.decide(bad, [*peers(goal), bad])
    assert decision.should_stop and "rule" in decision.reason


@pytest.mark.parametrize("name", sorted(STOPPERS))
def test_a_good_curve_is_never_stopped(name):
    stopper = make_stopper(Goal.MINIMIZE, name)
    for upto in range(1, 11):
        good = curve("good", 0.95, upto=upto)
        assert not stopper.decide(good, [*peers(), good]).should_stop


@pytest.mark.parametrize("name", sorted(STOPPERS))
def test_the_current_best_trial_is_never_stopped(name):
    stopper = make_stopper(Goal.MINIMIZE, name)
    # worse than every completed trial at the same step, but its best value is the best seen
    odd = curve_trial("odd", ((100, 0.5), (200, 9.0), (300, 9.0)))
    assert not stopper.decide(odd, [*peers(), odd]).should_stop


@pytest.mark.parametrize("name", sorted(STOPPERS))
def test_warm_up_needs_completed_trials_and_steps(name):
    stopper = make_stopper(Goal.MINIMIZE, name, min_completed=3, min_step_fraction=0.3)
    bad = curve("bad", 5.0, upto=2)  # step 200 < 0.3 * 1000
    assert not stopper.decide(bad, [*peers(), bad]).should_stop
    bad = curve("bad", 5.0, upto=4)
    assert not stopper.decide(bad, [*peers(n=2), bad]).should_stop
    assert stopper.decide(bad, [*peers(n=3), bad]).should_stop


@pytest.mark.parametrize("name", sorted(STOPPERS))
def test_running_peers_do_not_count_as_completed(name):
    stopper = make_stopper(Goal.MINIMIZE, name)
    running = [curve(str(i), 1.0, upto=10) for i in range(5)]
    bad = curve("bad", 5.0, upto=5)
    assert not stopper.decide(bad, [*running, bad]).should_stop


def test_median_rule_uses_running_averages_up_to_the_step():
    stopper = make_stopper(Goal.MINIMIZE, "median")
    # completed trials end well but start badly: their running averages at step 200 are high
    slow = [curve_trial(str(i), ((100, 10.0), (200, 8.0), (1000, 1.0)), completed=True)
            for i in range(3)]
    trial = curve_trial("t", ((100, 8.5), (200, 8.5)))  # best 8.5 < median average 9.0
    assert not stopper.decide(trial, [*slow, trial]).should_stop
    trial = curve_trial("t", ((100, 9.5), (200, 9.5)))  # best 9.5 > 9.0
    assert stopper.decide(trial, [*slow, trial]).should_stop


def test_curve_rule_credits_a_trial_with_peers_that_improve_late():
    stopper = make_stopper(Goal.MINIMIZE, "curve")
    # completed peers improved by 3 to 4 after step 300: a trial level with them at step 300
    # can still beat the best, so it is kept; one far behind cannot.
    late = [curve_trial(str(i), ((100, 6.0 + i * 0.1), (300, 5.0 + i * 0.1),
                                 (1000, 1.0 + i * 0.5)), completed=True) for i in range(4)]
    close = curve_trial("c", ((100, 7.0), (300, 5.1)))
    far = curve_trial("f", ((100, 30.0), (300, 25.0)))
    assert not stopper.decide(close, [*late, close, far]).should_stop
    assert stopper.decide(far, [*late, close, far]).should_stop


def test_curve_rule_threshold_controls_aggressiveness():
    done = [curve_trial(str(i), ((100, 6.0), (300, 5.0 + i * 0.1), (1000, 1.0 + i * 0.5)),
                  completed=True) for i in range(4)]
    borderline = curve_trial("b", ((100, 7.0), (300, 5.3)))
    strict = make_stopper(Goal.MINIMIZE, "curve", threshold=1e-6)
    eager = make_stopper(Goal.MINIMIZE, "curve", threshold=0.9)
    assert not strict.decide(borderline, [*done, borderline]).should_stop
    assert eager.decide(borderline, [*done, borderline]).should_stop


def test_completed_trials_are_never_judged():
    stopper = make_stopper(Goal.MINIMIZE)
    done = curve("x", 9.0, completed=True)
    assert not stopper.decide(done, [*peers(), done]).should_stop


def test_unknown_rule_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown early-stopping rule 'nope'"):
        make_stopper(Goal.MINIMIZE, "nope")
