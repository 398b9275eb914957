"""Trials as threads of this process, for ``tune(..., in_process=True)``.

A trial runs its module as ``__main__`` (``runpy``), as ``python -m`` would, in a thread of its
own, one trial at a time: a ``start`` while another trial runs queues the new one. While a trial
runs, ``os.environ`` holds its environment, ``sys.argv`` its command line and ``sys.path`` its
package's parent; what its thread prints goes to its logs. The working directory stays this
process's. Imported modules (TensorFlow, the data a module caches) stay loaded between trials:
that is the point, and also why the default, a fresh subprocess per trial, is safer.

``terminate`` raises ``TrialTerminated`` in the trial's thread, which ends it as SIGTERM ends a
process (a trainer that catches it ignores it, as a signal handler would); ``kill``, and ``poll``
once the grace has passed, raise ``TrialKilled``. Either lands at the trial's next Python
bytecode, so a call into native code finishes first. When the thread ends, the processes it
started and left running are killed. A thread still running ``ABANDON_AFTER`` seconds after a
kill (stuck in native code, or catching every exception) is abandoned: ``poll`` reports it
killed and the next trial starts, while the thread may still write to the files its
environment names.
"""
from __future__ import annotations

import ctypes
import enum
import io
import os
import runpy
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from tf_hptune.launch.base import Launcher, TrialHandle, TrialRequest
from tf_hptune.launch.local import prepare_trial_dirs, trial_argv

ABANDON_AFTER = 5.0
"""Seconds a killed trial's thread gets to end before it is abandoned."""


class TrialSignal(BaseException):
    """Raised in an in-process trial's thread to end it; ``signum`` is the signal it stands
    for. A ``BaseException``, so that ``except Exception`` in a trainer does not swallow it."""

    signum: int = 0


class TrialTerminated(TrialSignal):
    """``terminate``: the trial should end now (SIGTERM)."""

    signum = signal.SIGTERM


class TrialKilled(TrialSignal):
    """``kill``, or the grace of a ``terminate`` has passed (SIGKILL)."""

    signum = signal.SIGKILL


class _Phase(enum.Enum):
    WAITING = "waiting"  # queued behind another trial
    RUNNING = "running"  # its module runs: signals are raised in its thread
    ENDING = "ending"  # the launcher's own clean-up: nothing is raised any more
    ENDED = "ended"


@dataclass(eq=False)
class InProcessHandle(TrialHandle):
    """An in-process trial: its thread, its exit code once ended (negative: the signal that
    ended it), and the pending signal of a terminate or kill."""

    request: TrialRequest | None = None
    thread: threading.Thread | None = None
    phase: _Phase = _Phase.WAITING
    code: int | None = None
    signalled: int | None = None  # the strongest signal sent so far
    kill_at: float | None = None  # terminate's deadline
    killed_at: float | None = None
    saved: dict[str, Any] = field(default_factory=dict)  # what the trial's run replaced


def _raise_in(thread: threading.Thread, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in ``thread`` at its next bytecode; None clears a pending one."""
    ident = thread.ident
    if ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                   ctypes.py_object(exc) if exc else None)


def _descendants(pid: int, tid: int | None = None) -> list[int]:
    """The live processes started by thread ``tid`` of ``pid`` (every thread when None), and
    theirs, from ``/proc/<pid>/task/<tid>/children``."""
    tids = [tid] if tid is not None else _listdir(f"/proc/{pid}/task")
    out: list[int] = []
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/children", encoding="ascii") as f:
                children = [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
        for child in children:
            out += [child, *_descendants(child)]
    return out


def _listdir(path: str) -> list[Any]:
    try:
        return os.listdir(path)
    except OSError:
        return []


class _Router(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` while a trial runs: its thread writes to its log, any
    other thread to the stream this replaced."""

    def __init__(self, original: TextIO, thread_id: int, log: TextIO) -> None:
        self.original, self.thread_id, self.log = original, thread_id, log

    def _target(self) -> TextIO:
        return self.log if threading.get_ident() == self.thread_id else self.original

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def _open_log(path: os.PathLike[str]) -> TextIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return open(fd, "w", encoding="utf-8", buffering=1, errors="backslashreplace")


class InProcessLauncher(Launcher):
    """Runs each trial's module in a thread of this process, one trial at a time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: InProcessHandle | None = None
        self._queue: list[InProcessHandle] = []

    def start(self, request: TrialRequest) -> InProcessHandle:
        prepare_trial_dirs(request.paths)
        handle = InProcessHandle(request.trial_id, None, request=request)
        handle.thread = threading.Thread(target=self._main, args=(handle,), daemon=True,
                                         name=f"tf_hptune trial {request.trial_id}")
        with self._cond:
            self._queue.append(handle)
        handle.thread.start()
        return handle

    # -- the trial's thread ----------------------------------------------------------------
    def _main(self, handle: InProcessHandle) -> None:
        with self._cond:
            while not (self._active is None and self._queue[0] is handle):
                if handle.signalled is not None:  # ended before its turn came
                    self._queue.remove(handle)
                    self._finish(handle, -handle.signalled)
                    return
                self._cond.wait(0.05)
            self._queue.pop(0)
            self._active = handle
            self._enter(handle)
            handle.phase = _Phase.RUNNING
        code = 1
        try:
            code = self._execute(handle)
        except TrialSignal as e:  # landed in _execute's own handlers
            code = -e.signum
        while True:  # a signal may still land here until the phase says ENDING
            try:
                with self._cond:
                    handle.phase = _Phase.ENDING
                    assert handle.thread is not None
                    _raise_in(handle.thread, None)
                break
            except TrialSignal as e:
                code = -e.signum
        for pid in _descendants(os.getpid(), threading.get_native_id()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        with self._cond:
            self._leave(handle)
            self._finish(handle, code)

    def _execute(self, handle: InProcessHandle) -> int:
        assert handle.request is not None
        # A module already imported here (tf_hptune.train_fn, a trainer the notebook imported)
        # runs again as __main__, as a trial wants; runpy would warn about it at each trial.
        warnings.filterwarnings("ignore", ".* found in sys.modules after import of package",
                                RuntimeWarning)
        try:
            runpy.run_module(handle.request.module, run_name="__main__", alter_sys=False)
            return 0
        except SystemExit as e:
            return _exit_code(e)
        except TrialSignal as e:
            return -e.signum
        except BaseException:
            traceback.print_exc()
            return 1

    def _enter(self, handle: InProcessHandle) -> None:
        """Give this process the trial's environment, argv, path entry and logs."""
        request = handle.request
        assert request is not None
        env = {**request.env, **request.resources.environment()}
        handle.saved = {"env": {k: os.environ.get(k) for k in env}, "argv": sys.argv,
                        "stdout": sys.stdout, "stderr": sys.stderr, "path": None}
        os.environ.update(env)
        sys.argv = trial_argv(request)[1:]
        if request.cwd not in sys.path:
            sys.path.insert(0, request.cwd)
            handle.saved["path"] = request.cwd
        ident = threading.get_ident()
        logs = (_open_log(request.paths.stdout), _open_log(request.paths.stderr))
        handle.saved["logs"] = logs
        sys.stdout = _Router(sys.stdout, ident, logs[0])  # type: ignore[assignment]
        sys.stderr = _Router(sys.stderr, ident, logs[1])  # type: ignore[assignment]

    def _leave(self, handle: InProcessHandle) -> None:
        """Undo ``_enter``, once, by whoever ends the trial's turn (its thread or ``poll``)."""
        if self._active is not handle:
            return
        self._active = None
        saved = handle.saved
        for key, value in saved["env"].items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sys.argv = saved["argv"]
        if saved["path"] is not None and saved["path"] in sys.path:
            sys.path.remove(saved["path"])
        for name in ("stdout", "stderr"):
            if isinstance(getattr(sys, name), _Router):
                setattr(sys, name, saved[name])
        for log in saved["logs"]:
            log.close()

    def _finish(self, handle: InProcessHandle, code: int) -> None:
        if handle.code is None:
            handle.code = code
        handle.phase = _Phase.ENDED
        self._cond.notify_all()

    # -- the contract ----------------------------------------------------------------------
    def poll(self, handle: TrialHandle) -> int | None:
        assert isinstance(handle, InProcessHandle)
        now = time.monotonic()
        if handle.code is None and handle.kill_at is not None and now >= handle.kill_at:
            self.kill(handle)
        with self._cond:
            if (handle.code is None and handle.killed_at is not None
                    and now - handle.killed_at > ABANDON_AFTER):
                print(f"tf_hptune: trial {handle.trial_id}'s thread did not end "
                      f"{ABANDON_AFTER:g} s after it was killed; abandoning it", file=sys.stderr)
                self._leave(handle)
                self._finish(handle, -signal.SIGKILL)
            return handle.code

    def _signal(self, handle: InProcessHandle, exc: type[TrialSignal]) -> None:
        with self._cond:
            if handle.code is not None:
                return
            if handle.signalled is None or exc.signum == signal.SIGKILL:
                handle.signalled = exc.signum
            if handle.phase is _Phase.RUNNING and handle.thread is not None:
                _raise_in(handle.thread, exc)
            self._cond.notify_all()

    def terminate(self, handle: TrialHandle, grace: float) -> None:
        """``TrialTerminated`` once; a later call with a shorter grace brings the kill
        forward."""
        assert isinstance(handle, InProcessHandle)
        if handle.signalled is None:
            self._signal(handle, TrialTerminated)
        kill_at = time.monotonic() + grace
        if handle.kill_at is None or kill_at < handle.kill_at:
            handle.kill_at = kill_at

    def kill(self, handle: TrialHandle) -> None:
        assert isinstance(handle, InProcessHandle)
        if handle.killed_at is None:
            handle.killed_at = time.monotonic()
        self._signal(handle, TrialKilled)

    def wait(self, handles: Sequence[TrialHandle], timeout: float) -> None:
        """Sleep until a trial ends or ``timeout``."""
        with self._cond:
            if not any(isinstance(h, InProcessHandle) and h.code is not None for h in handles):
                self._cond.wait(timeout)


__all__ = ["ABANDON_AFTER", "InProcessHandle", "InProcessLauncher", "TrialKilled",
           "TrialSignal", "TrialTerminated"]
