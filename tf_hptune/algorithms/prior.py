"""Transfer: which earlier jobs inform a new one, and what they hand to its designer.

The service's rule of thumb: jobs whose names share most of their characters
(``babyweight_regression_<timestamp>``) learn from each other. Here an earlier job counts when
the common prefix of the two names covers more than half of the new name, it has ended with at
least one trial that has a metric, it optimises the same metric tag with the same goal, and it
shares at least one parameter name. Ranges, categories and the set of parameters may differ;
the designer decides how much to trust the prior (see ``Designer.set_priors``).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable

from tf_hptune.algorithms.base import PriorStudy, TrialView
from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.store import JobRecord, State, Store


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
    trials = tuple(
        TrialView(t.trial_id, t.params, value=t.final_value, stopped_early=t.stopped_early)
        for t in store.list_trials(job.name)
        if t.state is State.SUCCEEDED and t.final_value is not None
        and math.isfinite(t.final_value)
    )
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
