"""Early stopping: ``make_stopper`` builds the rule a job uses."""
from __future__ import annotations

from collections.abc import Callable

from tf_hptune.spec.model import Goal
from tf_hptune.stopping.base import KEEP, EarlyStopper, StopDecision
from tf_hptune.stopping.calibrated import CalibratedStopper
from tf_hptune.stopping.curve import CurveStopper
from tf_hptune.stopping.median import MedianStopper

STOPPERS: dict[str, Callable[..., EarlyStopper]] = {
    "median": MedianStopper,
    "curve": CurveStopper,
    "calibrated": CalibratedStopper,
}
DEFAULT_STOPPER = "curve"


def make_stopper(goal: Goal, name: str = DEFAULT_STOPPER, **options: float) -> EarlyStopper:
    """The rule called ``name`` (see ``STOPPERS``) for ``goal``."""
    try:
        factory = STOPPERS[name]
    except KeyError:
        raise ValueError(f"unknown early-stopping rule {name!r}; choose from "
                         f"{', '.join(sorted(STOPPERS))}") from None
    return factory(goal, **options)


__all__ = ["DEFAULT_STOPPER", "KEEP", "STOPPERS", "CurveStopper", "EarlyStopper",
           "MedianStopper", "StopDecision", "make_stopper"]
