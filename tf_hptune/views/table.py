"""A job's trials as table rows: best first, with plain values (str, int, float, bool, None),
for a terminal table, a notebook table or a DataFrame."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tf_hptune.spec import load_spec
from tf_hptune.spec.model import Goal
from tf_hptune.store import JobRecord, State, TrialRecord
from tf_hptune.study import has_metric, sort_best_first

COLUMNS = ("trial_id", "params", "metric", "step", "state", "stopped_early", "best_so_far")
"""The keys of every row, in display order; ``params`` maps each parameter to its value."""


def last_metric(t: TrialRecord) -> tuple[float | None, int | None]:
    """A trial's final metric and its step once it has one, else its last measurement (a
    running trial's latest value), else ``(None, None)``."""
    if t.final_value is not None and t.final_step is not None:
        return t.final_value, t.final_step
    if t.measurements:
        return t.measurements[-1].value, t.measurements[-1].step
    return None, None


def best_so_far(trials: Sequence[TrialRecord], goal: Goal) -> dict[str, float | None]:
    """For each trial id, the best final metric among the SUCCEEDED trials up to it in
    trial-id order (None before the first); these are the trials ``Study.best_trial`` ranks."""
    out: dict[str, float | None] = {}
    best: float | None = None
    for t in sorted(trials, key=lambda t: t.number):
        if t.state is State.SUCCEEDED and has_metric(t):
            value: float = t.final_value  # type: ignore[assignment]
            if best is None or goal.loss(value) < goal.loss(best):
                best = value
        out[t.trial_id] = best
    return out


def summary_rows(job: JobRecord, trials: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    """One row per trial of ``job``, best first (``sort_best_first``, as ``describe``), with the
    keys of ``COLUMNS``: ``trial_id`` (str), ``params`` (typed values), ``metric`` and
    ``step`` (``last_metric``), ``state`` (the state's name), ``stopped_early`` (bool) and
    ``best_so_far`` (``best_so_far``)."""
    goal = load_spec(job.config).goal
    best = best_so_far(trials, goal)
    rows = []
    for t in sort_best_first(trials, goal):
        metric, step = last_metric(t)
        rows.append({
            "trial_id": t.trial_id,
            "params": dict(t.params),
            "metric": metric,
            "step": step,
            "state": t.state.value,
            "stopped_early": t.stopped_early,
            "best_so_far": best[t.trial_id],
        })
    return rows


def cell(value: Any, missing: str = "-") -> str:
    """A value as a table shows it: ``missing`` for None, "yes" or nothing for a flag, floats
    with 6 significant digits."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], metric_tag: str = "metric") -> str:
    """``summary_rows`` as a plain-text table (one header line, one line per row, columns
    padded with spaces, no escape codes); a column per parameter, the metric column headed by
    ``metric_tag``."""
    names: list[str] = []
    for row in rows:
        names += [n for n in row["params"] if n not in names]
    header = ["TRIAL", *names, metric_tag, "STEP", "STATE", "STOPPED_EARLY", "BEST_SO_FAR"]
    body = [[cell(row["trial_id"]), *(cell(row["params"].get(n)) for n in names),
             cell(row["metric"]), cell(row["step"]), row["state"],
             cell(row["stopped_early"]), cell(row["best_so_far"])] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in [header, *body])


__all__ = ["COLUMNS", "best_so_far", "cell", "format_table", "last_metric", "summary_rows"]
