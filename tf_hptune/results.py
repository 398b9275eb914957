"""A job shaped as the service showed it: the Job resource with ``trainingOutput``."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tf_hptune.space import format_value
from tf_hptune.spec import load_spec
from tf_hptune.store import JobRecord, State, TrialRecord
from tf_hptune.study import sort_best_first


def rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def _metric(step: int, value: float) -> dict[str, Any]:
    # int64 fields are strings in the service's JSON, as gcloud printed them.
    return {"trainingStep": str(step), "objectiveValue": value}


def trial_resource(t: TrialRecord) -> dict[str, Any]:
    """One entry of ``trainingOutput.trials``; ``allMetrics`` and the failure fields go beyond
    the service."""
    out: dict[str, Any] = {
        "trialId": t.trial_id,
        "hyperparameters": {k: format_value(v) for k, v in t.params.items()},
    }
    if t.final_value is not None and t.final_step is not None:
        out["finalMetric"] = _metric(t.final_step, t.final_value)
    out["allMetrics"] = [_metric(m.step, m.value) for m in t.measurements]
    out["isTrialStoppedEarly"] = t.stopped_early
    out["state"] = t.state.value
    out["startTime"] = rfc3339(t.start_time)
    out["endTime"] = rfc3339(t.end_time)
    if t.reason:
        out["errorMessage" if t.state is not State.SUCCEEDED else "stopReason"] = t.reason
    if t.state is State.FAILED and t.log_tail:
        out["logTail"] = t.log_tail
    return {k: v for k, v in out.items() if v is not None}


def job_resource(job: JobRecord, trials: Sequence[TrialRecord]) -> dict[str, Any]:
    """The job as ``jobs describe`` prints it; trials best first, those without a metric last."""
    spec = load_spec(job.config)
    training_input = dict(job.config.get("trainingInput", {}))
    launch = job.launch
    if launch:
        training_input.update(pythonModule=launch.get("module"), args=launch.get("user_args"),
                              jobDir=launch.get("job_dir"), packagePath=launch.get("package_path"))
    consumed = sum((t.end_time or time.time()) - t.start_time for t in trials if t.start_time)
    output = {
        "completedTrialCount": str(sum(1 for t in trials if t.state is State.SUCCEEDED)),
        "trials": [trial_resource(t) for t in sort_best_first(trials, spec.goal)],
        # Consumed compute in trial-seconds (CMLE.md: there are no ML units locally).
        "consumedMLUnits": round(consumed, 1),
        "isHyperparameterTuningJob": True,
        "hyperparameterMetricTag": spec.metric_tag,
        # Beyond the service: the similarly named earlier jobs this one learned from.
        "learnedFromJobs": list(job.info.get("learned_from", [])),
    }
    out: dict[str, Any] = {
        "jobId": job.name,
        "state": job.state.value,
        "createTime": rfc3339(job.create_time),
        "startTime": rfc3339(job.start_time),
        "endTime": rfc3339(job.end_time),
        "errorMessage": job.error_message,
        "trainingInput": training_input,
        "trainingOutput": output,
    }
    return {k: v for k, v in out.items() if v is not None}
