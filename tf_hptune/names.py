"""The service's rule for job names: letters, digits and underscores, starting with a letter."""
from __future__ import annotations

import re

JOB_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
MAX_JOB_NAME_LENGTH = 128


def is_job_name(name: object) -> bool:
    return (isinstance(name, str) and JOB_NAME_RE.fullmatch(name) is not None
            and len(name) <= MAX_JOB_NAME_LENGTH)
