"""``tf.contrib.training.HParams``, also importable by its 1.x module path
(``tensorflow.contrib.training.python.training.hparam``). Pure Python.

Each hyperparameter keeps the type of the value it was added with (a list keeps the type of its
first item); ``parse("lr=0.1,units=[64,32]")``, ``override_from_dict`` and ``set_hparam``
convert to it and refuse what does not fit (a float for an int, a list for a single value).
"""
from __future__ import annotations

import json
import numbers
import re
from collections.abc import Mapping
from typing import Any

_ASSIGNMENT = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(\[[^\]]*\]|[^,\[\]]*?)\s*(?:,|$)")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _from_text(name: str, text: str, kind: type) -> Any:
    """``text`` as a value of type ``kind``."""
    try:
        if kind is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(text)
            return text.lower() in _TRUE
        if kind in (int, float, str):
            return kind(text)
    except ValueError:
        pass
    raise ValueError(f"Could not parse hyperparameter {name}={text!r} as {kind.__name__}")


def parse_values(values: str, type_map: Mapping[str, type],
                 ignore_unknown: bool = False) -> dict[str, Any]:
    """The assignments of ``values`` (``"a=1,b=[x,y]"``) as ``{name: value}``, each converted
    to ``type_map[name]`` (a list literal to a list of it). Unknown names are an error unless
    ``ignore_unknown``; so are malformed text and a name given twice."""
    parsed: dict[str, Any] = {}
    position = 0
    while position < len(values):
        match = _ASSIGNMENT.match(values, position)
        if match is None or match.end() == position:
            raise ValueError(f"Malformed hyperparameter values at {values[position:]!r} "
                             f"(expected name=value or name=[v1,v2], comma separated)")
        position = match.end()
        name, text = match.groups()
        if name not in type_map:
            if ignore_unknown:
                continue
            raise ValueError(f"Unknown hyperparameter {name!r} in {values!r}")
        if name in parsed:
            raise ValueError(f"Hyperparameter {name!r} is given twice in {values!r}")
        kind = type_map[name]
        if text.startswith("["):
            items = [t.strip() for t in text[1:-1].split(",")] if text[1:-1].strip() else []
            parsed[name] = [_from_text(name, t, kind) for t in items]
        else:
            parsed[name] = _from_text(name, text, kind)
    return parsed


def _cast(name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` when it fits: no float for an int, no number for a str, a bool
    only for a bool."""
    if kind is type(None):
        return value
    fits = (isinstance(value, bool) == (kind is bool)
            and (not issubclass(kind, str) or isinstance(value, str))
            and (not issubclass(kind, numbers.Integral) or isinstance(value, numbers.Integral))
            and (not issubclass(kind, numbers.Number) or isinstance(value, numbers.Number)))
    if not fits:
        raise ValueError(f"Hyperparameter {name} is a {kind.__name__}; {value!r} does not fit")
    return kind(value)


class HParams:
    """Named hyperparameters, as attributes: ``HParams(learning_rate=0.1).learning_rate``."""

    def __init__(self, hparam_def: Any = None, model_structure: Any = None,
                 **kwargs: Any) -> None:
        if hparam_def is not None:
            raise ValueError("HParams from an HParamDef protocol buffer are not supported in "
                             "tf-hptune's TensorFlow 1.x runtime mode; pass keyword values")
        self._hparam_types: dict[str, tuple[type, bool]] = {}
        self._model_structure = model_structure
        for name, value in kwargs.items():
            self.add_hparam(name, value)

    def add_hparam(self, name: str, value: Any) -> None:
        """Add ``name``; its type (and whether it is a list) is that of ``value``."""
        if name in self._hparam_types or hasattr(self, name):
            raise ValueError(f"Hyperparameter name is reserved or defined already: {name}")
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(f"Multi-valued hyperparameter {name} cannot be empty")
            self._hparam_types[name] = (type(value[0]), True)
            value = list(value)
        else:
            self._hparam_types[name] = (type(value), False)
        setattr(self, name, value)

    def set_hparam(self, name: str, value: Any) -> None:
        """Set an existing hyperparameter, converted to its type."""
        if name not in self._hparam_types:
            raise ValueError(f"Unknown hyperparameter {name!r}")
        kind, is_list = self._hparam_types[name]
        if isinstance(value, (list, tuple)) != is_list:
            raise ValueError(f"Hyperparameter {name} is {'a list' if is_list else 'one value'}; "
                             f"got {value!r}")
        setattr(self, name, [_cast(name, v, kind) for v in value] if is_list
                else _cast(name, value, kind))

    def del_hparam(self, name: str) -> None:
        if name in self._hparam_types:
            delattr(self, name)
            del self._hparam_types[name]

    def parse(self, values: str) -> HParams:
        """Override from ``"name=value,..."`` text; returns self."""
        types = {name: kind for name, (kind, _) in self._hparam_types.items()}
        return self.override_from_dict(parse_values(values, types))

    def override_from_dict(self, values_dict: Mapping[str, Any]) -> HParams:
        for name, value in values_dict.items():
            self.set_hparam(name, value)
        return self

    def parse_json(self, values_json: str) -> HParams:
        return self.override_from_dict(json.loads(values_json))

    def to_json(self, indent: int | None = None, separators: Any = None,
                sort_keys: bool = False) -> str:
        return json.dumps(self.values(), indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def values(self) -> dict[str, Any]:
        """A new ``{name: value}`` dict."""
        return {name: getattr(self, name) for name in self._hparam_types}

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self._hparam_types else default

    def set_model_structure(self, model_structure: Any) -> None:
        self._model_structure = model_structure

    def get_model_structure(self) -> Any:
        return self._model_structure

    def __contains__(self, key: object) -> bool:
        return key in self._hparam_types

    def __str__(self) -> str:
        return str(sorted(self.values().items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self})"


__all__ = ["HParams", "parse_values"]
