"""tf_hptune's trial hook (standard library only): one import hook for the whole trial side.

Loaded by this directory's ``sitecustomize`` in every Python process of a trial. Inside a tuning
trial (``$TF_HPTUNE_CONTROL_DIR`` set) it puts one meta path finder first on ``sys.meta_path``:

- ``on_import(name, before=..., after=...)`` runs callbacks around the first execution of a
  module. The summary-writer modules of TensorFlow and TensorBoard get ``after`` patches that
  append each new log directory to ``<control dir>/summary_dirs.txt``.
- ``provide(prefix, find)`` lets ``find`` answer for every module name under ``prefix``.
- ``wrap_argument`` is how patches change a function: one argument passes through a transform.

It also loads the runtime mode (``tf_hptune.runtime.trial``: TensorFlow 1.x compatibility, the
gs:// map), which registers its own patches and providers here: at once when
``$TF_HPTUNE_RUNTIME_VERSION`` is set, else just before TensorFlow is first imported. It never
imports TensorFlow itself, and the summary-directory records can never make the trial fail.
"""
from __future__ import annotations

import functools
import importlib
import importlib.abc
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

CONTROL_DIR_ENV = "TF_HPTUNE_CONTROL_DIR"
RUNTIME_VERSION_ENV = "TF_HPTUNE_RUNTIME_VERSION"
RUNTIME_MODULE = "tf_hptune.runtime.trial"
SUMMARY_DIRS_FILE = "summary_dirs.txt"
_MARKS = "_tf_hptune_marks"

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
_before: dict[str, list[Callable[[], None]]] = {}
_after: dict[str, list[Callable[[Any], None]]] = {}
_providers: list[tuple[str, Callable[[str], Any]]] = []


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


def _record_quietly(logdir: Any) -> Any:
    try:
        record(logdir)
    except Exception:  # observing must never break the trainer
        pass
    return logdir


def wrap_argument(owner: Any, name: str, index: int | None, keyword: str,
                  transform: Callable[[Any], Any], mark: str) -> None:
    """Replace ``owner.name`` (a function, method or staticmethod) by a wrapper that passes its
    argument at position ``index`` (counting ``self``; None: keyword only) or keyword
    ``keyword`` through ``transform`` first. A callable already wrapped with ``mark`` is left
    alone; errors of ``transform`` reach the caller."""
    raw = owner.__dict__.get(name) if isinstance(owner, type) else None
    static = isinstance(raw, staticmethod)
    func = raw.__func__ if static else getattr(owner, name)
    if mark in getattr(func, _MARKS, ()):
        return

    @functools.wraps(func, updated=() if isinstance(func, type) else ("__dict__",))
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if keyword in kwargs:
            kwargs[keyword] = transform(kwargs[keyword])
        elif index is not None and len(args) > index:
            args = (*args[:index], transform(args[index]), *args[index + 1:])
        return func(*args, **kwargs)

    setattr(wrapper, _MARKS, (*getattr(func, _MARKS, ()), mark))
    setattr(owner, name, staticmethod(wrapper) if static else wrapper)


def resolve(module: Any, path: str) -> tuple[Any, str]:
    """The object that holds the last name of a dotted attribute ``path``, and that name."""
    *owners, name = path.split(".")
    owner = module
    for part in owners:
        owner = getattr(owner, part)
    return owner, name


def patch_module(module: Any) -> None:
    """Wrap the event-file-creating callable of a freshly imported target module."""
    path, index, keyword = TARGETS[module.__name__]
    try:
        owner, name = resolve(module, path)
        wrap_argument(owner, name, index, keyword, _record_quietly, "observe")
    except Exception:  # an unexpected TensorFlow version: observe less
        pass


def on_import(name: str, *, before: Callable[[], None] | None = None,
              after: Callable[[Any], None] | None = None) -> None:
    """Run ``before()`` just before module ``name`` first executes and ``after(module)`` just
    after, in the order of registration. Register before the module is imported; an error in
    a callback is printed and the import goes on."""
    if before is not None:
        _before.setdefault(name, []).append(before)
    if after is not None:
        _after.setdefault(name, []).append(after)


def provide(prefix: str, find: Callable[[str], Any]) -> None:
    """Let ``find(fullname)`` (a ``ModuleSpec``, None, or an ImportError) answer for ``prefix``
    and every module below it, before any other finder."""
    _providers.append((prefix, find))


def _run(callback: Callable[..., None], *args: Any) -> None:
    try:
        callback(*args)
    except Exception as exc:
        print(f"tf_hptune: trial hook {getattr(callback, '__qualname__', callback)} failed: "
              f"{exc!r}", file=sys.stderr)


class _PatchingLoader(importlib.abc.Loader):
    """Runs the ``before`` callbacks, the real loader, then the ``after`` callbacks."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        for callback in list(_before.get(module.__name__, ())):
            _run(callback)
        self._loader.exec_module(module)
        for callback in list(_after.get(module.__name__, ())):
            _run(callback, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Answers for provided modules; finds hooked ones with the other finders and puts the
    patching loader on them."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        for prefix, find in _providers:
            if fullname == prefix or fullname.startswith(prefix + "."):
                return find(fullname)
        if fullname not in _before and fullname not in _after:
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


def _load_runtime() -> None:
    importlib.import_module(RUNTIME_MODULE).install(sys.modules[__name__])


def install() -> bool:
    """Inside a tuning trial, add the import hook, its summary-directory patches and the
    runtime mode (once); True when it is in place."""
    if not os.environ.get(CONTROL_DIR_ENV):
        return False
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return True
    sys.meta_path.insert(0, _Finder())
    for name in TARGETS:
        on_import(name, after=patch_module)
    if os.environ.get(RUNTIME_VERSION_ENV):  # `import tensorflow` must be seen from the start
        _run(_load_runtime)
    else:  # only the gs:// map, which matters once TensorFlow is imported
        on_import("tensorflow", before=_load_runtime)
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
