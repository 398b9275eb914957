"""Tests for tf_hptune.spec.loader: every rule, good and bad, with exact paths and values."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tf_hptune.errors import SpecError
from tf_hptune.spec import (
    DEFAULT_METRIC_TAG,
    Algorithm,
    Goal,
    ParameterSpec,
    ParamType,
    ScaleType,
    StudySpec,
    load_spec,
    spec_to_dict,
)
from tf_hptune.spec.loader import HYPERPARAMETER_KEYS, PARAM_KEYS

BUNDLED_YAML = """\
trainingInput:
  scaleTier: STANDARD_1
  hyperparameters:
    maxTrials: 40
    maxParallelTrials: 5
    enableTrialEarlyStopping: True
    goal: MINIMIZE
    hyperparameterMetricTag: rmse
    params:
    - parameterName: nembeds
      type: INTEGER
      minValue: 3
      maxValue: 30
      scaleType: UNIT_LINEAR_SCALE
    - parameterName: nnsize
      type: DISCRETE
      discreteValues: [4, 16, 32, 64, 128]
"""

BUNDLED_SPEC = StudySpec(
    params=(
        ParameterSpec("nembeds", ParamType.INTEGER, min_value=3.0, max_value=30.0,
                      scale_type=ScaleType.UNIT_LINEAR_SCALE),
        ParameterSpec("nnsize", ParamType.DISCRETE,
                      discrete_values=(4.0, 16.0, 32.0, 64.0, 128.0)),
    ),
    goal=Goal.MINIMIZE,
    metric_tag="rmse",
    max_trials=40,
    max_parallel_trials=5,
    enable_early_stopping=True,
    ignored_keys=("scaleTier",),
)

DOUBLE = {"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1}
INTEGER = {"parameterName": "units", "type": "INTEGER", "minValue": 8, "maxValue": 64}
CATEGORICAL = {"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": ["a", "b"]}
DISCRETE = {"parameterName": "bs", "type": "DISCRETE", "discreteValues": [16, 32, 64]}


def hp(**fields: Any) -> dict[str, Any]:
    """A valid hyperparameters block with ``fields`` replaced (``None`` deletes a field)."""
    block: dict[str, Any] = {"params": [copy.deepcopy(DOUBLE)]}
    block.update(fields)
    return {k: v for k, v in block.items() if v is not None}


def job(block: Any) -> dict[str, Any]:
    return {"trainingInput": {"hyperparameters": block}}


def one_param(**fields: Any) -> dict[str, Any]:
    """A job whose only parameter is ``fields`` (``None`` deletes a key of the base)."""
    return job({"params": [{k: v for k, v in fields.items() if v is not None}]})


SKIP = object()


def expect_error(source: Any, path: str, *fragments: str, value: Any = SKIP) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(source)
    err = info.value
    assert err.path == path, str(err)
    message = str(err)
    if value is not SKIP:
        assert repr(value) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return err


P = "trainingInput.hyperparameters"


# --------------------------------------------------------------------------------------------
# Forms, files and the bundled config


def test_bundled_config_loads_to_the_expected_spec(tmp_path: Path) -> None:
    path = tmp_path / "hyperparam.yaml"
    path.write_text(BUNDLED_YAML)
    spec = load_spec(path)
    assert spec == BUNDLED_SPEC
    assert spec.ignored_keys == ("scaleTier",)
    assert spec.training_input == yaml.safe_load(BUNDLED_YAML)["trainingInput"]
    assert spec.param("nnsize").discrete_values == (4.0, 16.0, 32.0, 64.0, 128.0)
    assert load_spec(str(path)) == spec


def test_the_three_forms_give_the_same_spec() -> None:
    block = yaml.safe_load(BUNDLED_YAML)["trainingInput"]["hyperparameters"]
    wrapped = load_spec(job(block))
    bare = load_spec({"hyperparameters": block})
    inner = load_spec(block)
    assert wrapped == bare == inner
    assert bare.training_input == {"hyperparameters": block}
    assert inner.training_input == {"hyperparameters": block}
    assert bare.ignored_keys == inner.ignored_keys == ()


@pytest.mark.parametrize(
    ("source", "path"),
    [
        (job(hp(maxTrials=0)), f"{P}.maxTrials"),
        ({"hyperparameters": hp(maxTrials=0)}, "hyperparameters.maxTrials"),
        (hp(maxTrials=0), "maxTrials"),
    ],
)
def test_error_paths_follow_the_form_written(source: dict[str, Any], path: str) -> None:
    expect_error(source, path, value=0)


@pytest.mark.parametrize(
    ("source", "path"),
    [
        (job({"params": [DOUBLE, {**DOUBLE, "parameterName": "x", "maxValue": -1}]}),
         f"{P}.params[1].maxValue"),
        ({"hyperparameters": {"params": [DOUBLE, {**DOUBLE, "parameterName": "x",
                                                  "maxValue": -1}]}},
         "hyperparameters.params[1].maxValue"),
        ({"params": [DOUBLE, {**DOUBLE, "parameterName": "x", "maxValue": -1}]},
         "params[1].maxValue"),
    ],
)
def test_param_error_paths_follow_the_form_written(source: dict[str, Any], path: str) -> None:
    expect_error(source, path, "greater than minValue", value=-1)


def test_a_study_spec_is_returned_as_is() -> None:
    assert load_spec(BUNDLED_SPEC) is BUNDLED_SPEC


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(yaml.safe_load(BUNDLED_YAML), indent="\t"))
    assert load_spec(path) == BUNDLED_SPEC


def test_yml_file_with_bare_block(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("hyperparameters:\n  params:\n  - {parameterName: a, type: DOUBLE, "
                    "minValue: '0.001', maxValue: '1e-1', scaleType: UNIT_LOG_SCALE}\n")
    spec = load_spec(path)
    assert spec.params[0] == ParameterSpec("a", ParamType.DOUBLE, 0.001, 0.1,
                                           scale_type=ScaleType.UNIT_LOG_SCALE)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    expect_error(path, "", "not found", str(path))


def test_yaml_text_instead_of_a_path_gets_a_hint() -> None:
    expect_error("goal: MINIMIZE\nparams: []\n", "", "not found", "a path, not YAML text")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    expect_error(path, "", "empty", str(path))


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("trainingInput:\n  hyperparameters:\n    goal: [MINIMIZE\n    maxTrials: 3\n")
    err = expect_error(path, "", str(path), "invalid YAML at line")
    assert "line 4" in str(err) or "line 5" in str(err)


def test_broken_json_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"hyperparameters": {"goal": \t"MINIMIZE",}')
    expect_error(path, "", str(path), "invalid YAML")


def test_directory_and_binary_file(tmp_path: Path) -> None:
    expect_error(tmp_path, "", "cannot read", str(tmp_path))
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    expect_error(path, "", "not UTF-8", str(path))


def test_yaml_integer_too_long_for_python(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("maxTrials: " + "9" * 5000 + "\n")
    expect_error(path, "", "invalid YAML", str(path))


@pytest.mark.parametrize("top", [[1, 2], "x" * 3, 5, None, b"bytes", 1.5])
def test_top_level_must_be_a_mapping(top: Any) -> None:
    if isinstance(top, str):
        expect_error(top, "", "not found")
    else:
        expect_error(top, "", "must be a mapping")


def test_top_level_list_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- goal: MINIMIZE\n")
    expect_error(path, "", "must be a mapping")


@pytest.mark.parametrize(
    ("source", "path", "value"),
    [
        ({1: "x"}, "", 1),
        (job({"params": [{**DOUBLE, 3: 4}]}), f"{P}.params[0]", 3),
        ({"trainingInput": {"hyperparameters": hp(), "scheduling": {None: 1}}},
         "trainingInput.scheduling", None),
    ],
)
def test_mapping_keys_must_be_strings(source: Any, path: str, value: Any) -> None:
    err = expect_error(source, path, "keys must be strings")
    assert err.value == value


@pytest.mark.parametrize(
    ("source", "path", "value"),
    [
        ({"trainingInput": ["x"]}, "trainingInput", ["x"]),
        ({"trainingInput": {"hyperparameters": "x"}}, P, "x"),
        (job({"params": {"parameterName": "a"}}), f"{P}.params", {"parameterName": "a"}),
        (job({"params": ["lr"]}), f"{P}.params[0]", "lr"),
        ({"hyperparameters": 3}, "hyperparameters", 3),
    ],
)
def test_containers_must_have_the_right_type(source: Any, path: str, value: Any) -> None:
    expect_error(source, path, value=value)


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ({"jobId": "j1"}, "trainingInput"),
        ({"trainingInput": None}, "trainingInput"),
        ({"trainingInput": {"scaleTier": "BASIC"}}, P),
        ({"scaleTier": "BASIC"}, "hyperparameters"),
        ({}, "params"),
        (job({}), f"{P}.params"),
        (job({"params": []}), f"{P}.params"),
        (job({"params": None}), f"{P}.params"),
    ],
)
def test_required_containers(source: Any, path: str) -> None:
    expect_error(source, path, "required")


def test_alias_cycle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text("trainingInput:\n  hyperparameters: {params: []}\n  scheduling: &a [*a]\n")
    expect_error(path, "trainingInput.scheduling[0]", "contains itself")


def test_alias_bomb_is_an_error(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("trainingInput:\n  hyperparameters: {params: []}\n  scheduling:\n"
                    + "".join(f"    {line}\n" for line in lines))
    with pytest.raises(SpecError, match="holds more than 1,000,000 values") as info:
        load_spec(path)
    assert info.value.path.startswith("trainingInput.scheduling.a")


def test_deep_nesting_is_an_error() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    expect_error({"trainingInput": {"hyperparameters": hp(), "scheduling": deep}},
                 "trainingInput.scheduling" + "[0]" * 63, "nested more than")


# --------------------------------------------------------------------------------------------
# Unknown keys and did-you-mean


@pytest.mark.parametrize(
    ("source", "path", "fragment"),
    [
        (job(hp(maxParalelTrials=3)), f"{P}.maxParalelTrials",
         "unknown field 'maxParalelTrials'; did you mean maxParallelTrials?"),
        (job(hp(maxtrials=3)), f"{P}.maxtrials",
         "unknown field 'maxtrials'; did you mean maxTrials?"),
        (hp(hyperparameterMetricTags="x"), "hyperparameterMetricTags",
         "did you mean hyperparameterMetricTag?"),
        (job({"params": [{**DOUBLE, "minvalue": 1}]}), f"{P}.params[0].minvalue",
         "unknown field 'minvalue'; did you mean minValue?"),
        (job({"params": [{**DOUBLE, "scale": "UNIT_LOG_SCALE"}]}), f"{P}.params[0].scale",
         "unknown field 'scale'; did you mean scaleType?"),
        ({"trainingInput": {"hyperparameters": hp(), "scaletier": "BASIC"}},
         "trainingInput.scaletier", "did you mean scaleTier?"),
        ({"trainingInput": {"hyperparameters": hp()}, "jobid": "x"}, "jobid",
         "did you mean jobId?"),
        ({"trainingInptu": {"hyperparameters": hp()}}, "trainingInptu",
         "did you mean trainingInput?"),
        ({"hyperparameter": hp()}, "hyperparameter", "did you mean hyperparameters?"),
        (job(hp(zzz=1)), f"{P}.zzz", "unknown field 'zzz'"),
    ],
)
def test_unknown_fields_suggest_the_closest(source: Any, path: str, fragment: str) -> None:
    expect_error(source, path, fragment)


@pytest.mark.parametrize(
    ("source", "path", "fragment"),
    [
        ({"trainingInput": {"hyperparameters": hp(), "goal": "MINIMIZE"}}, "trainingInput.goal",
         "belongs in hyperparameters"),
        (job(hp(parameterName="lr")), f"{P}.parameterName", "belongs in each entry of params"),
        ({"trainingInput": {"hyperparameters": hp()}, "hyperparameters": {}}, "hyperparameters",
         "belongs in trainingInput"),
        ({"trainingInput": {"hyperparameters": hp(), "jobId": "x"}}, "trainingInput.jobId",
         "belongs in the Job's top level"),
        ({"hyperparameters": hp(), "state": "RUNNING"}, "hyperparameters",
         "belongs in trainingInput"),
    ],
)
def test_a_known_key_at_the_wrong_level_says_where_it_goes(
    source: Any, path: str, fragment: str
) -> None:
    expect_error(source, path, fragment)


def test_error_message_format() -> None:
    err = expect_error(job(hp(goal="minimize")), f"{P}.goal")
    assert str(err) == (f"{P}.goal: must be one of MAXIMIZE, MINIMIZE, GOAL_TYPE_UNSPECIFIED; "
                        "did you mean MINIMIZE? (got 'minimize')")
    assert err.value == "minimize"
    assert isinstance(err, ValueError)


# --------------------------------------------------------------------------------------------
# Hyperparameters fields, good values


def test_defaults() -> None:
    spec = load_spec(job(hp()))
    assert spec.goal is Goal.MAXIMIZE
    assert spec.metric_tag == DEFAULT_METRIC_TAG
    assert (spec.max_trials, spec.max_parallel_trials, spec.max_failed_trials) == (1, 1, 0)
    assert spec.enable_early_stopping is False
    assert spec.algorithm is Algorithm.ALGORITHM_UNSPECIFIED
    assert spec.resume_previous_job_id is None
    assert spec.ignored_keys == ()


@pytest.mark.parametrize(
    ("field", "value", "attr", "expected"),
    [
        ("goal", "MAXIMIZE", "goal", Goal.MAXIMIZE),
        ("goal", "MINIMIZE", "goal", Goal.MINIMIZE),
        ("goal", "GOAL_TYPE_UNSPECIFIED", "goal", Goal.MAXIMIZE),
        ("hyperparameterMetricTag", "metrics-poetry_line_problem/accuracy_per_sequence",
         "metric_tag", "metrics-poetry_line_problem/accuracy_per_sequence"),
        ("hyperparameterMetricTag", "epoch accuracy", "metric_tag", "epoch accuracy"),
        ("maxTrials", 40, "max_trials", 40),
        ("maxTrials", 5.0, "max_trials", 5),
        ("maxTrials", "5", "max_trials", 5),
        ("maxTrials", " 7 ", "max_trials", 7),
        ("maxTrials", "5.0", "max_trials", 5),
        ("maxTrials", 100_000, "max_trials", 100_000),
        ("maxParallelTrials", 1, "max_parallel_trials", 1),
        ("maxParallelTrials", "8", "max_parallel_trials", 8),
        ("maxFailedTrials", 0, "max_failed_trials", 0),
        ("maxFailedTrials", 3.0, "max_failed_trials", 3),
        ("enableTrialEarlyStopping", True, "enable_early_stopping", True),
        ("enableTrialEarlyStopping", False, "enable_early_stopping", False),
        ("enableTrialEarlyStopping", "TRUE", "enable_early_stopping", True),
        ("enableTrialEarlyStopping", "False", "enable_early_stopping", False),
        ("enableTrialEarlyStopping", "true", "enable_early_stopping", True),
        ("algorithm", "ALGORITHM_UNSPECIFIED", "algorithm", Algorithm.ALGORITHM_UNSPECIFIED),
        ("algorithm", "RANDOM_SEARCH", "algorithm", Algorithm.RANDOM_SEARCH),
        ("resumePreviousJobId", "babyweight_regression_20180509", "resume_previous_job_id",
         "babyweight_regression_20180509"),
        ("goal", None, "goal", Goal.MAXIMIZE),  # `goal:` with no value is unset
    ],
)
def test_good_hyperparameter_fields(field: str, value: Any, attr: str, expected: Any) -> None:
    spec = load_spec(job({**hp(), field: value}))
    assert getattr(spec, attr) == expected
    assert type(getattr(spec, attr)) is type(expected)


@pytest.mark.parametrize("text", ["True", "TRUE", "true", "yes", "on"])
def test_yaml_booleans(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"enableTrialEarlyStopping: {text}\nparams:\n- {json.dumps(DOUBLE)}\n")
    assert load_spec(path).enable_early_stopping is True


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("goal", "minimize", "did you mean MINIMIZE?"),
        ("goal", "MINIMISE", "did you mean MINIMIZE?"),
        ("goal", "BEST", "must be one of"),
        ("goal", 1, "must be one of"),
        ("goal", ["MINIMIZE"], "must be one of"),
        ("hyperparameterMetricTag", "", "non-empty string"),
        ("hyperparameterMetricTag", 3, "non-empty string"),
        ("hyperparameterMetricTag", "a\x00b", "NUL"),
        ("maxTrials", 0, "between 1 and 100,000"),
        ("maxTrials", -3, "between 1 and 100,000"),
        ("maxTrials", 100_001, "between 1 and 100,000"),
        ("maxTrials", 2.5, "whole number"),
        ("maxTrials", "2.5", "whole number"),
        ("maxTrials", True, "must be a number"),
        ("maxTrials", "ten", "must be a number"),
        ("maxTrials", [5], "must be a number"),
        ("maxTrials", math.nan, "finite"),
        ("maxTrials", math.inf, "finite"),
        ("maxTrials", "inf", "finite"),
        ("maxTrials", 10**400, "too large"),
        ("maxParallelTrials", 0, "between 1 and 10,000"),
        ("maxParallelTrials", 10**6, "between 1 and 10,000"),
        ("maxFailedTrials", -1, "between 0 and 100,000"),
        ("maxFailedTrials", False, "must be a number"),
        ("enableTrialEarlyStopping", "yes", "true or false"),
        ("enableTrialEarlyStopping", 1, "true or false"),
        ("enableTrialEarlyStopping", "", "true or false"),
        ("algorithm", "grid_search", "did you mean GRID_SEARCH?"),
        ("algorithm", "BAYESIAN", "must be one of"),
        ("resumePreviousJobId", "1job", "job name"),
        ("resumePreviousJobId", "my-job", "job name"),
        ("resumePreviousJobId", "job\n", "job name"),
        ("resumePreviousJobId", "", "job name"),
        ("resumePreviousJobId", 12, "job name"),
        ("resumePreviousJobId", "a" * 129, "job name"),
    ],
)
def test_bad_hyperparameter_fields(field: str, value: Any, fragment: str) -> None:
    err = expect_error(job(hp(**{field: value})), f"{P}.{field}", fragment)
    if field != "maxTrials" or value != 10**400:
        assert repr(value)[:100] in str(err)


def test_huge_int_is_shown_abbreviated() -> None:
    err = expect_error(job(hp(maxTrials=10**5000)), f"{P}.maxTrials", "too large to show")
    assert len(str(err)) < 300


def test_resume_without_params() -> None:
    spec = load_spec(job({"resumePreviousJobId": "job_1", "maxTrials": 20}))
    assert spec.params == () and spec.resume_previous_job_id == "job_1"
    spec = load_spec(job({"resumePreviousJobId": "job_1", "params": []}))
    assert spec.params == ()


def test_resume_still_validates_given_params() -> None:
    expect_error(job({"resumePreviousJobId": "job_1", "params": [{"type": "DOUBLE"}]}),
                 f"{P}.params[0].parameterName", "required")


# --------------------------------------------------------------------------------------------
# Parameters, good values


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (DOUBLE, ParameterSpec("lr", ParamType.DOUBLE, 0.001, 0.1)),
        ({**DOUBLE, "minValue": "0.001", "maxValue": "1e-1"},
         ParameterSpec("lr", ParamType.DOUBLE, 0.001, 0.1)),
        ({**DOUBLE, "minValue": -5, "maxValue": 5, "scaleType": "UNIT_LINEAR_SCALE"},
         ParameterSpec("lr", ParamType.DOUBLE, -5.0, 5.0, scale_type=ScaleType.UNIT_LINEAR_SCALE)),
        ({**DOUBLE, "scaleType": "UNIT_LOG_SCALE"},
         ParameterSpec("lr", ParamType.DOUBLE, 0.001, 0.1, scale_type=ScaleType.UNIT_LOG_SCALE)),
        ({**DOUBLE, "minValue": 0.5, "maxValue": 0.99, "scaleType": "UNIT_REVERSE_LOG_SCALE"},
         ParameterSpec("lr", ParamType.DOUBLE, 0.5, 0.99,
                       scale_type=ScaleType.UNIT_REVERSE_LOG_SCALE)),
        ({**DOUBLE, "scaleType": None}, ParameterSpec("lr", ParamType.DOUBLE, 0.001, 0.1)),
        (INTEGER, ParameterSpec("units", ParamType.INTEGER, 8.0, 64.0)),
        ({**INTEGER, "minValue": 3.0, "maxValue": "30"},
         ParameterSpec("units", ParamType.INTEGER, 3.0, 30.0)),
        ({**INTEGER, "minValue": 1, "scaleType": "UNIT_LOG_SCALE"},
         ParameterSpec("units", ParamType.INTEGER, 1.0, 64.0,
                       scale_type=ScaleType.UNIT_LOG_SCALE)),
        ({**INTEGER, "minValue": -10, "maxValue": -2},
         ParameterSpec("units", ParamType.INTEGER, -10.0, -2.0)),
        (CATEGORICAL, ParameterSpec("opt", ParamType.CATEGORICAL, categorical_values=("a", "b"))),
        ({**CATEGORICAL, "categoricalValues": ["256 128 64", "64 32"]},
         ParameterSpec("opt", ParamType.CATEGORICAL, categorical_values=("256 128 64", "64 32"))),
        ({**CATEGORICAL, "categoricalValues": [64, 0.5, "x"]},
         ParameterSpec("opt", ParamType.CATEGORICAL, categorical_values=("64", "0.5", "x"))),
        ({**CATEGORICAL, "categoricalValues": ["only"]},
         ParameterSpec("opt", ParamType.CATEGORICAL, categorical_values=("only",))),
        (DISCRETE, ParameterSpec("bs", ParamType.DISCRETE, discrete_values=(16.0, 32.0, 64.0))),
        ({**DISCRETE, "discreteValues": ["0.1", 0.5, 2], "scaleType": "UNIT_LOG_SCALE"},
         ParameterSpec("bs", ParamType.DISCRETE, discrete_values=(0.1, 0.5, 2.0),
                       scale_type=ScaleType.UNIT_LOG_SCALE)),
        ({**DISCRETE, "discreteValues": [-1, 0, 1]},
         ParameterSpec("bs", ParamType.DISCRETE, discrete_values=(-1.0, 0.0, 1.0))),
        ({**DISCRETE, "discreteValues": list(range(1000))},
         ParameterSpec("bs", ParamType.DISCRETE, discrete_values=tuple(map(float, range(1000))))),
        ({**DOUBLE, "parameterName": "hidden-units"},
         ParameterSpec("hidden-units", ParamType.DOUBLE, 0.001, 0.1)),
        ({**DOUBLE, "parameterName": "hidden_units.2"},
         ParameterSpec("hidden_units.2", ParamType.DOUBLE, 0.001, 0.1)),
    ],
)
def test_good_params(raw: dict[str, Any], expected: ParameterSpec) -> None:
    spec = load_spec(job({"params": [raw]}))
    assert spec.params == (expected,)


def test_integer_bounds_stay_floats() -> None:
    param = load_spec(job({"params": [INTEGER]})).params[0]
    assert type(param.min_value) is float and type(param.max_value) is float


# --------------------------------------------------------------------------------------------
# Parameters, bad values

BAD_PARAMS: list[tuple[dict[str, Any], str, Any, str]] = [
    # (param, field in the error path, bad value or SKIP, message fragment)
    ({**DOUBLE, "parameterName": None}, "parameterName", SKIP, "required"),
    ({**DOUBLE, "parameterName": ""}, "parameterName", "", "non-empty"),
    ({**DOUBLE, "parameterName": 7}, "parameterName", 7, "non-empty string"),
    ({**DOUBLE, "parameterName": "learning rate"}, "parameterName", "learning rate", "whitespace"),
    ({**DOUBLE, "parameterName": "lr\t"}, "parameterName", "lr\t", "whitespace"),
    ({**DOUBLE, "parameterName": "--lr"}, "parameterName", "--lr", "leading '-'"),
    ({**DOUBLE, "parameterName": "lr=1"}, "parameterName", "lr=1", "'='"),
    ({**DOUBLE, "parameterName": "lr\x07"}, "parameterName", "lr\x07", "control"),
    ({**DOUBLE, "type": None}, "type", SKIP, "required"),
    ({**DOUBLE, "type": "FLOAT"}, "type", "FLOAT", "must be one of"),
    ({**DOUBLE, "type": "double"}, "type", "double", "did you mean DOUBLE?"),
    ({**DOUBLE, "type": "INT"}, "type", "INT", "did you mean INTEGER?"),
    ({**DOUBLE, "minValue": None}, "minValue", SKIP, "required for DOUBLE"),
    ({**DOUBLE, "maxValue": None}, "maxValue", SKIP, "required for DOUBLE"),
    ({**DOUBLE, "minValue": "small"}, "minValue", "small", "must be a number"),
    ({**DOUBLE, "minValue": True}, "minValue", True, "must be a number"),
    ({**DOUBLE, "minValue": [0.1]}, "minValue", [0.1], "must be a number"),
    ({**DOUBLE, "minValue": math.nan}, "minValue", math.nan, "finite"),
    ({**DOUBLE, "maxValue": math.inf}, "maxValue", math.inf, "finite"),
    ({**DOUBLE, "maxValue": "NaN"}, "maxValue", "NaN", "finite"),
    ({**DOUBLE, "maxValue": 10**400}, "maxValue", SKIP, "too large"),
    ({**DOUBLE, "minValue": 0.1, "maxValue": 0.1}, "maxValue", 0.1, "greater than minValue"),
    ({**DOUBLE, "minValue": 1, "maxValue": 0}, "maxValue", 0, "greater than minValue"),
    ({**DOUBLE, "minValue": -1.7e308, "maxValue": 1.7e308}, "maxValue", 1.7e308, "too large"),
    ({**DOUBLE, "minValue": 0, "scaleType": "UNIT_LOG_SCALE"}, "minValue", 0, "> 0"),
    ({**DOUBLE, "minValue": -1, "scaleType": "UNIT_REVERSE_LOG_SCALE"}, "minValue", -1, "> 0"),
    ({**DOUBLE, "scaleType": "LOG"}, "scaleType", "LOG", "must be one of"),
    ({**DOUBLE, "scaleType": "unit_log_scale"}, "scaleType", "unit_log_scale",
     "did you mean UNIT_LOG_SCALE?"),
    ({**DOUBLE, "categoricalValues": ["a"]}, "categoricalValues", ["a"],
     "not allowed for DOUBLE"),
    ({**DOUBLE, "discreteValues": [1, 2]}, "discreteValues", [1, 2], "not allowed"),
    ({**INTEGER, "minValue": 1.5}, "minValue", 1.5, "whole number"),
    ({**INTEGER, "maxValue": "64.5"}, "maxValue", "64.5", "whole number"),
    ({**INTEGER, "maxValue": 2**60}, "maxValue", 2**60, "2**53"),
    ({**INTEGER, "minValue": 0, "scaleType": "UNIT_LOG_SCALE"}, "minValue", 0, ">= 1"),
    ({**INTEGER, "minValue": 64, "maxValue": 8}, "maxValue", 8, "greater than minValue"),
    ({**INTEGER, "discreteValues": [1]}, "discreteValues", [1], "not allowed for INTEGER"),
    ({**CATEGORICAL, "categoricalValues": None}, "categoricalValues", SKIP, "required"),
    ({**CATEGORICAL, "categoricalValues": []}, "categoricalValues", [], "must not be empty"),
    ({**CATEGORICAL, "categoricalValues": "a b"}, "categoricalValues", "a b", "must be a list"),
    ({**CATEGORICAL, "categoricalValues": ["a", True]}, "categoricalValues[1]", True, "string"),
    ({**CATEGORICAL, "categoricalValues": ["a", None]}, "categoricalValues[1]", None, "string"),
    ({**CATEGORICAL, "categoricalValues": [["a"]]}, "categoricalValues[0]", ["a"], "string"),
    ({**CATEGORICAL, "categoricalValues": ["a", ""]}, "categoricalValues[1]", "", "non-empty"),
    ({**CATEGORICAL, "categoricalValues": [math.nan]}, "categoricalValues[0]", math.nan,
     "finite"),
    ({**CATEGORICAL, "categoricalValues": ["a", "b", "a"]}, "categoricalValues[2]", "a",
     "duplicate of"),
    ({**CATEGORICAL, "categoricalValues": [64, "64"]}, "categoricalValues[1]", "64",
     "duplicate of"),
    ({**CATEGORICAL, "scaleType": "UNIT_LINEAR_SCALE"}, "scaleType", "UNIT_LINEAR_SCALE",
     "must be unset for CATEGORICAL"),
    ({**CATEGORICAL, "minValue": 1}, "minValue", 1, "not allowed for CATEGORICAL"),
    ({**CATEGORICAL, "discreteValues": [1]}, "discreteValues", [1], "not allowed"),
    ({**DISCRETE, "discreteValues": None}, "discreteValues", SKIP, "required"),
    ({**DISCRETE, "discreteValues": []}, "discreteValues", [], "must not be empty"),
    ({**DISCRETE, "discreteValues": 4}, "discreteValues", 4, "must be a list"),
    ({**DISCRETE, "discreteValues": [1, 3, 2]}, "discreteValues[2]", 2, "strictly increase"),
    ({**DISCRETE, "discreteValues": [1, 1]}, "discreteValues[1]", 1, "strictly increase"),
    ({**DISCRETE, "discreteValues": [1, "x"]}, "discreteValues[1]", "x", "must be a number"),
    ({**DISCRETE, "discreteValues": [1, math.inf]}, "discreteValues[1]", math.inf, "finite"),
    ({**DISCRETE, "discreteValues": [1, False]}, "discreteValues[1]", False, "must be a number"),
    ({**DISCRETE, "discreteValues": list(range(1001))}, "discreteValues", SKIP, "at most 1,000"),
    ({**DISCRETE, "discreteValues": [0, 1], "scaleType": "UNIT_LOG_SCALE"},
     "discreteValues[0]", 0, "> 0"),
    ({**DISCRETE, "minValue": 1}, "minValue", 1, "not allowed for DISCRETE"),
    ({**DISCRETE, "categoricalValues": ["a"]}, "categoricalValues", ["a"], "not allowed"),
]


@pytest.mark.parametrize(("raw", "field", "value", "fragment"), BAD_PARAMS)
def test_bad_params(raw: dict[str, Any], field: str, value: Any, fragment: str) -> None:
    source = job({"params": [DISCRETE if raw is not DISCRETE else INTEGER, raw]})
    source["trainingInput"]["hyperparameters"]["params"][0] = {
        **INTEGER, "parameterName": "other"}
    raw = {k: v for k, v in raw.items() if v is not None}
    source["trainingInput"]["hyperparameters"]["params"][1] = raw
    expect_error(source, f"{P}.params[1].{field}", fragment, value=value)


def test_params_must_be_a_list_of_mappings() -> None:
    expect_error(job({"params": "lr"}), f"{P}.params", "must be a list", value="lr")
    expect_error(job({"params": [DOUBLE, None]}), f"{P}.params[1]", "mapping", value=None)


def test_duplicate_parameter_names_name_both_indexes() -> None:
    err = expect_error(job({"params": [DOUBLE, INTEGER, {**CATEGORICAL, "parameterName": "lr"}]}),
                       f"{P}.params[2].parameterName", value="lr")
    assert f"duplicate of {P}.params[0].parameterName" in str(err)


# --------------------------------------------------------------------------------------------
# Grid search


def test_grid_search_with_integer_categorical_discrete() -> None:
    spec = load_spec(job({"algorithm": "GRID_SEARCH", "maxTrials": 100,
                          "params": [INTEGER, CATEGORICAL, DISCRETE]}))
    assert spec.algorithm is Algorithm.GRID_SEARCH


def test_grid_search_rejects_double() -> None:
    expect_error(job({"algorithm": "GRID_SEARCH", "params": [INTEGER, DOUBLE]}),
                 f"{P}.params[1].type", "GRID_SEARCH", "'lr' is DOUBLE", value="DOUBLE")


def test_grid_search_rejects_an_absurd_grid() -> None:
    big = [{**INTEGER, "parameterName": f"p{i}", "minValue": 1, "maxValue": 100}
           for i in range(4)]
    expect_error(job({"algorithm": "GRID_SEARCH", "params": big}), f"{P}.params",
                 "more than 10,000,000 points", value=100**4)
    assert load_spec(job({"algorithm": "GRID_SEARCH", "params": big[:3]}))  # 1e6 is fine


# --------------------------------------------------------------------------------------------
# trainingInput and the Job's top level


def test_training_input_is_kept_and_non_local_keys_reported() -> None:
    raw = {
        "jobId": "babyweight_1",
        "labels": {"team": "x"},
        "trainingOutput": {"completedTrialCount": "3"},
        "state": "SUCCEEDED",
        "trainingInput": {
            "scaleTier": "CUSTOM",
            "masterType": "complex_model_m_gpu",
            "region": "us-central1",
            "runtimeVersion": "1.15",
            "jobDir": "gs://bucket/out",
            "pythonModule": "trainer.task",
            "args": ["--train_steps", 1000],
            "scheduling": {"maxRunningTime": "3600s"},
            "hyperparameters": hp(),
        },
    }
    spec = load_spec(raw)
    assert spec.ignored_keys == ("masterType", "region", "scaleTier", "scheduling")
    assert spec.training_input == raw["trainingInput"]
    assert spec.training_input is not raw["trainingInput"]
    assert spec.training_input["scheduling"] is not raw["trainingInput"]["scheduling"]
    raw["trainingInput"]["scheduling"]["maxRunningTime"] = "1s"
    assert spec.training_input["scheduling"] == {"maxRunningTime": "3600s"}


def test_bare_training_input_form_keeps_its_other_keys() -> None:
    spec = load_spec({"hyperparameters": hp(), "scaleTier": "BASIC_GPU"})
    assert spec.ignored_keys == ("scaleTier",)
    assert spec.training_input["scaleTier"] == "BASIC_GPU"


@pytest.mark.parametrize(
    ("training_input", "path", "value"),
    [
        ({"jobDir": 3}, "trainingInput.jobDir", 3),
        ({"jobDir": ""}, "trainingInput.jobDir", ""),
        ({"pythonModule": ["trainer.task"]}, "trainingInput.pythonModule", ["trainer.task"]),
        ({"args": "--a 1"}, "trainingInput.args", "--a 1"),
        ({"args": ["--a", None]}, "trainingInput.args[1]", None),
        ({"args": ["--a", math.nan]}, "trainingInput.args[1]", math.nan),
        ({"scheduling": {"when": b"x"}}, "trainingInput.scheduling.when", b"x"),
        ({"region": math.inf}, "trainingInput.region", math.inf),
        ({"workerCount": 2**64}, "trainingInput.workerCount", 2**64),
    ],
)
def test_bad_training_input_values(training_input: dict[str, Any], path: str, value: Any
                                   ) -> None:
    expect_error({"trainingInput": {"hyperparameters": hp(), **training_input}}, path,
                 value=value)


def test_yaml_dates_in_training_input_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("trainingInput:\n  region: 2018-01-01\n"
                    f"  hyperparameters: {json.dumps(hp())}\n")
    expect_error(path, "trainingInput.region", "plain data")


def test_dates_at_the_job_top_level_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("createTime: 2018-01-01T00:00:00Z\ntrainingInput:\n  hyperparameters: "
                    f"{json.dumps(hp())}\n")
    assert load_spec(path).params


@pytest.mark.parametrize("job_id", ["1abc", "a-b", "", 5])
def test_bad_job_id(job_id: Any) -> None:
    expect_error({"jobId": job_id, "trainingInput": {"hyperparameters": hp()}}, "jobId",
                 "job name", value=job_id)


# --------------------------------------------------------------------------------------------
# spec_to_dict and the round trip

ROUND_TRIP_SOURCES = [
    yaml.safe_load(BUNDLED_YAML),
    hp(),
    {"hyperparameters": hp(goal="GOAL_TYPE_UNSPECIFIED", maxTrials="7")},
    job({"resumePreviousJobId": "prev_job", "maxTrials": 20}),
    job({"algorithm": "GRID_SEARCH", "maxFailedTrials": 2, "enableTrialEarlyStopping": "false",
         "params": [{**INTEGER, "scaleType": "UNIT_LOG_SCALE"}, CATEGORICAL,
                    {**DISCRETE, "discreteValues": [0.5, 1, "2.5"],
                     "scaleType": "UNIT_REVERSE_LOG_SCALE"}]}),
    {"jobId": "j", "trainingInput": {"hyperparameters": hp(), "jobDir": "out",
                                     "masterConfig": {"imageUri": "x"}, "workerCount": "2"}},
]


@pytest.mark.parametrize("source", ROUND_TRIP_SOURCES)
def test_round_trip(source: dict[str, Any]) -> None:
    spec = load_spec(source)
    canonical = spec_to_dict(spec)
    assert json.loads(json.dumps(canonical, allow_nan=False)) == canonical
    again = load_spec(canonical)
    assert again == spec
    assert again.ignored_keys == spec.ignored_keys
    assert spec_to_dict(again) == canonical


def test_spec_to_dict_uses_service_spellings() -> None:
    out = spec_to_dict(load_spec(yaml.safe_load(BUNDLED_YAML)))
    assert out == {
        "trainingInput": {
            "scaleTier": "STANDARD_1",
            "hyperparameters": {
                "goal": "MINIMIZE",
                "hyperparameterMetricTag": "rmse",
                "maxTrials": 40,
                "maxParallelTrials": 5,
                "maxFailedTrials": 0,
                "enableTrialEarlyStopping": True,
                "enableTransferLearning": True,
                "algorithm": "ALGORITHM_UNSPECIFIED",
                "params": [
                    {"parameterName": "nembeds", "type": "INTEGER", "minValue": 3,
                     "maxValue": 30, "scaleType": "UNIT_LINEAR_SCALE"},
                    {"parameterName": "nnsize", "type": "DISCRETE",
                     "discreteValues": [4.0, 16.0, 32.0, 64.0, 128.0]},
                ],
            },
        }
    }
    params = out["trainingInput"]["hyperparameters"]["params"]
    assert type(params[0]["minValue"]) is int


def test_spec_to_dict_double_bounds_are_floats_and_no_null_scale() -> None:
    out = spec_to_dict(load_spec(job({"params": [{**DOUBLE, "minValue": 1, "maxValue": 2}]})))
    param = out["trainingInput"]["hyperparameters"]["params"][0]
    assert type(param["minValue"]) is float and type(param["maxValue"]) is float
    assert "scaleType" not in param
    assert "resumePreviousJobId" not in out["trainingInput"]["hyperparameters"]


# --------------------------------------------------------------------------------------------
# Nothing but SpecError, whatever the input

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.binary(max_size=4),
    st.sampled_from(["DOUBLE", "INTEGER", "CATEGORICAL", "DISCRETE", "GRID_SEARCH",
                     "UNIT_LOG_SCALE", "MINIMIZE", "5", "0.5", "true"]),
)
_keys = st.one_of(
    st.sampled_from(("trainingInput", "hyperparameters", "params", "jobId", "scaleTier", "args",
                     "jobDir") + HYPERPARAMETER_KEYS + PARAM_KEYS),
    st.text(max_size=6), st.integers(),
)
_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(_keys, children, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees)
def test_fuzz_only_spec_errors(tree: Any) -> None:
    try:
        spec = load_spec(tree)
    except SpecError as err:
        str(err)
    else:
        assert load_spec(spec_to_dict(spec)) == spec


@pytest.mark.parametrize("version", ["1.15", 1.15, "2.11", "1.15.2"])
def test_runtime_version_and_gcs_root_are_local_fields(version) -> None:
    spec = load_spec({"runtimeVersion": version, "gcsRoot": "/data/gcs", "hyperparameters": hp()})
    assert spec.ignored_keys == ()
    assert spec.training_input["runtimeVersion"] == version


@pytest.mark.parametrize("field, value", [
    ("runtimeVersion", "latest"), ("runtimeVersion", 2), ("runtimeVersion", True),
    ("gcsRoot", ""), ("gcsRoot", 3),
])
def test_bad_runtime_fields_name_their_path(field, value) -> None:
    with pytest.raises(SpecError, match=f"^trainingInput.{field}: must be"):
        load_spec({"trainingInput": {field: value, "hyperparameters": hp()}})


def test_resource_and_executor_fields_are_local_and_kept_parsed() -> None:
    spec = load_spec({"gpus": 2, "trialsPerGpu": "4", "gpusPerTrial": 1, "cpusPerTrial": 0,
                      "cpuAffinity": "True", "executor": "ray", "rayAddress": "head:6379",
                      "retryLostTrials": "false", "hyperparameters": hp()})
    assert spec.ignored_keys == ()
    assert {k: spec.training_input[k] for k in ("gpus", "trialsPerGpu", "cpusPerTrial",
                                                 "cpuAffinity", "retryLostTrials")} == {
        "gpus": ["0", "1"], "trialsPerGpu": 4, "cpusPerTrial": 0, "cpuAffinity": True,
        "retryLostTrials": False}
    assert load_spec(spec_to_dict(spec)) == spec


@pytest.mark.parametrize("field, value, problem", [
    ("trialsPerGpu", 0, "must be between 1"), ("gpusPerTrial", 1.5, "must be a whole number"),
    ("cpusPerTrial", -1, "must be between 0"), ("cpuAffinity", "yes", "must be true or false"),
    ("executor", "slurm", "must be one of local, ray"),
    ("rayAddress", 5, "must be a non-empty string"),
])
def test_bad_resource_fields_name_their_path(field, value, problem) -> None:
    with pytest.raises(SpecError, match=f"^trainingInput.{field}: {problem}"):
        load_spec({"trainingInput": {field: value, "hyperparameters": hp()}})
