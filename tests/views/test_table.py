"""The trials table: the service's order, the last metric, the best so far in trial order."""
from __future__ import annotations

import json

from tests.views.conftest import CURVES
from tf_hptune.spec.model import Goal
from tf_hptune.views.table import COLUMNS, best_so_far, format_table, summary_rows


def test_rows_are_best_first_with_the_last_metric_and_the_best_so_far(stored_job):
    rows = summary_rows(stored_job.job, stored_job.trials)
    # Final losses 1: 0.8, 2: 0.42, 3: 2.6 (stopped early), 5: 0.35; then those without a
    # final metric (failed, running, cancelled) by id.
    assert [r["trial_id"] for r in rows] == ["5", "2", "1", "3", "4", "6", "7"]
    by_id = {r["trial_id"]: r for r in rows}
    assert all(tuple(r) == COLUMNS for r in rows)
    for tid, (curve, end) in CURVES.items():
        assert (by_id[tid]["step"], by_id[tid]["metric"]) == (curve[-1] if curve else
                                                              (None, None))
        assert by_id[tid]["stopped_early"] is (end == "stopped")
    assert by_id["6"]["state"] == "RUNNING" and by_id["4"]["state"] == "FAILED"
    assert {tid: r["best_so_far"] for tid, r in by_id.items()} == {
        "1": 0.8, "2": 0.42, "3": 0.42, "4": 0.42, "5": 0.35, "6": 0.35, "7": 0.35}
    params = {t.trial_id: dict(t.params) for t in stored_job.trials}
    assert {tid: r["params"] for tid, r in by_id.items()} == params
    assert json.loads(json.dumps(rows)) == rows  # plain values only


def test_best_so_far_follows_the_goal_and_counts_only_succeeded_trials(stored_job):
    best = best_so_far(stored_job.trials, Goal.MAXIMIZE)
    # the failed trial's 2.2 and the running trial's 1.4 never count
    assert best == {"1": 0.8, "2": 0.8, "3": 2.6, "4": 2.6, "5": 2.6, "6": 2.6, "7": 2.6}
    assert best_so_far([], Goal.MINIMIZE) == {}


def test_the_text_table_has_a_column_per_parameter_and_a_line_per_trial(stored_job):
    rows = summary_rows(stored_job.job, stored_job.trials)
    lines = format_table(rows, "loss").splitlines()
    assert len(lines) == 1 + len(rows) and "\x1b" not in "".join(lines)
    header = lines[0].split()
    assert header[0] == "TRIAL" and "loss" in header and "BEST_SO_FAR" == header[-1]
    assert {"nembeds", "nnsize", "learning-rate", "momentum", "optimizer"} <= set(header)
    state_col = lines[0].index("STATE")
    assert [line[state_col:].split()[0] for line in lines[1:]] == [r["state"] for r in rows]
    first = lines[1]
    assert first.split()[0] == "5" and "0.35" in first.split()
    # a categorical value with spaces stays one cell, under its column
    col = lines[0].index("optimizer")
    for line, row in zip(lines[1:], rows):
        assert line[col:].startswith(str(row["params"]["optimizer"]))
