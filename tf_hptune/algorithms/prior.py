"""Transfer: which earlier jobs inform a new one, and what they hand to its designer.

The service's rule of thumb: jobs whose names share most of their characters
(``babyweight_regression_<timestamp>``) learn from each other. Here an earlier job counts when
the common prefix of the two names covers more than half of the new name, it has ended with at
least one trial that has a metric, it optimises the same metric tag with the same goal, and it
shares at least one parameter name. Ranges, categories and the set of parameters may differ:
``prior_rows`` maps the earlier trials into the new space, and the designer decides how much
to trust them (see ``Designer.set_priors``).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tf_hptune.algorithms.base import PriorStudy, estimates, views_of
from tf_hptune.space import SearchSpace
from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.spec.model import Goal
from tf_hptune.store import JobRecord, Store


def similar_names(new: str, earlier: str) -> bool:
    """True when the names' common prefix covers more than half of ``new``."""
    return len(os.path.commonprefix([new, earlier])) * 2 > len(new)


def is_related(new_name: str, spec: StudySpec, job: JobRecord) -> bool:
    """The rule of the module docstring, on names and specs only."""
    if job.name == new_name or not job.state.is_final or not similar_names(new_name, job.name):
        return False
    earlier = load_spec(job.config)
    shared = {p.name for p in spec.params} & {p.name for p in earlier.params}
    return bool(shared) and earlier.goal is spec.goal and earlier.metric_tag == spec.metric_tag


def prior_study(store: Store, job: JobRecord) -> PriorStudy:
    """``job``'s trials that ended with a finite metric."""
    trials = tuple(view for view in views_of(store.list_trials(job.name))
                   if view.value is not None and math.isfinite(view.value))
    return PriorStudy(job.name, load_spec(job.config).params, trials)


def find_prior_studies(
    store: Store, name: str, spec: StudySpec, exclude: Iterable[str] = ()
) -> list[PriorStudy]:
    """The related earlier jobs of ``store`` with at least one result (oldest first), minus
    ``exclude``."""
    skip = set(exclude)
    found = (prior_study(store, job) for job in store.list_jobs()
             if job.name not in skip and is_related(name, spec, job))
    return [p for p in found if p.trials]


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
    sign = 1.0 if goal is Goal.MINIMIZE else -1.0
    for study in priors:
        # a trial stopped early ranks by its forecast final value
        trials = sorted(((v, t) for t, v in zip(study.trials, estimates(study.trials))
                         if v is not None), key=lambda pair: sign * pair[0])
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
