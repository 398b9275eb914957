"""``tf.contrib`` in the TensorFlow 1.x runtime mode: the pieces trainers commonly used.

``find_spec`` answers (through the observe hook) for every module name under
``tensorflow.contrib``: the names in ``MODULES`` are modules with the public names of this
package's modules, the packages between are empty namespaces, and any other name is an
ImportError naming the module and the mode. Attributes a provided module lacks raise an
AttributeError of the same kind. This package imports no TensorFlow; its modules do.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
from collections.abc import Callable, Mapping
from typing import Any

from tf_hptune.runtime import MODE_NAME

PACKAGE = "tensorflow.contrib"
_HERE = __name__
MODULES = {
    f"{PACKAGE}.estimator": f"{_HERE}.estimator",
    f"{PACKAGE}.layers": f"{_HERE}.layers",
    f"{PACKAGE}.learn": f"{_HERE}.learn",
    f"{PACKAGE}.learn.python.learn": f"{_HERE}.learn",
    f"{PACKAGE}.learn.python.learn.learn_runner": f"{_HERE}.learn.learn_runner",
    f"{PACKAGE}.lookup": f"{_HERE}.lookup",
    f"{PACKAGE}.training": f"{_HERE}.training",
    f"{PACKAGE}.training.python.training.hparam": f"{_HERE}.training.hparam",
}
# the packages between tensorflow.contrib and a provided module, e.g. ...training.python
_NAMESPACES = {".".join(name.split(".")[:end]) for name in MODULES
               for end in range(3, name.count(".") + 1)} - set(MODULES)
PROVIDED = ("tf.contrib.estimator (add_metrics, forward_features, early-stopping hooks), "
            "tf.contrib.lookup, tf.contrib.training.HParams, the tf.contrib.layers feature "
            "columns, tf.contrib.learn (Experiment, learn_runner, RunConfig, ModeKeys)")


def _message(symbol: str) -> str:
    return (f"{symbol} is not available in tf-hptune's {MODE_NAME}: TensorFlow 2.15 has no "
            f"tf.contrib, and the mode provides only {PROVIDED}")


def missing(symbol: str) -> AttributeError:
    """The error for a ``tf.contrib`` symbol (``tf.contrib.slim``) the mode does not provide."""
    return AttributeError(_message(symbol))


def forwarding(prefix: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``prefix`` (``tf.contrib.lookup``): each of ``names`` is
    the attribute ``"module:attribute"`` (imported on first use), any other name is
    ``missing``."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in names:
            raise missing(f"{prefix}.{name}")
        module, _, attribute = names[name].partition(":")
        return getattr(importlib.import_module(module), attribute)

    return __getattr__


class _Provided(importlib.abc.Loader):
    """Fills the module of a provided name with the public names (``__all__``) and the
    ``__getattr__`` of the module that implements it. The provided module keeps its
    ``tensorflow.contrib`` name, so that a missing ``from tensorflow.contrib.x import y`` comes
    back to ``find_spec`` and its message."""

    def __init__(self, target: str | None) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        if module.__name__ == PACKAGE:
            module.__getattr__ = _contrib_getattr
        elif self.target is not None:  # else an empty namespace package
            implementation = importlib.import_module(self.target)
            module.__doc__ = implementation.__doc__
            for name in implementation.__all__:
                setattr(module, name, getattr(implementation, name))
            module.__getattr__ = getattr(implementation, "__getattr__", None) or forwarding(
                module.__name__.replace("tensorflow.", "tf.", 1), {})


def find_spec(fullname: str) -> importlib.machinery.ModuleSpec:
    """The spec of a module name under ``tensorflow.contrib``; ImportError for one the mode
    does not provide."""
    if fullname == PACKAGE or fullname in MODULES or fullname in _NAMESPACES:
        return importlib.machinery.ModuleSpec(fullname, _Provided(MODULES.get(fullname)),
                                              is_package=True)
    raise ModuleNotFoundError(_message(fullname.replace("tensorflow.", "tf.", 1)))


def _contrib_getattr(name: str) -> Any:
    if f"{PACKAGE}.{name}" in MODULES:
        return importlib.import_module(f"{PACKAGE}.{name}")
    if name.startswith("__"):
        raise AttributeError(name)
    raise missing(f"tf.contrib.{name}")
