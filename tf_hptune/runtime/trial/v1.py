"""The TensorFlow 1.x runtime mode inside a trial: ``import tensorflow`` gives ``tf.compat.v1``.

- When TensorFlow has loaded, v2 behaviour is disabled for the whole process
  (``tf.compat.v1.disable_v2_behavior()``), before the trainer builds anything.
- ``import tensorflow`` and ``from tensorflow import x`` in the trainer's code give a module that
  is TensorFlow 2.15's ``tf.compat.v1``, whose ``compat`` is the real ``tf.compat`` (so
  ``import tensorflow.compat.v1 as tf`` still works) and whose ``contrib`` is ours.
  ``from tensorflow.python... import`` is untouched. Libraries written for TensorFlow 2
  (``KEEP_REAL``: TensorFlow itself, Estimator, Keras, TensorBoard, tf_hptune) and
  ``importlib.import_module`` get the real module, as does ``sys.modules["tensorflow"]``.
- ``tensorflow.contrib`` and its pieces are provided by ``contrib`` through the observe hook.
- A trial that dies of an uncaught exception says last that it ran in the mode.
"""
from __future__ import annotations

import builtins
import sys
import types
from collections.abc import Callable
from typing import Any

from tf_hptune.runtime import MODE_NAME
from tf_hptune.runtime.trial import contrib

KEEP_REAL = frozenset({
    "tensorflow", "tensorflow_estimator", "keras", "tf_keras", "tensorboard", "tf_hptune",
    "tensorflow_io_gcs_filesystem",
})


class TF1Module(types.ModuleType):
    """``tensorflow`` as a 1.x trainer sees it: ``tf.compat.v1`` of the real module ``real``,
    with the real ``compat`` and ``tf.contrib``."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__(real.__name__, real.compat.v1.__doc__)
        for name in ("__file__", "__path__", "__spec__", "__loader__", "__package__",
                     "__version__"):
            setattr(self, name, getattr(real, name, None))
        self.compat = real.compat
        self._tf_hptune_real = real

    def __getattr__(self, name: str) -> Any:
        real = self.__dict__["_tf_hptune_real"]
        if name == "contrib":
            return import_contrib(real)
        try:
            return getattr(real.compat.v1, name)
        except AttributeError:
            pass
        submodule = sys.modules.get(f"tensorflow.{name}")  # tensorflow.python and the like
        if submodule is not None:
            return submodule
        raise AttributeError(f"module 'tensorflow' has no attribute {name!r} (in the "
                             f"{MODE_NAME}, tensorflow is tf.compat.v1 of TensorFlow "
                             f"{real.__version__})")

    def __dir__(self) -> list[str]:
        real = self.__dict__["_tf_hptune_real"]
        return sorted(set(dir(real.compat.v1)) | {"compat", "contrib"})


def import_contrib(real: types.ModuleType) -> types.ModuleType:
    """``tensorflow.contrib``, imported without leaving it on the real module (libraries
    that test ``hasattr(tf, "contrib")`` must keep seeing TensorFlow 2)."""
    import importlib

    try:
        return importlib.import_module(contrib.PACKAGE)
    finally:
        real.__dict__.pop("contrib", None)


def make_import(original: Callable[..., Any], view: Callable[[], TF1Module | None]
                ) -> Callable[..., Any]:
    """An ``__import__`` that gives code outside ``KEEP_REAL`` the 1.x module where it would
    get the real ``tensorflow``."""

    def tf1_import(name: str, globals: dict[str, Any] | None = None, locals: Any = None,
                   fromlist: Any = (), level: int = 0) -> Any:
        module = original(name, globals, locals, fromlist, level)
        if level or not (name == "tensorflow" or name.startswith("tensorflow.")):
            return module
        tf1 = view()
        if tf1 is None or module is not tf1.__dict__["_tf_hptune_real"]:
            return module
        module.__dict__.pop("contrib", None)
        importer = (globals or {}).get("__name__") or ""
        return module if importer.partition(".")[0] in KEEP_REAL else tf1

    return tf1_import


def install(hook: Any, version: str) -> None:
    """Put the mode in place (before TensorFlow is imported): the contrib provider, the v1
    switch once TensorFlow has loaded, the ``__import__`` that hands out the 1.x module and
    the closing line of a crash."""
    state: dict[str, TF1Module] = {}

    def on_tensorflow(real: types.ModuleType) -> None:
        real.compat.v1.disable_v2_behavior()
        state["view"] = TF1Module(real)
        print(f"tf_hptune: {MODE_NAME} (runtimeVersion {version}): `import tensorflow` is "
              f"tf.compat.v1 of TensorFlow {real.__version__} with v2 behaviour disabled",
              file=sys.stderr)

    hook.provide(contrib.PACKAGE, contrib.find_spec)
    hook.on_import("tensorflow", after=on_tensorflow)
    builtins.__import__ = make_import(builtins.__import__, lambda: state.get("view"))
    sys.excepthook = closing_line(sys.excepthook, version)


def closing_line(excepthook: Callable[..., Any], version: str) -> Callable[..., Any]:
    """``excepthook`` followed by a line saying the trial ran in the mode (so that the tuner
    does not suggest the mode to a trial that had it)."""

    def hook(*exc_info: Any) -> None:
        excepthook(*exc_info)
        print(f"tf_hptune: this trial ran in the {MODE_NAME} (runtimeVersion {version})",
              file=sys.stderr)

    return hook
