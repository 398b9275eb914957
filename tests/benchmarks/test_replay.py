"""The early-stopping replay: its clock, what rules may see, and what it counts. No TF."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace

import numpy as np
import pytest

from benchmarks import replay
from tf_hptune.spec.model import Goal
from tf_hptune.stopping import STOPPERS, StopDecision
from tf_hptune.trial import Trial


def make_curves(steps: Sequence[Sequence[int]], goal: Goal = Goal.MINIMIZE) -> replay.CurveSet:
    """Curves whose values tell configuration and point apart: config c, point k -> c + k/100."""
    return replay.CurveSet(
        example="synthetic",
        metric="loss",
        goal=goal,
        steps=[np.asarray(s, dtype=np.int64) for s in steps],
        values=[c + np.arange(len(s)) / 100.0 for c, s in enumerate(steps)],
        wall_seconds=np.array([10.0 * (c + 1) for c in range(len(steps))]),
    )


STEPS = [
    [10, 20, 30, 40],
    [5, 15, 25],
    [7, 14, 21, 28, 35, 42],
    [40],
    [12, 24],
    [3, 6, 9, 12, 15, 18, 21],
    [20, 40, 60],
    [11, 22, 33, 44],
]


class SpyStopper:
    """Records every question; stops trials of odd configurations at their second point."""

    def __init__(self) -> None:
        self.calls: list[tuple[Trial, list[Trial]]] = []

    def decide(self, trial: Trial, peers: Sequence[Trial]) -> StopDecision:
        self.calls.append((trial, list(peers)))
        config = int(trial.measurements[0][1])
        return StopDecision(config % 2 == 1 and len(trial.measurements) == 2, "spy")


class AlwaysStop:
    """Stops every trial at its first measurement."""

    def __init__(self, goal: Goal, **options: float) -> None:
        self.goal = goal

    def decide(self, trial: Trial, peers: Sequence[Trial]) -> StopDecision:
        return StopDecision(True, "always")


@pytest.mark.parametrize("parallel", [1, 2, 3, 8])
def test_rules_never_see_a_peer_point_from_the_future(parallel):
    curves = make_curves(STEPS)
    order = [5, 0, 2, 7, 1, 6, 3, 4]
    spy = SpyStopper()
    result = replay.simulate_job(curves, order, parallel, replay.StopperPolicy(spy))
    assert spy.calls
    config_of = {str(i + 1): c for i, c in enumerate(order)}
    ended_at = {
        tid: result.starts[tid] + curve.last_step for tid, curve in result.finals.items()
    }
    for trial, peers in spy.calls:
        now = result.starts[trial.trial_id] + trial.last_step
        assert not trial.completed and trial.trial_id not in {p.trial_id for p in peers}
        # Every trial started before now is a peer, and nothing started later.
        ids = {p.trial_id for p in peers}
        assert {tid for tid, start in result.starts.items() if start < now} - ids == {
            trial.trial_id
        }
        assert all(result.starts[tid] <= now for tid in ids)
        for peer in peers:
            start = result.starts[peer.trial_id]
            assert all(start + step <= now for step, _ in peer.measurements)
            config = config_of[peer.trial_id]
            full = list(zip(STEPS[config], curves.values[config]))
            known = [(s, v) for s, v in full if start + s <= now]
            final = result.finals[peer.trial_id]
            if peer.stopped_early:
                assert peer.completed and final.stopped_early and ended_at[peer.trial_id] <= now
                assert list(peer.measurements) == list(final.measurements)
            elif peer.completed:
                assert list(peer.measurements) == full and start + full[-1][0] <= now
            else:
                assert list(peer.measurements) == known
                assert ended_at[peer.trial_id] > now or (
                    final.stopped_early and ended_at[peer.trial_id] == now
                )


def test_stopped_trials_keep_their_last_value_and_free_their_slot():
    curves = make_curves(STEPS)
    result = replay.simulate_job(curves, [1, 0, 3], 1, replay.StopperPolicy(SpyStopper()))
    # Config 1 is stopped at its second point (step 15); the next trial starts right then.
    assert result.finals["1"].stopped_early and result.finals["1"].measurements[-1] == (15, 1.01)
    assert result.starts == {"1": 0, "2": 15, "3": 55}
    assert result.steps == 15 + 40 + 40 and result.stopped == 1 and result.duration == 95
    assert result.best == 0.03  # config 0's last value, minimised
    assert result.compute == pytest.approx(20.0 * 15 / 25 + 10.0 + 40.0)


class StopAtSecondPoint:
    """Stops the trials ``ids`` at their second measurement."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    def decide(self, trial: Trial, peers: Sequence[Trial]) -> StopDecision:
        return StopDecision(trial.trial_id in self.ids and len(trial.measurements) == 2, "test")


def test_stopped_trials_errors_and_the_worst_trial_are_measured_against_their_curves():
    # configuration c ends at 10 + c, each curve 0.4 above its end at its second point
    steps = [[10, 20, 30, 40]] * 6
    curves = replay.CurveSet("synthetic", "loss", Goal.MINIMIZE,
                             [np.asarray(s) for s in steps],
                             [10.0 + c + np.array([1.0, 0.4, 0.1, 0.0]) for c in range(6)],
                             np.ones(6))
    order = [0, 1, 2, 3, 4, 5]
    stop = replay.StopperPolicy(StopAtSecondPoint({"4", "5", "6"}))
    result = replay.simulate_job(curves, order, 6, stop)
    # the last values are 0.4 off; the finished curves, all parallel, forecast the end exactly
    assert [e[0] for e in result.errors] == pytest.approx([0.4 / 13, 0.4 / 14, 0.4 / 15])
    assert [e[1] for e in result.errors] == pytest.approx([0.0] * 3, abs=1e-12)
    assert result.worst == pytest.approx(15.4) and result.best == pytest.approx(10.0)
    none = replay.simulate_job(curves, order, 6, replay.NoStopping())
    assert none.errors == () and none.worst == pytest.approx(15.0)


def test_no_stopping_consumes_every_step_of_every_curve():
    curves = make_curves(STEPS, Goal.MAXIMIZE)
    order = replay.draw_order(len(curves), 6, seed=3, job=1)
    assert len(set(order.tolist())) == 6
    result = replay.simulate_job(curves, order, 2, replay.NoStopping())
    assert result.steps == sum(STEPS[c][-1] for c in order)
    assert result.compute == pytest.approx(sum(curves.wall_seconds[c] for c in order))
    assert result.best == max(curves.values[c][-1] for c in order)
    assert result.stopped == 0


def test_slots_are_refilled_when_trials_end():
    curves = make_curves([[10, 30], [10], [5, 20]])
    result = replay.simulate_job(curves, [0, 1, 2], 2, replay.NoStopping())
    assert result.starts == {"1": 0, "2": 0, "3": 10}
    assert result.duration == 30


def test_a_rule_that_always_stops_after_the_first_point_saves_the_rest(monkeypatch):
    monkeypatch.setitem(STOPPERS, "always", AlwaysStop)
    steps = [list(range(10, 101, 10))] * 12
    curves = make_curves(steps)
    summaries = replay.compare(curves, 8, 3, jobs=5, rules=[("always", {})], seed=0)
    none, always = summaries
    assert none.steps_saved == 0.0 and none.within == 1.0 and none.stopped_per_job == 0.0
    assert always.steps_saved == pytest.approx(0.9)
    assert always.compute_saved == pytest.approx(0.9)
    assert always.stopped_per_job == 8.0
    # minimising values that grow along each curve: the first value is never the worse one
    assert always.worst_raised == 0.0 and np.isnan(none.last_error)

    # With curves of different lengths, each trial keeps exactly its first step.
    curves = make_curves(STEPS)
    order = [0, 1, 2, 3, 4, 5, 6, 7]
    result = replay.simulate_job(
        curves, order, 3, replay.StopperPolicy(AlwaysStop(Goal.MINIMIZE))
    )
    assert result.steps == sum(s[0] for s in STEPS)
    assert result.stopped == sum(len(s) > 1 for s in STEPS)  # a one-point curve just ends


class StopIfAnyFinished:
    """Stops a trial at its first measurement when some peer has already ended."""

    def __init__(self, goal: Goal, **options: float) -> None:
        self.goal = goal

    def decide(self, trial: Trial, peers: Sequence[Trial]) -> StopDecision:
        return StopDecision(len(trial.measurements) == 1 and any(p.completed for p in peers))


def test_a_resumed_job_numbers_after_the_earlier_one_and_its_rule_sees_those_trials():
    curves = make_curves(STEPS)
    earlier = replay.simulate_job(curves, [0, 1, 2], 2, replay.NoStopping())
    spy = SpyStopper()
    result = replay.simulate_job(curves, [3, 4, 5, 6, 7], 2, replay.StopperPolicy(spy),
                                 previous=tuple(earlier.finals.values()))
    assert set(result.starts) == {"4", "5", "6", "7", "8"}
    assert spy.calls and all({"1", "2", "3"} <= {p.trial_id for p in peers}
                             for _, peers in spy.calls)
    assert result.steps <= sum(STEPS[c][-1] for c in [3, 4, 5, 6, 7])  # the earlier not counted


def test_resume_mode_measures_the_resumed_job_with_and_without_the_earlier_trials(monkeypatch):
    monkeypatch.setitem(STOPPERS, "finished", StopIfAnyFinished)
    steps = np.arange(10, 101, 10)
    # twelve equal curves rising to 1.09: stopping a trial at its first point costs 8%
    values = [1.0 + np.arange(10) / 100.0] * 12
    curves = replay.CurveSet("synthetic", "accuracy", Goal.MAXIMIZE, [steps] * 12, values,
                             np.ones(12), clean=values)
    # all 4 trials of the measured job start together: alone, none has ended at a first point
    none, continued, alone = replay.compare(curves, 4, 4, jobs=3, rules=[("finished", {})],
                                            seed=0, resume=6)
    assert none.steps_saved == 0.0
    assert continued.rule == "finished" and continued.steps_saved == pytest.approx(0.9)
    # its own best is 1.00 against 1.09, but the search's best is the earlier job's 1.09
    assert continued.within == 1.0 and continued.median_gap == 0.0
    # judged without noise too, the search's best trial is the earlier job's
    assert continued.within_clean == 1.0 and continued.median_gap_clean == 0.0
    assert alone.rule == "finished, job alone" and alone.steps_saved == 0.0


def test_the_first_wave_reference_keeps_only_the_first_parallel_trials():
    curves = make_curves([list(range(10, 101, 10))] * 12)
    _, first_wave = replay.compare(curves, 8, 3, jobs=2, rules=[("first-wave", {})], seed=0)
    assert first_wave.steps_saved == pytest.approx(1 - (3 * 100 + 5 * 10) / 800)
    assert first_wave.stopped_per_job == 5.0


def test_relative_gap_is_measured_against_no_stopping_on_the_same_draw(monkeypatch):
    monkeypatch.setitem(STOPPERS, "always", AlwaysStop)
    # Minimising: values grow along each curve, so stopping early finds a *better* best.
    curves = make_curves([[1, 2, 3]] * 4)
    _, always = replay.compare(curves, 4, 2, jobs=3, rules=[("always", {})], seed=1)
    assert always.within == 1.0 and always.as_good == 1.0 and always.median_gap < 0.0
    # Maximising the same curves, stopping at the first point loses.
    curves = make_curves([[1, 2, 3]] * 4, Goal.MAXIMIZE)
    none, always = replay.compare(curves, 4, 2, jobs=3, rules=[("always", {})], seed=1)
    assert none.as_good == 1.0 and always.as_good == 0.0 and always.median_gap > 0.0


class StopHighStarters:
    """Stops a trial at its second point when its first value is above 3.5."""

    def __init__(self, goal: Goal, **options: float) -> None:
        self.goal = goal

    def decide(self, trial: Trial, peers: Sequence[Trial]) -> StopDecision:
        return StopDecision(len(trial.measurements) == 2 and trial.measurements[0][1] > 3.5)


def test_noise_free_judgement_scores_the_trial_each_job_reports_at_its_clean_value(monkeypatch):
    monkeypatch.setitem(STOPPERS, "high", StopHighStarters)
    steps = [np.array([1, 2, 3])] * 2
    # config 1's last evaluation is lucky: 0.90 reported, 1.05 without noise
    clean = [np.array([3.0, 2.0, 1.00]), np.array([4.0, 2.0, 1.05])]
    noisy = [clean[0], np.array([4.0, 2.0, 0.90])]
    curves = replay.CurveSet("synthetic", "loss", Goal.MINIMIZE, steps, noisy, np.ones(2),
                             clean=clean)
    none, high = replay.compare(curves, 2, 1, jobs=2, rules=[("high", {})], seed=0)
    assert none.within_clean == 1.0 and none.median_gap_clean == 0.0
    # stopping config 1 loses the lucky 0.90 (11% worse as reported) but keeps the truly
    # better config 0 (1.00 against 1.05 without noise)
    assert high.within == 0.0 and high.median_gap == pytest.approx(0.1 / 0.9)
    assert high.within_clean == 1.0 and high.median_gap_clean == pytest.approx(-0.05 / 1.05)
    # a recorded family has no noise-free values to judge by
    _, high = replay.compare(replace(curves, clean=None), 2, 1, jobs=2, rules=[("high", {})],
                             seed=0)
    assert np.isnan(high.within_clean) and np.isnan(high.median_gap_clean)
    assert "| - | - |" in replay.format_table([high])


def test_optuna_pruners_replay_on_the_same_schedule():
    pytest.importorskip("optuna")
    rng = np.random.default_rng(0)
    steps = [list(range(10, 101, 10))] * 30
    curves = replay.CurveSet(
        "synthetic", "loss", Goal.MINIMIZE,
        [np.asarray(s) for s in steps],
        [1.0 + rng.uniform(0, 1) + np.linspace(1, 0, 10) for _ in steps],
        np.ones(30),
    )
    rules = [("optuna-median", {}), ("optuna-hyperband", {"reduction_factor": 2})]
    none, median, hyperband = replay.compare(curves, 20, 4, jobs=3, rules=rules, seed=0)
    assert median.rule == "optuna-median" and median.stopped_per_job > 0
    assert 0.0 < median.steps_saved < 1.0
    assert hyperband.rule == "optuna-hyperband (reduction_factor=2)"
    assert 0.0 <= hyperband.steps_saved < 1.0


def test_rule_and_option_parsing():
    assert replay.parse_rule("curve:threshold=0.1,min_completed=5") == (
        "curve", {"threshold": 0.1, "min_completed": 5}
    )
    assert replay.parse_rule("median") == ("median", {})
    with pytest.raises(SystemExit):
        replay.parse_rule("nope")
    with pytest.raises(SystemExit):
        replay.parse_options(["threshold"])
    assert replay.parse_setting("40x5") == (40, 5)


def test_synthetic_families_are_seeded_and_have_their_shapes():
    for name in replay.SYNTHETIC:
        a, b = replay.synthetic_curves(name), replay.synthetic_curves(name)
        assert len(a) == replay.SYNTH_CONFIGS and a.goal is Goal.MINIMIZE
        assert all(np.array_equal(x, y) for x, y in zip(a.values, b.values))
        # the noise-free curves lie under the evaluations' noise, within a few percent
        assert a.clean is not None and len(a.clean) == len(a.values)
        ratios = np.concatenate(a.values) / np.concatenate(a.clean) - 1.0
        assert 0.0 < np.std(ratios) < 0.01 and np.max(np.abs(ratios)) < 0.1
    first, final = (np.array([v[k] for v in replay.synthetic_curves("synth_crossing").values])
                    for k in (0, -1))
    # slow starters end best: the first value ranks the final ones backwards
    assert np.corrcoef(np.argsort(np.argsort(first)), np.argsort(np.argsort(final)))[0, 1] < 0
    names = replay.family_names(replay.DATA_DIR)
    assert names[-len(replay.SYNTHETIC):] == list(replay.SYNTHETIC)
    assert {"babyweight", "census", "lr_batch", "keras_epochs"} <= set(names)
    with pytest.raises(SystemExit, match="no family 'nope'"):
        replay.load_family("nope", replay.DATA_DIR)


def summary(rule: str, saved: float, within: float) -> replay.Summary:
    return replay.Summary(
        rule=rule, steps_saved=saved, compute_saved=saved, duration_saved=saved, within=within,
        within_clean=within, as_good=within, median_gap=0.0, worst_gap=0.0,
        median_gap_clean=0.0, worst_raised=0.0, stopped_per_job=0.0, last_error=0.0,
        forecast_error=0.0, seconds=0.0)


def test_targets_name_the_anchors_that_do_as_well_on_both_counts():
    ours = summary("calibrated", 0.55, 0.92)
    assert replay.dominated(ours, summary("median", 0.60, 0.92))
    assert replay.dominated(ours, summary("median", 0.55, 0.95))
    assert not replay.dominated(ours, summary("median", 0.55, 0.92))  # a tie is not worse
    assert not replay.dominated(ours, summary("median", 0.70, 0.90))  # saves more, keeps less
    line = replay.target_row("f", "40x5", [ours, summary("median", 0.6, 0.95),
                                            summary("optuna-sh", 0.8, 0.5)], "calibrated")
    assert line.startswith("| f | 40x5 | 55.0% |") and "| yes | no | median |" in line


def test_report_reprints_a_json_file(tmp_path, capsys):
    rows = [{"family": "f", "setting": "40x5", **asdict(s)} for s in
            (summary("none", 0.0, 1.0), summary("calibrated", 0.55, 0.92),
             summary("median", 0.4, 1.0))]
    for row in rows[1:]:  # as written before the noise-free columns
        del row["within_clean"], row["median_gap_clean"]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    replay.report(path, "calibrated")
    out = capsys.readouterr().out
    assert "| f | 40x5 | 55% / 92% | 40% / 100% |" in out
    assert "| f | 40x5 | 55.0% | 55.0% | 92.0% | 92.0% | 0.00% | - |" in out
    assert "| yes | no | none |" in out
