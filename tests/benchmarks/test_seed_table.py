"""The four-job table's counts, from jobs as ``jobs describe`` prints them. No TF."""

from __future__ import annotations

import pytest

from benchmarks import seed_table


def trial(tid: str, values: list[float], stopped: bool = False) -> dict:
    return {
        "trialId": tid, "state": "SUCCEEDED", "isTrialStoppedEarly": stopped,
        "hyperparameters": {"nnsize": 16},
        "finalMetric": {"trainingStep": str(100 * len(values)), "objectiveValue": values[-1]},
        "allMetrics": [{"trainingStep": str(100 * (i + 1)), "objectiveValue": v}
                       for i, v in enumerate(values)],
    }


def job(name: str, trials: list[dict], compute: float) -> dict:
    return {"jobId": name, "trainingOutput": {"trials": trials, "consumedMLUnits": compute}}


# Three trials run to the end, each falling by 1.0 after step 300 (plus 0.5 from step 100 to
# 300); a trial stopped at step 100 with a high first value is forecast 1.5 below it.
FULL = [trial(str(i), [2.0 + i, 2.0 + i, 1.5 + i, 1.2 + i, 1.0 + i]) for i in range(3)]


def test_stopped_trials_count_at_their_forecast_in_the_worst_column():
    stopped = trial("9", [4.2], stopped=True)
    w = seed_table.worst_of(seed_table.trials_of(job("j_1", [*FULL, stopped], 10.0)))
    assert w.best == 1.0 and w.last == 4.2 and w.full == 3.0 and w.stopped == 1
    assert w.forecast == pytest.approx(4.2 - 1.0)  # worse than every finished trial
    # a stopped trial whose forecast is better than the worst finished one leaves it worst
    mild = trial("9", [3.6], stopped=True)
    w = seed_table.worst_of(seed_table.trials_of(job("j_1", [*FULL, mild], 10.0)))
    assert w.last == 3.6 and w.forecast == 3.0


def test_a_resumed_job_forecasts_from_the_job_it_resumes():
    earlier = seed_table.trials_of(job("j_2", FULL, 10.0))
    alone = [trial("9", [4.2], stopped=True), trial("10", [2.5, 2.5, 2.0, 1.7, 1.5])]
    trials = seed_table.trials_of(job("j_4", alone, 5.0))
    assert seed_table.worst_of(trials).forecast == 4.2  # nothing to forecast from: last value
    assert seed_table.worst_of(trials, earlier).forecast == pytest.approx(3.2)


def test_the_worst_targets_are_judged_on_the_forecast_column():
    jobs = [
        job("j_1", FULL, 100.0),
        job("j_2", [*FULL[:2], trial("9", [4.2], stopped=True)], 60.0),  # forecast 3.2 > 3.0
        job("j_3", [*FULL[:2], trial("9", [5.5], stopped=True)], 50.0),  # last 5.5, fc 4.5
        job("j_4", [*FULL[:2], trial("9", [5.0], stopped=True)], 50.0),  # last 5.0, fc 4.0
    ]
    lines = seed_table.verdicts(jobs, [[], [], [], []])
    assert lines[0].endswith(": met") and "60%" in lines[0]
    assert "3.2000 against 3.0000: not met" in lines[1]
    assert "4.0000 against 4.5000: met" in lines[2]
