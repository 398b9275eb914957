"""The node side of a Ray trial: kills the trainer's process group once the Ray worker that
started it is gone. Run by path with the standard library only (no tf_hptune import):
``python -I -S watchdog.py WORKER_PID GROUP`` returns at once and leaves the watch to a child
of its own, so that the watch is not a child of the worker: a Ray worker that exits (as when
its raylet dies) kills its direct children, not theirs, and the watch must outlive it to end
the trainer. It also holds ``pid_alive``, which the local launcher imports, so that both read
a process's liveness the same way.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


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


def watch(worker: int, group: int, interval: float = 0.5) -> None:
    """Until process group ``group`` is gone: once ``worker`` has died, SIGKILL the group."""
    while True:
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return
        if not pid_alive(worker):
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            return
        time.sleep(interval)


def detach_watch(worker: int, group: int) -> None:
    """Start ``watch(worker, group)`` in a process that is not the caller's child, and return
    (the caller is usually ``worker``); it ends once the group is gone."""
    subprocess.run([sys.executable, "-I", "-S", __file__, str(worker), str(group)],
                   start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)


if __name__ == "__main__":
    if os.fork() == 0:
        watch(int(sys.argv[1]), int(sys.argv[2]))
    os._exit(0)
