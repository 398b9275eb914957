"""What a trial may use (GPU ids, CPU threads) and the pool the Tuner hands it out from.

The Tuner owns one ``ResourcePool``; launchers obey the ``Resources`` they are given and never
discover devices themselves. With no devices configured the pool is empty: every trial gets
``Resources()`` and only ``maxParallelTrials`` limits how many run at once.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resources:
    """One trial's share: GPU indexes (none on a CPU machine)."""

    gpus: tuple[int, ...] = ()

    def environment(self) -> dict[str, str]:
        """The variables a trial process gets for this share."""
        if not self.gpus:
            return {}
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in self.gpus)}


class ResourcePool:
    """Hands out ``Resources`` to trials and takes them back when they end.

    Contract: ``acquire`` returns a share or None when none is free; every share acquired is
    released exactly once with ``release``. The empty pool never runs out.
    """

    def __init__(self) -> None:
        self._held: dict[str, Resources] = {}

    def acquire(self, trial_id: str) -> Resources | None:
        share = self._held[trial_id] = Resources()
        return share

    def release(self, trial_id: str) -> None:
        self._held.pop(trial_id, None)


__all__ = ["ResourcePool", "Resources"]
