"""Constraints between parameters: safe parsing, clear errors, and feasibility everywhere."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_spec
from tf_hptune.algorithms import make_designer
from tf_hptune.errors import SpecError, TfHptuneError
from tf_hptune.space import SearchSpace
from tf_hptune.spec import load_spec, spec_to_dict
from tf_hptune.spec.constraints import parse_constraint
from tf_hptune.study import Study
from tf_hptune.trial import Trial

HEADS = [
    {"parameterName": "nheads", "type": "INTEGER", "minValue": 3, "maxValue": 6},
    {"parameterName": "nnsize", "type": "INTEGER", "minValue": 128, "maxValue": 512},
]
MIXED = [
    *HEADS,
    {"parameterName": "learning-rate", "type": "DOUBLE", "minValue": 1e-4, "maxValue": 0.1,
     "scaleType": "UNIT_LOG_SCALE"},
    {"parameterName": "batch_size", "type": "DISCRETE", "discreteValues": [16, 32, 64, 128]},
    {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["adam", "sgd"]},
]


def constraint(text: str, params=MIXED):
    return parse_constraint(text, make_spec(params).params, "constraints[0]")


def test_seed_case_is_one_job_and_every_algorithm_keeps_to_it():
    for algorithm in ("ALGORITHM_UNSPECIFIED", "RANDOM_SEARCH", "GRID_SEARCH"):
        spec = make_spec(HEADS, algorithm=algorithm, maxTrials=30, maxParallelTrials=5,
                         constraints=["nnsize % nheads == 0"])
        space = SearchSpace.from_spec(spec)
        designer = make_designer(spec.algorithm, space, spec.goal, seed=1)
        completed: list[Trial] = []
        for round_ in range(4):
            points = designer.suggest(5)
            assert len(points) == 5
            for p in points:
                assert p["nnsize"] % p["nheads"] == 0, (algorithm, p)
                assert space.feasible(p)
            completed += [Trial(f"{round_}-{i}", p, value=float(p["nnsize"]) / p["nheads"])
                          for i, p in enumerate(points)]
            designer.update(completed, [])


def test_grid_yields_only_feasible_points():
    space = SearchSpace.from_spec(make_spec(HEADS, constraints=["nnsize % nheads == 0"]))
    grid = list(space.grid())
    expected = [(h, n) for h in range(3, 7) for n in range(128, 513) if n % h == 0]
    assert [(p["nheads"], p["nnsize"]) for p in grid] == expected


def test_evaluation_semantics():
    point = {"nheads": 4, "nnsize": 256, "learning-rate": 0.01, "batch_size": 64,
             "optimizer": "adam"}
    cases = {
        "nnsize % nheads == 0": True,
        "nnsize // nheads == 64 and nnsize / nheads == 64.0": True,
        "3 <= nheads < 4": False,
        "3 <= nheads <= 4 < 5": True,
        "not (optimizer == 'sgd') or learning_rate < 1e-3": True,
        "optimizer != \"adam\"": False,
        "-nheads + 2 ** 3 > nheads - 1": True,  # 4 > 3
        "batch_size * nnsize <= 65536 / 4": True,
        "nnsize % (nheads - 4) == 0": False,  # x % 0 is NaN: infeasible, not an error
        "+nheads == 4": True,
    }
    for text, expected in cases.items():
        assert bool(constraint(text)(point)) is expected, text


def test_evaluates_columns_of_many_points_at_once():
    c = constraint("nnsize % nheads == 0 and optimizer == 'adam'")
    columns = {"nheads": np.array([3, 4, 5]), "nnsize": np.array([129, 256, 256]),
               "optimizer": np.array(["adam", "adam", "adam"], dtype=object)}
    assert c(columns).tolist() == [True, True, False]
    assert c.names == ("nnsize", "nheads", "optimizer")


@pytest.mark.parametrize("text, column, problem", [
    ("nnsize %% nheads == 0", 9, "invalid syntax"),
    ("nnsize % nhead == 0", 10, "unknown parameter 'nhead'; did you mean nheads?"),
    ("  nnsize % heads == 0", 12, "unknown parameter 'heads'"),
    ("len(optimizer) > 2", 1, "function calls are not allowed"),
    ("nheads == 3 and nnsize.real > 1", 17, "attribute access is not allowed"),
    ("nnsize[0] == 1", 1, "indexing is not allowed"),
    ("nnsize + 1", 1, "must be a condition"),
    ("optimizer < 'b'", 13, "strings compare only with == and !="),
    ("optimizer == 1", 14, "cannot compare a string with a number"),
    ("optimizer + 1 > 2", 1, "an arithmetic operand must be a number, not a string"),
    ("nheads > 1 and nnsize", 16, "an operand of and/or must be a condition"),
    ("not nnsize", 5, "the operand of 'not' must be a condition"),
    ("nheads == True", 11, "literal True is not allowed"),
    ("nheads in (3, 4)", 11, "comparison In is not allowed"),
    ("nheads << 2 == 12", 1, "operator LShift is not allowed"),
    ("(nheads := 3) > 1", 2, "assignment is not allowed"),
    ("nheads if nnsize else 1", 1, "conditional expressions are not allowed"),
    ("__import__('os').system('true')", 1, "function calls are not allowed"),
])
def test_bad_expressions_name_the_position(text, column, problem):
    with pytest.raises(SpecError) as info:
        make_spec(MIXED, constraints=["nheads > 0", text])
    err = info.value
    assert err.path == "hyperparameters.constraints[1]"
    assert err.value == text
    assert f"at column {column}: " in err.problem and problem in err.problem, err.problem


def test_constraints_list_shape_and_paths():
    with pytest.raises(SpecError, match=r"hyperparameters\.constraints: must be a list"):
        make_spec(MIXED, constraints="nnsize % nheads == 0")
    with pytest.raises(SpecError, match=r"constraints\[0\]: must be a non-empty expression"):
        make_spec(MIXED, constraints=[""])
    with pytest.raises(SpecError, match=r"constraints\[0\]: must be a non-empty expression"):
        make_spec(MIXED, constraints=[3])
    with pytest.raises(SpecError, match="longer than"):
        make_spec(MIXED, constraints=["nheads > 1" + " and nheads > 1" * 100])
    with pytest.raises(SpecError, match=r"^trainingInput\.hyperparameters\.constraints\[0\]"):
        load_spec({"trainingInput": {"hyperparameters": {
            "params": MIXED, "constraints": ["nheads > x"]}}})


def test_no_feasible_point_is_a_clear_error_before_a_job_is_recorded():
    with pytest.raises(SpecError) as info:
        SearchSpace.from_spec(make_spec(HEADS, constraints=["nnsize % nheads == 0",
                                                             "nnsize == 131"]))
    assert info.value.path == "hyperparameters.constraints"
    assert "no point of the search space satisfies" in info.value.problem
    assert "1,540 points checked" in info.value.problem
    with pytest.raises(SpecError, match="random draws"):  # a DOUBLE: cannot enumerate
        SearchSpace.from_spec(make_spec(MIXED, constraints=["learning_rate > 1"]))
    with pytest.raises(SpecError, match="no point of the search space"):
        Study.create(make_spec(HEADS, constraints=["nnsize % nheads == 0", "nnsize == 131"]),
                     name="never")


def test_selective_constraints_still_sample_by_enumeration():
    spec = make_spec(HEADS, constraints=["nnsize == 511 and nheads == 6 or nnsize == 129"])
    space = SearchSpace.from_spec(spec)
    rng = np.random.default_rng(0)
    seen = {(p["nheads"], p["nnsize"]) for p in (space.sample(rng) for _ in range(40))}
    assert seen == {(6, 511), (3, 129), (4, 129), (5, 129), (6, 129)}


def test_space_without_spec_validation_raises_at_sampling():
    params = make_spec(HEADS).params
    space = SearchSpace(params, ["nnsize < 0"])
    with pytest.raises(TfHptuneError, match="all 1,540 points checked"):
        space.sample(np.random.default_rng(0))


def test_round_trip_and_argparse_spelling():
    spec = make_spec(MIXED, constraints=["learning_rate * batch_size < 1", "batch_size >= 16"])
    assert spec.constraints == ("learning_rate * batch_size < 1", "batch_size >= 16")
    assert load_spec(spec_to_dict(spec)) == spec
    assert "constraints" not in spec_to_dict(make_spec(MIXED))["trainingInput"]["hyperparameters"]
    assert constraint("learning_rate > 0").names == ("learning-rate",)


def test_resumed_job_without_params_checks_syntax_only():
    spec = load_spec({"hyperparameters": {"resumePreviousJobId": "old_job",
                                          "constraints": ["a % b == 0"]}})
    assert spec.constraints == ("a % b == 0",)
    with pytest.raises(SpecError, match="function calls"):
        load_spec({"hyperparameters": {"resumePreviousJobId": "old_job",
                                       "constraints": ["f(a) == 0"]}})
