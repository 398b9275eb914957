"""The Designer contract, run over every registered designer: typed, feasible suggestions; no
repeat while unexplored points remain (running ones included); the same suggestions under the
same seed; sound with priors from a job whose parameters differ, and when told its budget."""
from __future__ import annotations

import pytest

from tests.conftest import make_spec
from tf_hptune.algorithms import DESIGNERS, make_designer
from tf_hptune.space import SearchSpace
from tf_hptune.spec import Algorithm, load_spec
from tf_hptune.trial import PriorStudy, Trial

# Finite, so that every designer (grid search included) can run it out; a constraint removes
# some points.
PARAMS = [
    {"parameterName": "units", "type": "INTEGER", "minValue": 1, "maxValue": 4},
    {"parameterName": "batch", "type": "DISCRETE", "discreteValues": [16, 64, 256]},
    {"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": ["adam", "sgd"]},
]
CONSTRAINTS = ["units * batch <= 512"]
TYPES = {"units": int, "batch": (int, float), "opt": str}


def spec():
    return make_spec(PARAMS, goal="MINIMIZE", hyperparameterMetricTag="loss",
                     constraints=CONSTRAINTS)


def objective(p) -> float:
    return (p["units"] - 3) ** 2 + (p["batch"] == 64) + 0.5 * (p["opt"] == "sgd")


def designer(algorithm: Algorithm, seed: int = 0):
    s = spec()
    return make_designer(algorithm, SearchSpace.from_spec(s), s.goal, seed)


@pytest.fixture(params=sorted(DESIGNERS, key=lambda a: a.value), ids=lambda a: a.value)
def algorithm(request) -> Algorithm:
    return request.param


def run(d, rounds: int, batch: int, running_last: bool = False) -> list[dict]:
    """Suggest ``batch`` points per round, complete all but (optionally) the last round's."""
    done: list[Trial] = []
    suggested: list[dict] = []
    for r in range(rounds):
        points = d.suggest(batch)
        suggested += points
        trials = [Trial(f"{r}-{i}", p, value=objective(p)) for i, p in enumerate(points)]
        if running_last and r == rounds - 1:
            d.update(done, [Trial(t.trial_id, t.params) for t in trials])
        else:
            done += trials
            d.update(done, [])
    return suggested


def test_suggestions_are_typed_and_feasible(algorithm):
    d = designer(algorithm)
    space = d.space
    for p in run(d, rounds=3, batch=3):
        assert set(p) == {"units", "batch", "opt"}
        assert all(isinstance(p[k], t) and not isinstance(p[k], bool) for k, t in TYPES.items())
        assert 1 <= p["units"] <= 4 and p["batch"] in (16, 64, 256) and p["opt"] in ("adam", "sgd")
        assert space.feasible(p)


def test_no_repeat_while_unexplored_points_remain(algorithm):
    d = designer(algorithm)
    feasible = {d.space.key(p) for p in d.space.grid()}
    seen = [d.space.key(p) for p in run(d, rounds=len(feasible) // 3, batch=3)]
    assert len(seen) == len(set(seen)) and set(seen) <= feasible


def test_running_trials_are_not_suggested_again(algorithm):
    d = designer(algorithm)
    running = run(d, rounds=2, batch=3, running_last=True)[-3:]
    again = {d.space.key(p) for p in d.suggest(4)}
    assert not again & {d.space.key(p) for p in running}


def test_the_same_seed_gives_the_same_suggestions(algorithm):
    assert run(designer(algorithm, 7), rounds=3, batch=2) == \
        run(designer(algorithm, 7), rounds=3, batch=2)


def test_priors_from_a_job_with_other_parameters_keep_it_sound(algorithm):
    earlier = load_spec({"hyperparameters": {"params": [
        PARAMS[0], {"parameterName": "dropout", "type": "DOUBLE", "minValue": 0.0,
                    "maxValue": 0.5}]}})
    prior = PriorStudy("earlier_job", earlier.params, tuple(
        Trial(str(i), {"units": u, "dropout": 0.1 * u}, value=float(abs(u - 3)))
        for i, u in enumerate((1, 2, 3, 4, 9), start=1)))  # 9: outside the new range
    d = designer(algorithm)
    d.set_priors([prior])
    points = run(d, rounds=3, batch=3)
    assert all(d.space.feasible(p) and 1 <= p["units"] <= 4 for p in points)
    keys = [d.space.key(p) for p in points]
    assert len(keys) == len(set(keys))


def test_a_designer_told_its_budget_keeps_the_contract_to_its_last_trial(algorithm):
    d = designer(algorithm)
    feasible = {d.space.key(p) for p in d.space.grid()}
    rounds = len(feasible) // 3
    d.set_budget(3 * rounds)
    assert d.budget == 3 * rounds
    points = run(d, rounds=rounds, batch=3)
    keys = [d.space.key(p) for p in points]
    assert len(keys) == 3 * rounds == len(set(keys)) and set(keys) <= feasible
    assert all(d.space.feasible(p) for p in points)
