"""Trials as local subprocesses, each in its own process group, argv only (never a shell)."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence

from tf_hptune.errors import LaunchError
from tf_hptune.launch.base import (
    UNKNOWN_EXIT,
    Launcher,
    Resources,
    TrialCommand,
    TrialHandle,
)

PRIVATE_DIR = 0o700


def make_private_dir(path: "os.PathLike[str] | str") -> None:
    """Create ``path`` (and parents) readable by the user only."""
    os.makedirs(path, mode=PRIVATE_DIR, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)


def _open_log(path: "os.PathLike[str]") -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def _signal_group(pgid: int, sig: int) -> None:
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


class LocalLauncher(Launcher):
    """Runs ``<python> <argv>`` with stdout and stderr in the trial's control directory."""

    def __init__(self, python: str) -> None:
        self.python = python

    def start(self, command: TrialCommand, resources: Resources) -> TrialHandle:
        paths = command.paths
        make_private_dir(paths.control_dir)
        if paths.job_dir.exists() and any(paths.job_dir.iterdir()):
            raise LaunchError(f"trial directory {paths.job_dir} is not empty")
        make_private_dir(paths.job_dir)
        env = dict(os.environ)
        env.update(command.env)
        out, err = _open_log(paths.stdout), _open_log(paths.stderr)
        try:
            proc = subprocess.Popen(
                [self.python, *command.argv],
                cwd=command.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # own process group: terminate reaches its children
                close_fds=True,
            )
        except OSError as e:
            raise LaunchError(f"cannot start trial {command.trial_id}: {e}") from e
        finally:
            os.close(out)
            os.close(err)
        return TrialHandle(command.trial_id, proc.pid, {"popen": proc})

    def wait(self, handles: Sequence[TrialHandle], timeout: float) -> None:
        """Sleep until a trial's process ends (watched through pidfds) or ``timeout``."""
        poller = select.poll()
        for handle in handles:
            fd = handle.data.get("pidfd")
            if fd is None and handle.pid is not None:
                try:
                    fd = handle.data["pidfd"] = os.pidfd_open(handle.pid)
                except OSError:  # already gone, or no pidfd support: poll() will tell
                    continue
            poller.register(fd, select.POLLIN)
        if handles:
            poller.poll(timeout * 1000.0)
        else:
            time.sleep(timeout)

    def adopt(self, command: TrialCommand, pid: int) -> TrialHandle | None:
        # The pid must still be this trial's: its environment names the trial's control dir.
        marker = f"TF_HPTUNE_CONTROL_DIR={command.paths.control_dir}".encode()
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
        return TrialHandle(command.trial_id, pid, {})

    def poll(self, handle: TrialHandle) -> int | None:
        proc: subprocess.Popen[bytes] | None = handle.data.get("popen")
        assert handle.pid is not None
        if proc is not None:
            code = proc.poll()
        else:
            code = None if pid_alive(handle.pid) else UNKNOWN_EXIT
        deadline = handle.data.get("kill_at")
        if code is None and deadline is not None and time.monotonic() >= deadline:
            _signal_group(handle.pid, signal.SIGKILL)
            handle.data["kill_at"] = None
        if code is not None:
            _signal_group(handle.pid, signal.SIGKILL)  # reap what the trial left behind
            fd = handle.data.pop("pidfd", None)
            if fd is not None:
                os.close(fd)
        return code

    def terminate(self, handle: TrialHandle, grace: float) -> None:
        """SIGTERM once; a later call with a shorter grace brings the SIGKILL forward."""
        assert handle.pid is not None
        if not handle.data.get("terminated"):
            handle.data["terminated"] = True
            _signal_group(handle.pid, signal.SIGTERM)
        kill_at = time.monotonic() + grace
        if handle.data.get("kill_at") is None or kill_at < handle.data["kill_at"]:
            handle.data["kill_at"] = kill_at
