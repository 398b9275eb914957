"""Trials as local subprocesses, each in its own process group, argv only (never a shell).

Each trial runs under ``supervise.py`` (its group leader, which records the trainer's exit code
in the trial's control dir and ends the trainer's leftovers), so that a tuner that restarts
learns how a trial ended while it was down. Every process of a trial carries the trial's
``TF_HPTUNE_CONTROL_DIR`` in its environment: that finds a trial whose pid was never recorded,
and the descendants that left its process group.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tf_hptune.channel import EXIT_STATUS_NAME, TrialPaths
from tf_hptune.errors import LaunchError
from tf_hptune.files import make_private_dir, open_private, read_regular
from tf_hptune.launch.base import UNKNOWN_EXIT, Launcher, TrialHandle, TrialRequest
from tf_hptune.launch.watchdog import pid_alive
from tf_hptune.space import format_value

SUPERVISOR = Path(__file__).resolve().with_name("supervise.py")
CONTROL_DIR_ENV = "TF_HPTUNE_CONTROL_DIR"
MAX_ARG_STRLEN = 32 * 4096  # Linux: the longest argv item or environment string, NUL included
_POINTER = 8


@dataclass(frozen=True)
class ExecProblem:
    """Why ``execve`` would refuse a command (``Argument list too long``): ``what`` is too
    large (``size`` bytes, the limit ``limit``); ``item`` is the argv index or the environment
    variable at fault, None when it is the whole."""

    what: str
    size: int
    limit: int
    item: int | str | None


def exec_problem(argv: Sequence[str], env: Mapping[str, str]) -> ExecProblem | None:
    """What of ``argv`` and ``env`` is over Linux's limits: one string over ``MAX_ARG_STRLEN``,
    or all of them (with their pointers) over ``ARG_MAX``; None when they fit."""
    total = 0
    for index, arg in enumerate(argv):
        size = len(os.fsencode(arg)) + 1
        if size > MAX_ARG_STRLEN:
            return ExecProblem(f"command-line argument {arg[:30]!r}...", size, MAX_ARG_STRLEN,
                               index)
        total += size + _POINTER
    for key, value in env.items():
        size = len(os.fsencode(key)) + len(os.fsencode(value)) + 2
        if size > MAX_ARG_STRLEN:
            return ExecProblem(f"environment variable {key}", size, MAX_ARG_STRLEN, key)
        total += size + _POINTER
    try:
        limit = os.sysconf("SC_ARG_MAX") - 4096  # a margin for the kernel's own bookkeeping
    except (ValueError, OSError):
        limit = 128 * 1024
    if total > limit:
        return ExecProblem("the command line and environment together", total, limit, None)
    return None


def prepare_trial_dirs(paths: TrialPaths) -> None:
    """Make the trial's private directories; its job dir must be new or empty (Estimator
    silently skips training in a model dir that holds a final checkpoint)."""
    make_private_dir(paths.control_dir)
    if paths.job_dir.exists() and any(paths.job_dir.iterdir()):
        raise LaunchError(f"trial directory {paths.job_dir} is not empty")
    make_private_dir(paths.job_dir)


def _open_log(path: "os.PathLike[str]") -> int:
    return open_private(path, os.O_WRONLY | os.O_APPEND)


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is gone is not an error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _environ(pid: int | str) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _marker(control_dir: "os.PathLike[str] | str") -> bytes:
    return f"{CONTROL_DIR_ENV}={os.fspath(control_dir)}".encode()


def marked_processes(control_dir: "os.PathLike[str] | str") -> list[int]:
    """The live processes (readable by us) whose environment names the trial ``control_dir``:
    the trial's, wherever they moved (another process group or session)."""
    marker = _marker(control_dir)
    me = os.getpid()
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if name.isdigit() and int(name) != me and marker in _environ(name):
            found.append(int(name))
    return found


def _session_leader(pids: Sequence[int]) -> int | None:
    """The one of ``pids`` that leads its own session (a trial's supervisor), if any."""
    for pid in pids:
        try:
            if os.getsid(pid) == pid:
                return pid
        except OSError:
            continue
    return None


def hyperparameter_args(params: Mapping[str, Any]) -> list[str]:
    """``--name=value`` argv items, in order: integers plain, doubles with 17 significant
    digits, categories verbatim (CMLE.md). One item each, so that a value that starts with
    ``-`` is never read as an option."""
    return [f"--{name}={format_value(value)}" for name, value in params.items()]


def trial_argv(request: TrialRequest) -> list[str]:
    """The trial's argv after the interpreter: user args, then ``--job-dir``, then the
    hyperparameters last so that they win with argparse."""
    return ["-m", request.module, *request.user_args, "--job-dir", str(request.paths.job_dir),
            *hyperparameter_args(request.hyperparameters)]


@dataclass
class LocalHandle(TrialHandle):
    """A local trial: its supervisor (``pid``, the process group leader), the ``Popen`` when
    this process started it, the trial's control dir, and the pending SIGKILL of a terminate.
    An ``ended`` handle is of a trial that had ended, unseen, before it was adopted (``pid``:
    the one recorded, if any)."""

    control_dir: str = ""
    ended: bool = False
    popen: "subprocess.Popen[bytes] | None" = None
    pidfd: int | None = None
    terminated: bool = False
    kill_at: float | None = None

    @property
    def status_file(self) -> Path:
        return Path(self.control_dir) / EXIT_STATUS_NAME


class LocalLauncher(Launcher):
    """Runs ``<python> <argv>`` under ``supervise.py``, with stdout and stderr in the trial's
    control directory."""

    def __init__(self, python: str) -> None:
        self.python = python

    def command(self, request: TrialRequest) -> tuple[list[str], dict[str, str]]:
        """The argv and the whole environment a trial's first process is started with."""
        env = dict(os.environ)
        env.update(request.env)
        env.update(request.resources.environment())
        argv = [sys.executable, "-I", "-S", str(SUPERVISOR), str(request.paths.exit_status), "--",
                self.python,
                *trial_argv(request)]
        return argv, env

    def start(self, request: TrialRequest) -> LocalHandle:
        paths = request.paths
        try:
            prepare_trial_dirs(paths)
            out, err = _open_log(paths.stdout), _open_log(paths.stderr)
        except OSError as e:
            raise LaunchError(f"cannot start trial {request.trial_id}: {e}") from e
        argv, env = self.command(request)
        cpus = request.resources.cpus
        # the thread that forks is pinned to the trial's cores while it does, so that every
        # process of the trial is born with them (pinning the child after Popen raced with
        # the supervisor forking the trainer)
        mask = os.sched_getaffinity(0) if cpus else None
        try:
            if cpus:
                try:
                    os.sched_setaffinity(0, cpus)  # pid 0: this thread only
                except OSError as e:
                    raise LaunchError(f"cannot pin trial {request.trial_id} to cores "
                                      f"{list(cpus)}: {e}") from e
            proc = subprocess.Popen(
                argv,
                cwd=request.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # own process group: terminate reaches its children
                close_fds=True,
            )
        except OSError as e:
            raise LaunchError(f"cannot start trial {request.trial_id}: {e}") from e
        finally:
            if mask is not None:
                os.sched_setaffinity(0, mask)
            os.close(out)
            os.close(err)
        return LocalHandle(request.trial_id, proc.pid, control_dir=str(paths.control_dir),
                           popen=proc)

    def wait(self, handles: Sequence[TrialHandle], timeout: float) -> None:
        """Sleep until a trial's process ends (watched through pidfds) or ``timeout``."""
        poller = select.poll()
        watched = 0
        for handle in handles:
            assert isinstance(handle, LocalHandle)
            if handle.pidfd is None and handle.pid is not None and not handle.ended:
                try:
                    handle.pidfd = os.pidfd_open(handle.pid)
                except OSError:  # already gone, or no pidfd support: poll() will tell
                    continue
            if handle.pidfd is not None:
                poller.register(handle.pidfd, select.POLLIN)
                watched += 1
        if watched:
            poller.poll(timeout * 1000.0)
        else:
            time.sleep(timeout)

    def adopt(self, request: TrialRequest, pid: int | None) -> LocalHandle | None:
        """The trial's live supervisor (``pid``, or found by the trial's environment marker when
        no pid was recorded), else a handle of the ended trial whose ``poll`` gives its recorded
        exit; None when nothing shows that the trial ever started."""
        control = str(request.paths.control_dir)
        if pid is None:
            pid = _session_leader(marked_processes(control))
            if pid is None:
                return LocalHandle(request.trial_id, None, control_dir=control, ended=True) \
                    if request.paths.exit_status.exists() else None
        if self._is_trial(pid, control):
            try:
                pidfd: int | None = os.pidfd_open(pid)  # pins the process: no reused pid
            except OSError:
                pidfd = None
            if self._is_trial(pid, control):
                return LocalHandle(request.trial_id, pid, control_dir=control, pidfd=pidfd)
            if pidfd is not None:
                os.close(pidfd)
        return LocalHandle(request.trial_id, pid, control_dir=control, ended=True)

    @staticmethod
    def _is_trial(pid: int, control_dir: str) -> bool:
        marker = _marker(control_dir)
        for _ in range(50):  # a process that has just exec'd may show an empty environment
            environ = _environ(pid)
            if environ != [b""]:
                return marker in environ and pid_alive(pid)
            time.sleep(0.02)
        return False

    def poll(self, handle: TrialHandle) -> int | None:
        assert isinstance(handle, LocalHandle)
        if handle.popen is not None:
            code = handle.popen.poll()
        elif handle.ended or handle.pid is None or self._exited(handle):
            code = self._recorded_exit(handle)
        else:
            code = None
        if code is None and handle.kill_at is not None and time.monotonic() >= handle.kill_at:
            self._signal(handle, signal.SIGKILL)
            handle.kill_at = None
        if code is not None:
            # End what the trial left behind. A supervisor that ended by itself has ended the
            # processes that left the group; one killed (or not ours to watch) could not.
            seen_end = handle.popen is not None and code != -signal.SIGKILL
            self._signal(handle, signal.SIGKILL, marked=not seen_end)
            if handle.pidfd is not None:
                os.close(handle.pidfd)
                handle.pidfd = None
        return code

    @staticmethod
    def _exited(handle: LocalHandle) -> bool:
        assert handle.pid is not None
        if handle.pidfd is not None:
            return bool(select.select([handle.pidfd], [], [], 0)[0])
        return not pid_alive(handle.pid)

    @staticmethod
    def _recorded_exit(handle: LocalHandle) -> int:
        """How an unwatched trial ended: its supervisor's record; without one it was killed
        (the supervisor records every other end) or, with no process at all, never ran."""
        data = read_regular(handle.status_file, 64)
        if data is None:
            return -signal.SIGKILL if handle.pid is not None else UNKNOWN_EXIT
        try:
            return int(data)
        except ValueError:
            return UNKNOWN_EXIT

    def _signal(self, handle: LocalHandle, sig: int, marked: bool = True) -> None:
        """``sig`` to the trial's process group and (``marked``) to its processes that left
        it, found by their environment."""
        if handle.pid is not None and not handle.ended:  # an ended one's pid may be reused
            signal_group(handle.pid, sig)
        for pid in marked_processes(handle.control_dir) if marked else ():
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def terminate(self, handle: TrialHandle, grace: float) -> None:
        """SIGTERM once; a later call with a shorter grace brings the SIGKILL forward."""
        assert isinstance(handle, LocalHandle)
        if not handle.terminated:
            handle.terminated = True
            self._signal(handle, signal.SIGTERM)
        kill_at = time.monotonic() + grace
        if handle.kill_at is None or kill_at < handle.kill_at:
            handle.kill_at = kill_at

    def kill(self, handle: TrialHandle) -> None:
        assert isinstance(handle, LocalHandle)
        self._signal(handle, signal.SIGKILL)
