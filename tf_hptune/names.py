"""The service's names: the rule for job names (letters, digits and underscores, starting with a
letter) and the default metric tag. Standard library only: trials import it."""
from __future__ import annotations

import re

JOB_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
MAX_JOB_NAME_LENGTH = 128
DEFAULT_METRIC_TAG = "training/hptuning/metric"  # hyperparameterMetricTag's default


def is_job_name(name: object) -> bool:
    return (isinstance(name, str) and JOB_NAME_RE.fullmatch(name) is not None
            and len(name) <= MAX_JOB_NAME_LENGTH)
