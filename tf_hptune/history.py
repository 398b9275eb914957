"""A job's history: the jobs it continues and the earlier jobs it learns from.

``resumePreviousJobId`` continues an ended job: the new job reuses its goal, metric tag, params
and constraints, knows its trials (and those of the jobs it resumed) as explored, numbers its own
trials after theirs and does not count them in ``maxTrials``.

Transfer follows the service's rule of thumb: jobs whose names share most of their characters
(``babyweight_regression_<timestamp>``) learn from each other. Here an earlier job counts when
the common prefix of the two names covers more than half of the new name, it has ended with at
least one trial that has a metric, it optimises the same metric tag with the same goal, and it
shares at least one parameter name. Ranges, categories and the set of parameters may differ;
designers get the earlier trials as plain ``PriorStudy`` data and decide how much to trust them.

Besides the Study and the Tuner, this is the only code that reads the store.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tf_hptune.errors import JobNotFoundError, SpecError
from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.store import JobRecord, State, Store, TrialRecord
from tf_hptune.trial import PriorStudy, Trial

LEARNED_FROM = "learned_from"  # the job info key that records the jobs a job learns from


def trial_of(record: TrialRecord) -> Trial:
    """A stored trial in the plain shape designers and stopping rules see."""
    return Trial(
        record.trial_id, record.params,
        measurements=tuple((m.step, m.value) for m in record.measurements),
        value=record.final_value if record.state is State.SUCCEEDED else None,
        failed=record.state is State.FAILED, stopped_early=record.stopped_early,
    )


def similar_names(new: str, earlier: str) -> bool:
    """True when the names' common prefix covers more than half of ``new``."""
    return len(os.path.commonprefix([new, earlier])) * 2 > len(new)


def is_related(new_name: str, spec: StudySpec, job: JobRecord) -> bool:
    """The transfer rule of the module docstring, on names and specs only."""
    if job.name == new_name or not job.state.is_final or not similar_names(new_name, job.name):
        return False
    earlier = load_spec(job.config)
    shared = {p.name for p in spec.params} & {p.name for p in earlier.params}
    return bool(shared) and earlier.goal is spec.goal and earlier.metric_tag == spec.metric_tag


def prior_study(store: Store, job: JobRecord) -> PriorStudy:
    """``job``'s trials that ended with a finite metric."""
    trials = tuple(trial for trial in map(trial_of, store.list_trials(job.name))
                   if trial.value is not None and math.isfinite(trial.value))
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


def resolve_resume(spec: StudySpec, store: Store) -> StudySpec:
    """A resumed job's spec: goal, metric tag, params and constraints of the job it resumes
    (which must exist and have ended), the rest from its own config."""
    previous_name = spec.resume_previous_job_id
    if previous_name is None:
        return spec
    where = "hyperparameters.resumePreviousJobId"
    try:
        previous_job = store.get_job(previous_name)
    except JobNotFoundError as e:
        raise SpecError(where, previous_name, f"no such job ({e})") from None
    if not previous_job.state.is_final:
        raise SpecError(where, previous_name,
                        f"that job is still {previous_job.state.value}; wait for it to end")
    previous = load_spec(previous_job.config)
    default = StudySpec(params=())
    for field, label in (("goal", "goal"), ("metric_tag", "hyperparameterMetricTag")):
        mine, theirs = getattr(spec, field), getattr(previous, field)
        if mine != getattr(default, field) and mine != theirs:
            raise SpecError(f"hyperparameters.{label}", getattr(mine, "value", mine),
                            f"conflicts with {getattr(theirs, 'value', theirs)!r} of resumed "
                            f"job {previous_name!r}; leave it out")
    if spec.params and spec.params != previous.params:
        raise SpecError("hyperparameters.params", [p.name for p in spec.params],
                        f"conflict with the params of resumed job {previous_name!r}; a resumed "
                        "job reuses them, so leave params out")
    return dataclasses.replace(spec, goal=previous.goal, metric_tag=previous.metric_tag,
                               params=previous.params, constraints=previous.constraints)


def resume_chain(store: Store, name: str | None) -> list[str]:
    """Job ``name`` and every job it resumed, oldest first."""
    out: list[str] = []
    while name is not None:
        out.insert(0, name)
        name = load_spec(store.get_job(name).config).resume_previous_job_id
    return out


@dataclass(frozen=True)
class History:
    """What a job inherits. ``previous_trials``: the trials of the jobs it resumes (explored
    already, numbered before its own, not counted in ``maxTrials``). ``priors``: the related
    earlier jobs it learns from."""

    previous_trials: tuple[TrialRecord, ...] = ()
    priors: tuple[PriorStudy, ...] = ()

    @property
    def learned_from(self) -> list[str]:
        return [p.job_name for p in self.priors]

    @classmethod
    def for_new_job(cls, store: Store, name: str, spec: StudySpec) -> "History":
        """The history of a job about to be created as ``name`` with the resolved ``spec``
        (``resolve_resume``): its resume chain, and the related earlier jobs if transfer is
        on."""
        chain = resume_chain(store, spec.resume_previous_job_id)
        priors: Sequence[PriorStudy] = ()
        if spec.enable_transfer_learning:
            priors = find_prior_studies(store, name, spec, exclude=chain)
        return cls(_trials_of(store, chain), tuple(priors))

    @classmethod
    def for_job(cls, store: Store, job: JobRecord, spec: StudySpec) -> "History":
        """The history of an existing job: it learns from exactly the jobs recorded when it
        was created."""
        chain = resume_chain(store, spec.resume_previous_job_id)
        priors = tuple(prior_study(store, store.get_job(n))
                       for n in job.info.get(LEARNED_FROM, []))
        return cls(_trials_of(store, chain), priors)


def _trials_of(store: Store, jobs: Sequence[str]) -> tuple[TrialRecord, ...]:
    return tuple(t for job in jobs for t in store.list_trials(job))


__all__ = ["LEARNED_FROM", "History", "find_prior_studies", "is_related", "prior_study",
           "resolve_resume", "resume_chain", "similar_names", "trial_of"]
