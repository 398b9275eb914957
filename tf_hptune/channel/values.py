"""What a trial's report may hold: a step the store can keep and a number.

A step is a signed 64-bit integer (SQLite's INTEGER); in a file it may be an int or its text
(the hypertune file writes ``"100"``; ``"1e3"`` and ``"100.0"`` count too). A value is a
number or its text, never a JSON ``true``/``false``. Anything else is an unreadable report:
the readers skip it and count it.
"""
from __future__ import annotations

import math

MIN_STEP = -(2**63)
MAX_STEP = 2**63 - 1


def as_step(raw: object) -> int:
    """``raw`` as a step, else ``ValueError``."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"a step must be an integer, got {raw!r:.50}")
    number: int | float = 0
    if isinstance(raw, str):
        try:
            number = int(raw)
        except ValueError:
            number = float(raw)
    else:
        number = raw
    if isinstance(number, float):
        if not math.isfinite(number):
            raise ValueError(f"a step must be finite, got {number!r}")
        number = int(number)
    step = number
    if not MIN_STEP <= step <= MAX_STEP:
        raise ValueError(f"step {step:.6g} is beyond the 64-bit integers the store keeps")
    return step


def as_value(raw: object) -> float:
    """``raw`` as a metric value, else ``ValueError``."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"a metric value must be a number, got {raw!r:.50}")
    return float(raw)


__all__ = ["MAX_STEP", "MIN_STEP", "as_step", "as_value"]
