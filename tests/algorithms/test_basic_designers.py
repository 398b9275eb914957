from __future__ import annotations

import pytest

from tests.conftest import MIXED_PARAMS, make_spec
from tf_hptune.algorithms import GridDesigner, RandomDesigner, make_designer
from tf_hptune.space import SearchSpace
from tf_hptune.spec import Algorithm
from tf_hptune.trial import Trial

GRID_PARAMS = [
    {"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 3},
    {"parameterName": "b", "type": "CATEGORICAL", "categoricalValues": ["x", "y"]},
]


def test_factory_picks_by_algorithm():
    spec = make_spec(GRID_PARAMS, algorithm="GRID_SEARCH")
    space = SearchSpace.from_spec(spec)
    assert isinstance(make_designer(spec.algorithm, space, spec.goal), GridDesigner)
    spec = make_spec(MIXED_PARAMS, algorithm="RANDOM_SEARCH")
    space = SearchSpace.from_spec(spec)
    assert isinstance(make_designer(spec.algorithm, space, spec.goal), RandomDesigner)
    assert spec.algorithm is Algorithm.RANDOM_SEARCH


def test_random_is_seeded_and_feasible():
    spec = make_spec(MIXED_PARAMS)
    space = SearchSpace.from_spec(spec)
    a = RandomDesigner(space, spec.goal, seed=3).suggest(20)
    b = RandomDesigner(space, spec.goal, seed=3).suggest(20)
    c = RandomDesigner(space, spec.goal, seed=4).suggest(20)
    assert a == b and a != c
    for p in a:
        assert space.decode(space.encode(p)) == pytest.approx(p)


def test_grid_skips_tried_points_and_runs_out():
    spec = make_spec(GRID_PARAMS, algorithm="GRID_SEARCH", maxTrials=100)
    space = SearchSpace.from_spec(spec)
    g = GridDesigner(space, spec.goal)
    g.update([Trial("1", {"a": 1, "b": "x"}, value=1.0)], [Trial("2", {"a": 2, "b": "y"})])
    first = g.suggest(3)
    assert {"a": 1, "b": "x"} not in first and {"a": 2, "b": "y"} not in first
    rest = g.suggest(10)
    seen = [space.key(p) for p in first + rest]
    assert len(seen) == len(set(seen)) == 4
    assert g.suggest(5) == []
