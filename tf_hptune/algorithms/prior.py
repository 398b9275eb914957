"""Earlier jobs' trials placed in a new job's space.

Which earlier jobs count is ``tf_hptune.history``'s business; their ranges, categories and set
of parameters may differ from the new job's. ``positions`` and ``prior_rows`` map their trials
into the new space by parameter name, and each designer decides how much to trust them (see
``Designer.set_priors``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tf_hptune.space import SearchSpace
from tf_hptune.spec.model import Goal
from tf_hptune.trial import PriorStudy, estimates


def positions(space: SearchSpace, params: Mapping[str, Any]) -> np.ndarray:
    """An earlier trial's values as a row of ``space``'s unit columns, by parameter name and
    unclipped (a value outside the new range lies outside [0, 1]). The columns of a parameter
    the earlier job lacked, of a category the new job lacks, or of a value that cannot be
    placed are NaN; a parameter the new job dropped is ignored."""
    cols = []
    for d in space.dimensions:
        try:
            col = d.position(params[d.name])
        except (KeyError, ValueError, TypeError, OverflowError):
            col = np.full(d.width, np.nan)
        cols.append(np.where(np.isfinite(col), col, np.nan))
    return np.concatenate(cols)


def prior_rows(
    space: SearchSpace, priors: Sequence[PriorStudy], goal: Goal, rng: np.random.Generator
) -> np.ndarray:
    """The priors' trials as feasible rows of ``space``, most promising first.

    Each trial is placed by ``positions`` and then made feasible: a value outside the new range
    is clipped into it, and a parameter without a position is drawn at random. Trials are
    ranked within their own job (so jobs with other scales mix fairly) and interleaved by that
    rank; duplicates are dropped.
    """
    ranked: list[tuple[float, np.ndarray]] = []
    for study in priors:
        # a trial stopped early ranks by its forecast final value
        trials = sorted(((v, t) for t, v in zip(study.trials, estimates(study.trials))
                         if v is not None), key=lambda pair: goal.loss(pair[0]))
        for rank, (_, trial) in enumerate(trials):
            ranked.append(((rank + 0.5) / len(trials), positions(space, trial.params)))
    if not ranked:
        return np.zeros((0, space.width))
    ranked.sort(key=lambda pair: pair[0])
    rows = np.vstack([row for _, row in ranked])
    start = 0
    for d in space.dimensions:
        block = rows[:, start:start + d.width]
        missing = np.isnan(block).any(axis=1)
        block[missing] = d.sample_units(rng, int(missing.sum()))
        start += d.width
    rows = space.snap(rows)
    rows = rows[space.feasible_rows(rows)]
    _, first = np.unique(rows.round(12), axis=0, return_index=True)
    return rows[np.sort(first)]
