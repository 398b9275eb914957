"""The Launcher interface: where a trial runs. The Tuner hands out resources; launchers obey."""
from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tf_hptune.channel import TrialPaths


@dataclass(frozen=True)
class TrialCommand:
    """One trial's process: ``python <argv...>`` in ``cwd`` with ``env`` added."""

    job_name: str
    trial_id: str
    argv: tuple[str, ...]
    cwd: str
    env: Mapping[str, str]
    paths: TrialPaths


UNKNOWN_EXIT = -1000
"""``poll``'s answer for a trial that ended while nobody waited for it (adopted after a tuner
restart): its success is judged by its metric alone."""


@dataclass(frozen=True)
class Resources:
    """What the Tuner gives one trial: GPU indexes (none on a CPU machine)."""

    gpus: tuple[int, ...] = ()


@dataclass
class TrialHandle:
    """A started (or adopted) trial. Launchers keep their own state in ``data``."""

    trial_id: str
    pid: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Launcher(abc.ABC):
    """``start`` a trial, ``poll`` it for its exit code, ``terminate`` it."""

    @abc.abstractmethod
    def start(self, command: TrialCommand, resources: Resources) -> TrialHandle:
        """Start the trial; raises ``LaunchError`` when it cannot be started."""

    @abc.abstractmethod
    def poll(self, handle: TrialHandle) -> int | None:
        """The exit code once the trial has ended, else None. Never blocks."""

    def wait(self, handles: Sequence[TrialHandle], timeout: float) -> None:
        """Block for up to ``timeout`` seconds; may return early when a trial ends."""
        time.sleep(timeout)

    def adopt(self, command: TrialCommand, pid: int) -> TrialHandle | None:
        """A handle for a trial started by an earlier tuner process, or None when ``pid`` is
        not that trial's live process (or this launcher cannot adopt)."""
        return None

    @abc.abstractmethod
    def terminate(self, handle: TrialHandle, grace: float) -> None:
        """Ask the trial to end now; force it after ``grace`` seconds (enforced by ``poll``).
        Never blocks."""
