"""Turn a tuning config (file, dict or Job resource) into a validated, frozen ``StudySpec``.

Three forms are accepted and error paths follow the one the user wrote:
``{trainingInput: {hyperparameters: ...}}`` (the Job resource), ``{hyperparameters: ...}``
(a bare ``trainingInput``), and the hyperparameters mapping itself. Every problem raises
``SpecError`` naming the path and the bad value; no other exception escapes ``load_spec``.
"""
from __future__ import annotations

import copy
import difflib
import enum
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from tf_hptune.errors import SpecError
from tf_hptune.names import is_job_name
from tf_hptune.resources import EXECUTORS, ResourceSettings, parse_gpus
from tf_hptune.spec.constraints import parse_constraint
from tf_hptune.spec.model import (
    Algorithm,
    Goal,
    ParameterSpec,
    ParamType,
    ScaleType,
    StudySpec,
)

__all__ = ["load_spec", "spec_to_dict"]

NO_VALUE: Any = SpecError.NO_VALUE  # type: ignore[attr-defined]

MAX_TRIALS = 100_000
MAX_PARALLEL_TRIALS = 10_000
MAX_DISCRETE_VALUES = 1_000
MAX_GRID_POINTS = 10_000_000
MAX_DEPTH = 64  # nesting of the whole document
MAX_NODES = 1_000_000  # values in the document, YAML aliases expanded
# A config's bytes, read before parsing (which takes seconds per 100 KB): each trial's TF_CONFIG
# carries trainingInput, and Linux caps one environment string at 128 KiB anyway.
MAX_CONFIG_BYTES = 256 * 1024
_MAX_EXACT = 2.0**53  # beyond this, floats no longer hold every whole number
_MAX_SHOWN = 200  # longest repr of a bad value put in a message

JOB_KEYS = (
    "jobId", "labels", "trainingInput", "etag", "createTime", "startTime", "endTime", "state",
    "errorMessage", "trainingOutput", "jobPosition",
)
TRAINING_INPUT_KEYS = (
    "hyperparameters", "scaleTier", "masterType", "masterConfig", "workerType", "workerConfig",
    "workerCount", "parameterServerType", "parameterServerConfig", "parameterServerCount",
    "evaluatorType", "evaluatorConfig", "evaluatorCount", "packageUris", "pythonModule", "region",
    "args", "jobDir", "runtimeVersion", "pythonVersion", "scheduling", "encryptionConfig",
    "useChiefInTfConfig", "serviceAccount", "network", "enableWebAccess",
    "gcsRoot",  # beyond the service: the local directory that stands for gs:// (runtime mode)
    # beyond the service: where trials run and on what (tf_hptune.resources)
    *ResourceSettings.FIELDS.values(), "executor", "rayAddress", "retryLostTrials",
)
HYPERPARAMETER_KEYS = (
    "goal", "hyperparameterMetricTag", "maxTrials", "maxParallelTrials", "maxFailedTrials",
    "enableTrialEarlyStopping", "algorithm", "resumePreviousJobId", "params", "constraints",
    "enableTransferLearning", "earlyStoppingRule",
)
PARAM_KEYS = (
    "parameterName", "type", "minValue", "maxValue", "categoricalValues", "discreteValues",
    "scaleType",
)
# Where a key belongs, to explain a known key written at the wrong level.
_HOME = {
    **{k: "each entry of params" for k in PARAM_KEYS},
    **{k: "hyperparameters" for k in HYPERPARAMETER_KEYS},
    **{k: "trainingInput" for k in TRAINING_INPUT_KEYS},
    **{k: "the Job's top level" for k in JOB_KEYS},
}


# ---------------------------------------------------------------------------------------------
# Errors and paths


@dataclass(frozen=True)
class _Abbreviated:
    """Stands in for a value whose repr is too long (or too big) to show."""

    text: str

    def __repr__(self) -> str:
        return self.text


def _shown(value: Any) -> Any:
    if value is NO_VALUE:
        return value
    try:
        text = repr(value)
    except Exception:  # e.g. an int with more digits than Python will print
        return _Abbreviated(f"<{type(value).__name__} too large to show>")
    return value if len(text) <= _MAX_SHOWN else _Abbreviated(text[:_MAX_SHOWN] + "...")


def _fail(path: str, value: Any, problem: str) -> NoReturn:
    raise SpecError(path, _shown(value), problem)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    """``"; did you mean X?"`` for the closest choice, case-insensitively; ``""`` if none."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]}?"
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1)
    return f"; did you mean {lowered[close[0]]}?" if close else ""


def _check_keys(
    mapping: Mapping[str, Any], known: tuple[str, ...], path: str, hints: tuple[str, ...] = ()
) -> None:
    """Reject keys not in ``known``, suggesting the closest of ``known + hints``."""
    for key in mapping:
        if key in known:
            continue
        problem = f"unknown field {key!r}"
        home = _HOME.get(key)
        if home is not None and key not in hints:
            problem += f"; it belongs in {home}"
        else:
            problem += _did_you_mean(key, known + hints)
        _fail(_join(path, key), NO_VALUE, problem)


def _present(mapping: Mapping[str, Any], key: str) -> bool:
    """A key counts as given unless it is absent or null (YAML ``key:`` with no value)."""
    return mapping.get(key) is not None


# ---------------------------------------------------------------------------------------------
# The whole document: string keys, no alias cycles, bounded size


def _scan(node: Any, path: str, depth: int, active: set[int], sizes: dict[int, int]) -> int:
    """Check every mapping key is a string; return the node count with aliases expanded."""
    is_mapping = isinstance(node, Mapping)
    if not is_mapping and not isinstance(node, (list, tuple)):
        return 1
    ident = id(node)
    if ident in active:
        _fail(path, NO_VALUE, "contains itself (a YAML alias cycle)")
    if ident in sizes:
        return sizes[ident]
    if depth > MAX_DEPTH:
        _fail(path, NO_VALUE, f"nested more than {MAX_DEPTH} levels deep")
    active.add(ident)
    total = 1
    if is_mapping:
        for key, value in node.items():
            if not isinstance(key, str):
                _fail(path, key, "mapping keys must be strings")
            total += _scan(value, _join(path, key), depth + 1, active, sizes)
    else:
        for index, value in enumerate(node):
            total += _scan(value, f"{path}[{index}]", depth + 1, active, sizes)
    active.discard(ident)
    if total > MAX_NODES:
        _fail(path, NO_VALUE, f"holds more than {MAX_NODES:,} values")
    sizes[ident] = total
    return total


def _check_plain(node: Any, path: str) -> None:
    """Kept data goes into ``TF_CONFIG`` as JSON: only JSON types, finite numbers."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            _check_plain(value, _join(path, key))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            _check_plain(value, f"{path}[{index}]")
    elif isinstance(node, float) and not math.isfinite(node):
        _fail(path, node, "must be a finite number")
    elif isinstance(node, int) and abs(node) >= 2**63:
        _fail(path, node, "is too large (more than 64 bits)")
    elif node is not None and not isinstance(node, (str, int, float)):
        _fail(path, node, "must be plain data (string, number, boolean, null, list, mapping)")


# ---------------------------------------------------------------------------------------------
# Scalar field parsers: (value, path) -> parsed value


def _number(value: Any, path: str) -> float:
    """A finite number; numeric strings (``"0.001"``) are accepted, booleans are not."""
    number: Any = value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                _fail(path, value, "must be a number")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(path, value, "must be a number")
    try:
        result = float(number)
    except OverflowError:
        _fail(path, value, "is too large")
    if not math.isfinite(result):
        _fail(path, value, "must be a finite number")
    return result


def _whole(value: Any, path: str) -> int:
    number = _number(value, path)
    if not number.is_integer():
        _fail(path, value, "must be a whole number")
    return int(number)


def _count(low: int, high: int) -> Callable[[Any, str], int]:
    def parse(value: Any, path: str) -> int:
        number = _whole(value, path)
        if not low <= number <= high:
            _fail(path, value, f"must be between {low} and {high:,}")
        return number

    return parse


def _boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    _fail(path, value, "must be true or false")


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        _fail(path, value, "must be a non-empty string")
    if "\x00" in value:
        _fail(path, value, "must not contain a NUL character")
    return value


def _job_name(value: Any, path: str) -> str:
    if not is_job_name(value):
        _fail(path, value, "must be a job name: up to 128 letters, digits and underscores, "
                           "starting with a letter")
    return value


def _param_name(value: Any, path: str) -> str:
    name = _text(value, path)
    if not name.isprintable() or any(c.isspace() for c in name):
        _fail(path, value, "must be usable as a flag: no whitespace or control characters")
    if name.startswith("-") or "=" in name:
        _fail(path, value, "must be usable as a flag --<name>: no leading '-' and no '='")
    return name


def _choice(enum_type: type[enum.Enum], aliases: Mapping[str, Any] | None = None
            ) -> Callable[[Any, str], Any]:
    """Parse one of an enum's service spellings, exactly; suggest the spelling on a miss."""
    table: dict[str, Any] = {member.value: member for member in enum_type}
    table.update(aliases or {})
    names = tuple(table)

    def parse(value: Any, path: str) -> Any:
        if isinstance(value, str) and value in table:
            return table[value]
        hint = _did_you_mean(value, names) if isinstance(value, str) else ""
        _fail(path, value, f"must be one of {', '.join(names)}{hint}")

    return parse


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        _fail(path, value, "must be a list")
    if not value:
        _fail(path, value, "must not be empty")
    return list(value)


def _categories(value: Any, path: str) -> tuple[str, ...]:
    """Strings; YAML numbers (``- 64``) become their text; booleans, null, lists do not."""
    result: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(_list(value, path)):
        item_path = f"{path}[{index}]"
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if isinstance(item, float) and not math.isfinite(item):
                _fail(item_path, item, "must be a string or a finite number")
            item = _number_text(item, item_path)
        text = _text(item, item_path)
        if text in seen:
            _fail(item_path, item, f"duplicate of {path}[{seen[text]}]")
        seen[text] = index
        result.append(text)
    return tuple(result)


def _number_text(item: int | float, path: str) -> str:
    try:
        return str(item)
    except ValueError:
        _fail(path, item, "is too large")


def _discrete(value: Any, path: str) -> tuple[float, ...]:
    items = _list(value, path)
    if len(items) > MAX_DISCRETE_VALUES:
        _fail(path, NO_VALUE,
              f"has {len(items):,} values; at most {MAX_DISCRETE_VALUES:,} are allowed")
    result: list[float] = []
    for index, item in enumerate(items):
        number = _number(item, f"{path}[{index}]")
        if result and number <= result[-1]:
            _fail(f"{path}[{index}]", item, f"must be greater than {path}[{index - 1}] "
                                              f"({result[-1]!r}): values strictly increase")
        result.append(number)
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# Parameters

_PARAM_FIELDS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "minValue": ("min_value", _number),
    "maxValue": ("max_value", _number),
    "categoricalValues": ("categorical_values", _categories),
    "discreteValues": ("discrete_values", _discrete),
    "scaleType": ("scale_type", _choice(ScaleType)),
}
_REQUIRED: dict[ParamType, tuple[str, ...]] = {
    ParamType.DOUBLE: ("minValue", "maxValue"),
    ParamType.INTEGER: ("minValue", "maxValue"),
    ParamType.CATEGORICAL: ("categoricalValues",),
    ParamType.DISCRETE: ("discreteValues",),
}
_OPTIONAL: dict[ParamType, tuple[str, ...]] = {
    ParamType.DOUBLE: ("scaleType",),
    ParamType.INTEGER: ("scaleType",),
    ParamType.CATEGORICAL: (),
    ParamType.DISCRETE: ("scaleType",),
}
_parse_param_type = _choice(ParamType)


def _param(raw: Any, path: str) -> ParameterSpec:
    if not isinstance(raw, Mapping):
        _fail(path, raw, "each parameter must be a mapping")
    _check_keys(raw, PARAM_KEYS, path)
    for key in ("parameterName", "type"):
        if not _present(raw, key):
            _fail(_join(path, key), NO_VALUE, "required")
    name = _param_name(raw["parameterName"], _join(path, "parameterName"))
    kind: ParamType = _parse_param_type(raw["type"], _join(path, "type"))
    fields: dict[str, Any] = {}
    for key, (attr, parse) in _PARAM_FIELDS.items():
        if not _present(raw, key):
            continue
        if key not in _REQUIRED[kind] + _OPTIONAL[kind]:
            usage = "must be unset" if key == "scaleType" else "is not allowed"
            wanted = " and ".join(_REQUIRED[kind])
            _fail(_join(path, key), raw[key], f"{usage} for {kind.value} parameters "
                                              f"(they take {wanted})")
        fields[attr] = parse(raw[key], _join(path, key))
    for key in _REQUIRED[kind]:
        if not _present(raw, key):
            _fail(_join(path, key), NO_VALUE, f"required for {kind.value} parameters")
    spec = ParameterSpec(name=name, type=kind, **fields)
    _check_param(spec, raw, path)
    return spec


def _check_param(spec: ParameterSpec, raw: Mapping[str, Any], path: str) -> None:
    """Checks that involve more than one field of a parameter."""
    log = spec.scale_type in (ScaleType.UNIT_LOG_SCALE, ScaleType.UNIT_REVERSE_LOG_SCALE)
    scale = spec.scale_type.value if spec.scale_type else ""
    if spec.type is ParamType.DISCRETE:
        if log and spec.discrete_values[0] <= 0:
            _fail(_join(path, "discreteValues[0]"), raw["discreteValues"][0],
                  f"must be > 0 with {scale}")
        return
    if spec.type is ParamType.CATEGORICAL:
        return
    low, high = spec.min_value, spec.max_value
    assert low is not None and high is not None
    if spec.type is ParamType.INTEGER:
        for key, bound in (("minValue", low), ("maxValue", high)):
            if not bound.is_integer():
                _fail(_join(path, key), raw[key], "must be a whole number for an INTEGER "
                                                  "parameter")
            if abs(bound) > _MAX_EXACT:
                _fail(_join(path, key), raw[key], "must be within +-2**53 for an INTEGER "
                                                  "parameter")
    if low >= high:
        _fail(_join(path, "maxValue"), raw["maxValue"], f"must be greater than minValue "
                                                        f"({raw['minValue']!r})")
    if not math.isfinite(high - low):
        _fail(_join(path, "maxValue"), raw["maxValue"], "maxValue - minValue is too large")
    integer = spec.type is ParamType.INTEGER
    if log and (low < 1 if integer else low <= 0):
        bound = ">= 1" if integer else "> 0"
        _fail(_join(path, "minValue"), raw["minValue"], f"must be {bound} with {scale}")


def _params(raw: Any, path: str) -> tuple[ParameterSpec, ...]:
    if not isinstance(raw, (list, tuple)):
        _fail(path, raw, "must be a list of parameter specs")
    params: list[ParameterSpec] = []
    first: dict[str, int] = {}
    for index, item in enumerate(raw):
        param = _param(item, f"{path}[{index}]")
        if param.name in first:
            _fail(f"{path}[{index}].parameterName", param.name,
                  f"duplicate of {path}[{first[param.name]}].parameterName")
        first[param.name] = index
        params.append(param)
    return tuple(params)


def _constraints(raw: Any, path: str, params: tuple[ParameterSpec, ...]) -> tuple[str, ...]:
    """Expressions between parameters: their syntax, and their names when ``params`` are given
    (a resumed job has none). Whether any point satisfies them all is the search space's
    check (``SearchSpace.from_spec``), made before a job is recorded."""
    if not isinstance(raw, (list, tuple)):
        _fail(path, raw, "must be a list of expressions, e.g. ['nnsize % nheads == 0']")
    return tuple(parse_constraint(item, params or None, f"{path}[{index}]").text
                 for index, item in enumerate(raw))


# ---------------------------------------------------------------------------------------------
# The hyperparameters block

_HP_FIELDS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "goal": ("goal", _choice(Goal, {"GOAL_TYPE_UNSPECIFIED": Goal.MAXIMIZE})),
    "hyperparameterMetricTag": ("metric_tag", _text),
    "maxTrials": ("max_trials", _count(1, MAX_TRIALS)),
    "maxParallelTrials": ("max_parallel_trials", _count(1, MAX_PARALLEL_TRIALS)),
    "maxFailedTrials": ("max_failed_trials", _count(0, MAX_TRIALS)),
    "enableTrialEarlyStopping": ("enable_early_stopping", _boolean),
    "earlyStoppingRule": ("early_stopping_rule", _text),
    "enableTransferLearning": ("enable_transfer_learning", _boolean),
    "algorithm": ("algorithm", _choice(Algorithm)),
    "resumePreviousJobId": ("resume_previous_job_id", _job_name),
    "params": ("params", _params),
}


def _hyperparameters(raw: Any, path: str, hints: tuple[str, ...] = ()) -> dict[str, Any]:
    """Validate the block; return ``StudySpec`` keyword arguments."""
    if not isinstance(raw, Mapping):
        _fail(path, raw, "must be a mapping")
    _check_keys(raw, HYPERPARAMETER_KEYS, path, hints)
    fields: dict[str, Any] = {"params": ()}
    for key, (attr, parse) in _HP_FIELDS.items():
        if _present(raw, key):
            fields[attr] = parse(raw[key], _join(path, key))
    params_path = _join(path, "params")
    if not fields["params"] and not fields.get("resume_previous_job_id"):
        value = raw["params"] if _present(raw, "params") else NO_VALUE
        _fail(params_path, value, "required: a non-empty list of parameter specs "
                                  "(unless resumePreviousJobId is set)")
    if _present(raw, "constraints"):
        fields["constraints"] = _constraints(raw["constraints"], _join(path, "constraints"),
                                             fields["params"])
    if fields.get("algorithm") is Algorithm.GRID_SEARCH:
        points = 1
        for index, param in enumerate(fields["params"]):
            if param.type is ParamType.DOUBLE:
                _fail(f"{params_path}[{index}].type", param.type.value,
                      f"GRID_SEARCH needs INTEGER, CATEGORICAL or DISCRETE parameters; "
                      f"{param.name!r} is DOUBLE")
            points *= int(param.cardinality)
        if points > MAX_GRID_POINTS:
            _fail(params_path, points, f"the GRID_SEARCH grid has more than "
                                       f"{MAX_GRID_POINTS:,} points")
    return fields


# ---------------------------------------------------------------------------------------------
# The wrapping forms

def _args(value: Any, path: str) -> None:
    if not isinstance(value, (list, tuple)):
        _fail(path, value, "must be a list of strings")
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            _fail(f"{path}[{index}]", item, "must be a string or a number")


def _runtime_version(value: Any, path: str) -> None:
    if not isinstance(value, (str, float)) or not re.fullmatch(r"\d+\.\d+(\.\d+)?", str(value)):
        _fail(path, value, "must be a runtime version such as '1.15' or '2.11'")


def _gpus(value: Any, path: str) -> list[str]:
    try:
        return list(parse_gpus(value))
    except ValueError as e:
        _fail(path, value, str(e))


def _executor(value: Any, path: str) -> str:
    if value not in EXECUTORS:
        _fail(path, value, f"must be one of {', '.join(EXECUTORS)}")
    return str(value)


# The trainingInput keys used locally, besides hyperparameters.
_LOCAL_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "jobDir": _text,
    "pythonModule": _text,
    "args": _args,
    "runtimeVersion": _runtime_version,
    "gcsRoot": _text,
    "gpus": _gpus,
    "trialsPerGpu": _count(1, 1024),
    "gpusPerTrial": _count(1, 1024),
    "cpusPerTrial": _count(0, 65536),
    "cpuAffinity": _boolean,
    "executor": _executor,
    "rayAddress": _text,
    "retryLostTrials": _boolean,
}
# Those kept in their parsed form (a GPU count becomes its list of ids, "true" a boolean).
_NORMALIZED = (*ResourceSettings.FIELDS.values(), "executor", "rayAddress", "retryLostTrials")


def _training_input(raw: Any, path: str) -> StudySpec:
    if not isinstance(raw, Mapping):
        _fail(path, raw, "must be a mapping")
    _check_keys(raw, TRAINING_INPUT_KEYS, path)
    hp_path = _join(path, "hyperparameters")
    if not _present(raw, "hyperparameters"):
        _fail(hp_path, NO_VALUE, "required: the tuning config")
    fields = _hyperparameters(raw["hyperparameters"], hp_path)
    training_input = copy.deepcopy(dict(raw))
    for key, parse in _LOCAL_FIELDS.items():
        if _present(raw, key):
            value = parse(raw[key], _join(path, key))
            if key in _NORMALIZED:
                training_input[key] = value
    for key, value in raw.items():
        if key != "hyperparameters":
            _check_plain(value, _join(path, key))
    ignored = tuple(sorted(k for k in raw if k != "hyperparameters" and k not in _LOCAL_FIELDS))
    return StudySpec(**fields, training_input=training_input, ignored_keys=ignored)


def _job(raw: Mapping[str, Any]) -> StudySpec:
    _check_keys(raw, JOB_KEYS, "")
    if _present(raw, "jobId"):
        _job_name(raw["jobId"], "jobId")
    if not _present(raw, "trainingInput"):
        _fail("trainingInput", NO_VALUE, "required: it holds hyperparameters")
    return _training_input(raw["trainingInput"], "trainingInput")


def _from_mapping(raw: Any) -> StudySpec:
    if not isinstance(raw, Mapping):
        _fail("", raw, "the config must be a mapping (a Job resource or a hyperparameters block)")
    _scan(raw, "", 0, set(), {})
    if any(key in JOB_KEYS for key in raw):
        return _job(raw)
    if any(key in TRAINING_INPUT_KEYS for key in raw):
        return _training_input(raw, "")
    fields = _hyperparameters(raw, "", hints=("trainingInput", "hyperparameters"))
    return StudySpec(**fields, training_input={"hyperparameters": copy.deepcopy(dict(raw))})


def _read(path: Path) -> Any:
    """Parse a YAML or JSON file (YAML reads both)."""
    shown = str(path)
    try:
        with open(path, "rb") as f:  # a pipe (--config /dev/stdin) too
            raw = f.read(MAX_CONFIG_BYTES + 1)
        text = raw.decode("utf-8") if len(raw) <= MAX_CONFIG_BYTES else ""
    except FileNotFoundError:
        hint = " (load_spec takes a path, not YAML text)" if "\n" in shown else ""
        _fail("", shown, f"config file not found{hint}")
    except UnicodeDecodeError as exc:
        _fail("", shown, f"config file is not UTF-8 text: {exc.reason}")
    except (OSError, ValueError) as exc:  # a directory, no permission, a NUL in the name
        _fail("", shown, f"cannot read config file: {exc}")
    if len(raw) > MAX_CONFIG_BYTES:
        _fail("", shown, f"config file is larger than {MAX_CONFIG_BYTES // 1024} KiB; a tuning "
              "config is a few KB (each trial's TF_CONFIG carries trainingInput, and Linux "
              "limits that to 128 KiB)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if path.suffix.lower() == ".json":  # JSON indented with tabs is not YAML
            try:
                return _nonempty(json.loads(text), shown)
            except ValueError:
                pass
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        _fail("", shown, f"invalid YAML{where}: {problem}")
    except RecursionError:
        _fail("", shown, "invalid YAML: nested too deeply")
    except Exception as exc:  # e.g. an integer too long for Python to convert
        _fail("", shown, f"invalid YAML: {exc}")
    return _nonempty(data, shown)


def _nonempty(data: Any, shown: str) -> Any:
    if data is None:
        _fail("", shown, "config file is empty")
    return data


def load_spec(source: StudySpec | Mapping[str, Any] | str | os.PathLike[str]) -> StudySpec:
    """Validate a config (a mapping, a ``.yaml``/``.yml``/``.json`` path, or a ``StudySpec``)."""
    if isinstance(source, StudySpec):
        return source
    if isinstance(source, (str, os.PathLike)):
        try:
            path = Path(source)
        except TypeError:  # a PathLike whose __fspath__ returns bytes
            _fail("", source, "config path must be text")
        source = _read(path)
    return _from_mapping(source)


# ---------------------------------------------------------------------------------------------
# Back to the service's shape


def _param_to_dict(param: ParameterSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"parameterName": param.name, "type": param.type.value}
    if param.type in (ParamType.DOUBLE, ParamType.INTEGER):
        convert: Callable[[Any], Any] = int if param.type is ParamType.INTEGER else float
        out["minValue"] = convert(param.min_value)
        out["maxValue"] = convert(param.max_value)
    if param.categorical_values:
        out["categoricalValues"] = list(param.categorical_values)
    if param.discrete_values:
        out["discreteValues"] = [float(v) for v in param.discrete_values]
    if param.scale_type is not None:
        out["scaleType"] = param.scale_type.value
    return out


def spec_to_dict(spec: StudySpec) -> dict[str, Any]:
    """The canonical Job form, JSON-serialisable; ``load_spec(spec_to_dict(s)) == s``."""
    hyperparameters: dict[str, Any] = {
        "goal": spec.goal.value,
        "hyperparameterMetricTag": spec.metric_tag,
        "maxTrials": spec.max_trials,
        "maxParallelTrials": spec.max_parallel_trials,
        "maxFailedTrials": spec.max_failed_trials,
        "enableTrialEarlyStopping": spec.enable_early_stopping,
        "enableTransferLearning": spec.enable_transfer_learning,
        "algorithm": spec.algorithm.value,
        "params": [_param_to_dict(p) for p in spec.params],
    }
    if spec.resume_previous_job_id is not None:
        hyperparameters["resumePreviousJobId"] = spec.resume_previous_job_id
    if spec.constraints:
        hyperparameters["constraints"] = list(spec.constraints)
    if spec.early_stopping_rule is not None:
        hyperparameters["earlyStoppingRule"] = spec.early_stopping_rule
    training_input = {
        k: copy.deepcopy(v) for k, v in spec.training_input.items() if k != "hyperparameters"
    }
    training_input["hyperparameters"] = hyperparameters
    return {"trainingInput": training_input}
