"""Trials as local subprocesses, each in its own process group, argv only (never a shell)."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tf_hptune.errors import LaunchError
from tf_hptune.launch.base import UNKNOWN_EXIT, Launcher, TrialHandle, TrialRequest
from tf_hptune.space import format_value

PRIVATE_DIR = 0o700


def make_private_dir(path: "os.PathLike[str] | str") -> None:
    """Create ``path`` (and parents) readable by the user only."""
    os.makedirs(path, mode=PRIVATE_DIR, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)


def _open_log(path: "os.PathLike[str]") -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is gone is not an error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def hyperparameter_args(params: Mapping[str, Any]) -> list[str]:
    """``--name value`` argv items, in order: integers plain, doubles with 17 significant
    digits, categories verbatim (CMLE.md)."""
    out: list[str] = []
    for name, value in params.items():
        out += [f"--{name}", format_value(value)]
    return out


def trial_argv(request: TrialRequest) -> list[str]:
    """The trial's argv after the interpreter: user args, then ``--job-dir``, then the
    hyperparameters last so that they win with argparse."""
    return ["-m", request.module, *request.user_args, "--job-dir", str(request.paths.job_dir),
            *hyperparameter_args(request.hyperparameters)]


@dataclass
class LocalHandle(TrialHandle):
    """A local trial: its process group leader (``pid``), the ``Popen`` when this process
    started it, and the pending SIGKILL of a terminate."""

    popen: "subprocess.Popen[bytes] | None" = None
    pidfd: int | None = None
    terminated: bool = False
    kill_at: float | None = None


class LocalLauncher(Launcher):
    """Runs ``<python> <argv>`` with stdout and stderr in the trial's control directory."""

    def __init__(self, python: str) -> None:
        self.python = python

    def start(self, request: TrialRequest) -> LocalHandle:
        paths = request.paths
        make_private_dir(paths.control_dir)
        if paths.job_dir.exists() and any(paths.job_dir.iterdir()):
            raise LaunchError(f"trial directory {paths.job_dir} is not empty")
        make_private_dir(paths.job_dir)
        env = dict(os.environ)
        env.update(request.env)
        env.update(request.resources.environment())
        out, err = _open_log(paths.stdout), _open_log(paths.stderr)
        try:
            proc = subprocess.Popen(
                [self.python, *trial_argv(request)],
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
            os.close(out)
            os.close(err)
        if request.resources.cpus:  # before the interpreter starts any thread, which inherit it
            try:
                os.sched_setaffinity(proc.pid, request.resources.cpus)
            except OSError as e:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
                raise LaunchError(f"cannot pin trial {request.trial_id} to cores "
                                  f"{list(request.resources.cpus)}: {e}") from e
        return LocalHandle(request.trial_id, proc.pid, popen=proc)

    def wait(self, handles: Sequence[TrialHandle], timeout: float) -> None:
        """Sleep until a trial's process ends (watched through pidfds) or ``timeout``."""
        poller = select.poll()
        for handle in handles:
            assert isinstance(handle, LocalHandle)
            if handle.pidfd is None and handle.pid is not None:
                try:
                    handle.pidfd = os.pidfd_open(handle.pid)
                except OSError:  # already gone, or no pidfd support: poll() will tell
                    continue
            poller.register(handle.pidfd, select.POLLIN)
        if handles:
            poller.poll(timeout * 1000.0)
        else:
            time.sleep(timeout)

    def adopt(self, request: TrialRequest, pid: int) -> LocalHandle | None:
        # The pid must still be this trial's: its environment names the trial's control dir.
        marker = f"TF_HPTUNE_CONTROL_DIR={request.paths.control_dir}".encode()
        environ: list[bytes] = []
        for _ in range(50):  # a process that has just exec'd may show an empty environment
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read().split(b"\0")
            except OSError:
                return None
            if environ != [b""]:
                break
            time.sleep(0.02)
        if marker not in environ or not pid_alive(pid):
            return None
        return LocalHandle(request.trial_id, pid)

    def poll(self, handle: TrialHandle) -> int | None:
        assert isinstance(handle, LocalHandle) and handle.pid is not None
        if handle.popen is not None:
            code = handle.popen.poll()
        else:
            code = None if pid_alive(handle.pid) else UNKNOWN_EXIT
        if code is None and handle.kill_at is not None and time.monotonic() >= handle.kill_at:
            signal_group(handle.pid, signal.SIGKILL)
            handle.kill_at = None
        if code is not None:
            signal_group(handle.pid, signal.SIGKILL)  # reap what the trial left behind
            if handle.pidfd is not None:
                os.close(handle.pidfd)
                handle.pidfd = None
        return code

    def terminate(self, handle: TrialHandle, grace: float) -> None:
        """SIGTERM once; a later call with a shorter grace brings the SIGKILL forward."""
        assert isinstance(handle, LocalHandle) and handle.pid is not None
        if not handle.terminated:
            handle.terminated = True
            signal_group(handle.pid, signal.SIGTERM)
        kill_at = time.monotonic() + grace
        if handle.kill_at is None or kill_at < handle.kill_at:
            handle.kill_at = kill_at

    def kill(self, handle: TrialHandle) -> None:
        assert isinstance(handle, LocalHandle) and handle.pid is not None
        signal_group(handle.pid, signal.SIGKILL)
