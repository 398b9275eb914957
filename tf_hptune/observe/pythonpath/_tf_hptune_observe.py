"""Records where a tuning trial opens TensorFlow summary writers (standard library only).

Loaded by this directory's ``sitecustomize`` in every Python process of a trial. Inside a tuning
trial (``$TF_HPTUNE_CONTROL_DIR`` set) it adds an import hook that, when TensorFlow's (or
TensorBoard's) summary-writer modules are first imported, wraps the functions that create event
files so that each new log directory is appended to ``<control dir>/summary_dirs.txt``. It
never imports TensorFlow itself, and nothing it does can make the trial fail.
"""
from __future__ import annotations

import importlib.abc
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

CONTROL_DIR_ENV = "TF_HPTUNE_CONTROL_DIR"
SUMMARY_DIRS_FILE = "summary_dirs.txt"
_MARK = "_tf_hptune_observed"

# module -> (attribute path of the callable that creates an event file, index of its logdir
# argument counting ``self``, keyword name of the logdir)
TARGETS = {
    # tf.summary.create_file_writer (TF2 writers, Keras' TensorBoard callback)
    "tensorflow.python.ops.gen_summary_ops": ("create_summary_file_writer", 1, "logdir"),
    # tf.compat.v1.summary.FileWriter, FileWriterCache (Estimator training and evaluation)
    "tensorflow.python.summary.writer.event_file_writer": ("EventFileWriter.__init__", 1,
                                                            "logdir"),
    "tensorflow.python.summary.writer.event_file_writer_v2": ("EventFileWriterV2.__init__", 2,
                                                               "logdir"),
    # TensorBoard's pure-Python writer (torch.utils.tensorboard and others)
    "tensorboard.summary.writer.event_file_writer": ("EventFileWriter.__init__", 1, "logdir"),
}

_lock = threading.Lock()
_recorded: set[str] = set()


def _as_local_dir(logdir: Any) -> str | None:
    """The absolute local path named by a logdir argument (str, bytes, path or a string tensor
    whose value is known), else None."""
    value = logdir
    if hasattr(value, "numpy"):  # an eager tensor
        try:
            value = value.numpy()
        except Exception:
            value = None
    elif hasattr(value, "op") and hasattr(value, "dtype"):  # a graph tensor: known if constant
        tensor_util = sys.modules.get("tensorflow.python.framework.tensor_util")
        try:
            value = tensor_util.constant_value(value) if tensor_util else None
        except Exception:
            value = None
        if hasattr(value, "item"):
            value = value.item()
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, str) or not value or "://" in value or "\n" in value:
        return None
    return os.path.abspath(value)


def record(logdir: Any) -> None:
    """Append ``logdir`` to the control dir's list, once per process."""
    control = os.environ.get(CONTROL_DIR_ENV)
    path = _as_local_dir(logdir)
    if not control or path is None:
        return
    with _lock:
        if path in _recorded:
            return
        _recorded.add(path)
        fd = os.open(os.path.join(control, SUMMARY_DIRS_FILE),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, os.fsencode(path) + b"\n")  # one write: readers see whole lines
        finally:
            os.close(fd)


def _wrap(func: Callable[..., Any], index: int, keyword: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            record(kwargs[keyword] if keyword in kwargs else args[index])
        except Exception:  # observing must never break the trainer
            pass
        return func(*args, **kwargs)

    for name in ("__name__", "__qualname__", "__doc__", "__module__", "__wrapped__"):
        try:
            setattr(wrapper, name, func if name == "__wrapped__" else getattr(func, name))
        except AttributeError:
            pass
    setattr(wrapper, _MARK, True)
    return wrapper


def patch_module(module: Any) -> None:
    """Wrap the event-file-creating callable of a freshly imported target module."""
    path, index, keyword = TARGETS[module.__name__]
    *owners, name = path.split(".")
    owner = module
    for part in owners:
        owner = getattr(owner, part)
    func = getattr(owner, name)
    if not getattr(func, _MARK, False):
        setattr(owner, name, _wrap(func, index, keyword))


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then patches the module."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        try:
            patch_module(module)
        except Exception:  # an unexpected TensorFlow version: observe less
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the target modules with the other finders and puts the patching loader on them."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in TARGETS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def install() -> bool:
    """Inside a tuning trial, add the import hook (once); True when it is in place."""
    if not os.environ.get(CONTROL_DIR_ENV):
        return False
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    return True


def chain_sitecustomize(own_dir: str) -> None:
    """Run the ``sitecustomize`` that this directory's one hides, if there is one."""
    import importlib.machinery
    import importlib.util

    own = os.path.realpath(own_dir)
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != own]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)
