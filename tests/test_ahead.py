"""Suggestions computed ahead: used while fresh, computed again when too many trials ended
since, never for a fast designer or a job of few parallel trials, errors raised where the
Tuner asks."""
from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import make_spec
from tf_hptune.ahead import CHUNK, SuggestAhead
from tf_hptune.algorithms import Designer
from tf_hptune.study import Study

PARAMS = [{"parameterName": "x", "type": "INTEGER", "minValue": 0, "maxValue": 10_000}]


class Recording(Designer):
    """Suggests 0, 1, 2, ...; records what it was told at each call and in which thread; slow
    on request, or failing."""

    def __init__(self, space, goal, seed, delay=0.03, fail=False):
        super().__init__(space, goal, seed)
        self.delay, self.fail = delay, fail
        self.calls: list[tuple[set[int], set[int], int, str]] = []
        self.next = 0

    def suggest(self, count):
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the designer broke")
        self.calls.append(({t.params["x"] for t in self.completed},
                           {t.params["x"] for t in self.running}, count,
                           threading.current_thread().name))
        out = [{"x": self.next + i} for i in range(count)]
        self.next += count
        return out


def make(parallel, **kw):
    made = {}

    def factory(space, goal, seed):
        made["d"] = Recording(space, goal, seed, **kw)
        return made["d"]

    study = Study.create(make_spec(PARAMS, maxTrials=100, maxParallelTrials=parallel,
                                   goal="MINIMIZE"), designer=factory)
    return study, made["d"], SuggestAhead(study, parallel)


def take_all(ahead, count):
    """As the Tuner takes: until ``count`` trials are made or none comes."""
    trials = []
    while len(trials) < count:
        new = ahead.take(count - len(trials))
        if not new:
            break
        trials += new
    return trials


def finish(study, trials):
    for t in trials:
        study.complete(t.trial_id, value=float(t.params["x"]), step=1)


def settle(ahead):
    ahead.prefetch()
    deadline = time.monotonic() + 10
    while ahead._batch is not None and not ahead._batch.future.done():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_points_computed_ahead_are_used_while_fresh():
    study, designer, ahead = make(16)  # stale after 2 ended trials
    first = ahead.take(8)
    assert len(first) == 8
    assert designer.calls[-1][3].startswith("tf_hptune-designer")  # never the Tuner's thread
    settle(ahead)  # 3 points computed in the background while the 8 run (at most 2 + 1)
    calls = len(designer.calls)
    assert designer.calls[-1][:3] == (set(), set(range(8)), 3)  # the 8 counted as running
    finish(study, first[:2])
    again = ahead.take(2)
    assert [t.params["x"] for t in again] == [8, 9]  # the points computed ahead ...
    assert len(designer.calls) == calls  # ... with no wait for the designer
    ahead.close()


def test_points_are_computed_again_once_too_many_trials_ended_since():
    study, designer, ahead = make(16)
    first = ahead.take(8)
    settle(ahead)
    finish(study, first[:3])  # 3 > 16 // 8 ended since that computation began
    [trial] = ahead.take(1)
    completed, running, count, _ = designer.calls[-1]
    assert completed == {0, 1, 2} and count == 1  # every result in hand
    assert trial.params["x"] == 11  # not one of the stale 8, 9, 10
    assert not {8, 9, 10} & running  # stale points dropped, not counted as running
    ahead.close()


def test_a_batch_computed_ahead_keeps_clear_of_the_points_ready():
    study, designer, ahead = make(32)  # stale after 4
    take_all(ahead, 16)
    settle(ahead)  # 4 + 1 ready
    finish(study, study.trials[:1])
    assert [t.params["x"] for t in ahead.take(4)] == [16, 17, 18, 19]  # four used, one ready
    settle(ahead)
    _, running, count, _ = designer.calls[-1]
    assert count == 4 and 20 in running  # the ready point was running
    ahead.close()


@pytest.mark.parametrize("parallel, delay", [(7, 0.03), (16, 0.0)])
def test_few_parallel_trials_or_a_fast_designer_are_asked_when_slots_free(parallel, delay):
    study, designer, ahead = make(parallel, delay=delay)
    take_all(ahead, parallel)
    ahead.prefetch()
    assert ahead._batch is None  # nothing computed ahead
    finish(study, study.trials[:1])
    ahead.take(1)
    assert designer.calls[-1][0] == {0}  # the new trial saw the result
    ahead.close()


def test_many_free_slots_get_their_points_a_chunk_at_a_time():
    study, designer, ahead = make(32)
    first = ahead.take(20)
    assert len(first) == CHUNK  # computed now, the rest started in the background
    settle(ahead)
    assert designer.calls[-1][1:3] == ({t.params["x"] for t in first}, CHUNK)  # as running
    calls = len(designer.calls)
    second = ahead.take(20 - CHUNK)
    assert len(second) == CHUNK and len(designer.calls) == calls  # no wait for the designer
    settle(ahead)
    assert len(take_all(ahead, 20 - 2 * CHUNK)) == 20 - 2 * CHUNK
    assert len({t.params["x"] for t in study.trials}) == len(study.trials) == 20
    ahead.close()


def test_a_designers_error_reaches_the_tuner():
    study, designer, ahead = make(16)
    ahead.take(8)
    designer.fail = True
    settle(ahead)
    finish(study, study.trials[:1])
    with pytest.raises(RuntimeError, match="the designer broke"):
        ahead.take(1)
    ahead.close()


def test_never_more_than_max_trials():
    study = Study.create(make_spec(PARAMS, maxTrials=10, maxParallelTrials=16,
                                   goal="MINIMIZE"),
                         designer=lambda s, g, seed: Recording(s, g, seed))
    ahead = SuggestAhead(study, 16)
    ahead.take(8)
    settle(ahead)
    finish(study, study.trials[:2])
    assert len(ahead.take(5)) == 2 and ahead.take(1) == []
    assert len(study.trials) == 10
    ahead.close()
