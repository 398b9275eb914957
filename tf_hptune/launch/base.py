"""The Launcher contract: where a trial runs. The Tuner hands out resources; launchers obey.

A ``TrialRequest`` is typed data (module, user args, hyperparameters, environment, working
directory, resources); each launcher turns it into a process, a task or a call, and returns its
own kind of ``TrialHandle``. Every launcher passes ``tests/launch/test_conformance.py``.
"""
from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tf_hptune.channel import TrialPaths
from tf_hptune.resources import Resources


@dataclass(frozen=True)
class TrialRequest:
    """One trial to start: ``python -m module <user_args> --job-dir <paths.job_dir>
    --<name>=<value> ...`` in ``cwd``, with ``env`` added to the launcher's environment and the
    share ``resources``. ``hyperparameters`` holds the typed values, in the spec's order."""

    job_name: str
    trial_id: str
    module: str
    user_args: tuple[str, ...]
    hyperparameters: Mapping[str, Any]
    env: Mapping[str, str]
    cwd: str
    paths: TrialPaths
    resources: Resources = field(default_factory=Resources)


UNKNOWN_EXIT = -1000
"""``poll``'s answer for a trial that ended while nobody waited for it (adopted after a tuner
restart) and whose exit code nobody recorded: its success is judged by its metric alone."""


@dataclass
class TrialHandle:
    """A started (or adopted) trial. Each launcher has its own subclass; ``pid`` is the process
    the store records, where there is one. ``failure`` says why, when the launcher knows the
    trial failed for a reason of its own (its machine or worker was lost, its node could not
    start it): the trial then FAILED with that reason, whatever its exit code."""

    trial_id: str
    pid: int | None = None
    failure: str | None = None


class Launcher(abc.ABC):
    """``start`` a trial, ``poll`` it for its exit code, ``terminate`` or ``kill`` it."""

    @abc.abstractmethod
    def start(self, request: TrialRequest) -> TrialHandle:
        """Start the trial; raises ``LaunchError`` when it cannot be started."""

    @abc.abstractmethod
    def poll(self, handle: TrialHandle) -> int | None:
        """The exit code once the trial has ended (negative: the signal that ended it), else
        None. Never blocks."""

    @abc.abstractmethod
    def terminate(self, handle: TrialHandle, grace: float) -> None:
        """Ask the trial to end now; force it after ``grace`` seconds (enforced by ``poll``).
        Never blocks."""

    @abc.abstractmethod
    def kill(self, handle: TrialHandle) -> None:
        """End the trial and everything it started, now. Never blocks."""

    def wait(self, handles: Sequence[TrialHandle], timeout: float) -> None:
        """Block for up to ``timeout`` seconds; may return early when a trial ends."""
        time.sleep(timeout)

    def close(self) -> None:
        """Release what this launcher holds (a cluster connection) once its trials ended."""
        return None

    def adopt(self, request: TrialRequest, pid: int | None) -> TrialHandle | None:
        """A handle for a trial started by an earlier tuner process (``pid`` as recorded, None
        when the tuner stopped before recording it): of its live process, or of the ended
        trial, whose ``poll`` then gives its exit code (``UNKNOWN_EXIT`` when nobody recorded
        it). None when nothing shows that the trial started, or this launcher cannot adopt;
        the Tuner then judges the trial from its files alone."""
        return None
