"""Suggestions computed ahead, so that the Tuner does not wait for its designer.

A slow designer (the Bayesian one takes a few hundred milliseconds at a few hundred trials)
computes its next points in one worker thread while the trials run; when slots free up, the
Tuner takes points that are ready. Only the computation moves: the Study still records every
trial, in the Tuner's thread.

A point computed ahead did not see the trials that ended after its computation began: they
were running then (so it kept away from them), as if the job ran that many more trials in
parallel. It is used only while at most ``parallel // 8`` trials have ended since (an eighth
of ``maxParallelTrials``; a quarter cost quality at 5 parallel trials: ``benchmarks/RESULTS.md``);
older ones are dropped and computed again. So a job of fewer than 8 parallel trials always
decides with every result in hand, and a designer that answers in under 10 ms is simply asked
when slots free up, as before. When many slots free up at once (trials that end together),
their points are made ``CHUNK`` at a time: each chunk's trials start while the next chunk is
computed, knowing them as running.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tf_hptune.store import TrialRecord
from tf_hptune.study import ACTIVE, Study
from tf_hptune.trial import Trial

FAST_SECONDS = 0.01  # a designer this quick is asked when needed
CHUNK = 8  # points computed at once while slots wait: these trials start while more are made


def stale_after(parallel: int) -> int:
    """How many trials may end between a point's computation and its use."""
    return parallel // 8


@dataclass(frozen=True)
class _Point:
    params: dict[str, Any]
    ended: int  # trials ended when its computation began


@dataclass
class _Batch:
    future: Future[list[dict[str, Any]]]
    ended: int


class SuggestAhead:
    """``take`` new trials for free slots; ``prefetch`` while trials run; ``close`` at the end.

    Every call is made from the Tuner's thread; the designer runs in one worker thread, one
    computation at a time.
    """

    def __init__(self, study: Study, parallel: int) -> None:
        self.study = study
        self.stale_after = stale_after(parallel)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tf_hptune-designer")
        self._ready: list[_Point] = []
        self._batch: _Batch | None = None
        self._seconds = 0.0  # how long the last computation took
        self._ends: deque[tuple[float, int]] = deque(maxlen=64)  # (time, trials ended)

    def _ended(self) -> int:
        ended = sum(1 for t in self.study.trials if t.state not in ACTIVE)
        if not self._ends or self._ends[-1][1] != ended:
            self._ends.append((time.monotonic(), ended))
        return ended

    def _wanted(self) -> int:
        """Ready points enough for the trials that end while the next batch is computed
        (twice the recent rate of ends, over 10 s at least, times the last computation's
        time), at least 2."""
        rate = 0.0
        if len(self._ends) > 1:
            (t0, e0), (_, e1) = self._ends[0], self._ends[-1]
            rate = (e1 - e0) / max(time.monotonic() - t0, 10.0)
        return min(self.stale_after + 1, max(2, math.ceil(2 * rate * self._seconds)))

    def _submit(self, count: int) -> _Batch:
        """Compute ``count`` points in the worker from the trials now, the ready points
        counted as running (the batch must not repeat them)."""
        completed, running = self.study.designer_view()
        pending = [Trial(f"ahead-{i}", p.params) for i, p in enumerate(self._ready)]
        future = self._worker.submit(self._timed, completed, [*running, *pending], count)
        return _Batch(future, self._ended())

    def _timed(self, completed: Sequence[Trial], running: Sequence[Trial],
               count: int) -> list[dict[str, Any]]:
        start = time.perf_counter()
        try:
            return self.study.propose(completed, running, count)
        finally:
            self._seconds = time.perf_counter() - start

    def _harvest(self, wait: bool) -> None:
        """Move a finished (or, with ``wait``, the running) computation's points to the ready
        ones, after those ready before (used first, they go stale first); a designer's error is
        raised here."""
        batch = self._batch
        if batch is None or not (wait or batch.future.done()):
            return
        self._batch = None
        self._ready += [_Point(p, batch.ended) for p in batch.future.result()]

    def take(self, count: int) -> list[TrialRecord]:
        """Up to ``count`` new QUEUED trials now: ready points still fresh, else at most
        ``CHUNK`` points computed now from every result. Fewer than ``count`` when more
        were wanted than that (the rest are computed while these trials start, for the
        Tuner's next call) or when ``maxTrials`` or the designer says so; none only then."""
        count = min(count, self.study.trials_left)
        if count <= 0:
            return []
        self._harvest(wait=False)
        ended = self._ended()
        self._ready = [p for p in self._ready if ended - p.ended <= self.stale_after]
        if len(self._ready) < count and self._batch is not None:
            fresh = ended - self._batch.ended <= self.stale_after
            self._harvest(wait=True)  # the designer is busy with it either way
            if not fresh:
                self._ready = [p for p in self._ready if ended - p.ended <= self.stale_after]
        if not self._ready:  # computed now, knowing every result and the trials just made
            self._batch = self._submit(min(count, CHUNK))
            self._harvest(wait=True)
        taken = [p.params for p in self._ready[:count]]
        del self._ready[:count]
        trials = self.study.add_trials(taken)
        wanted = min(count, self.study.trials_left) - len(trials)
        if wanted > 0 and trials:
            self._batch = self._submit(min(wanted, CHUNK))
        return trials

    def prefetch(self) -> None:
        """Start computing the next points in the background, when the designer is slow, the
        job allows points computed ahead and more trials remain than are ready."""
        self._harvest(wait=False)
        ended = self._ended()
        self._ready = [p for p in self._ready if ended - p.ended <= self.stale_after]
        wanted = min(self._wanted(), self.study.trials_left) - len(self._ready)
        # a batch costs about as much for one point as for a few (the model's fit): at least
        # a chunk, where that many may be ready at once
        room = min(self.stale_after + 1, self.study.trials_left) - len(self._ready)
        slow = self._seconds >= FAST_SECONDS
        if slow and self.stale_after and self._batch is None and wanted > 0:
            self._batch = self._submit(min(room, max(wanted, CHUNK)))

    def close(self) -> None:
        """Stop the worker (after the computation under way, whose points are dropped)."""
        self._worker.shutdown(wait=True, cancel_futures=True)


__all__ = ["SuggestAhead", "stale_after"]
