"""A local trial's first process: it runs the trainer, records how it ended, and ends what the
trainer left behind. Run by path with the standard library only (no tf_hptune import):
``python -I -S supervise.py STATUS_FILE -- ARGV...``.

- It leads the trial's process group and session; the trainer is its child in that group, so
  the tuner's SIGTERM to the group reaches the trainer. It waits through SIGTERM, SIGINT and
  SIGHUP (its handlers do nothing, and exec resets them for the trainer) to see the end.
- When the trainer ends it writes the exit code (negative: the signal) to STATUS_FILE, so that
  a tuner that was not running then still learns it; only a SIGKILL of this process leaves no
  status.
- It is a child subreaper (Linux): the trainer's descendants that leave the group (``setsid``)
  and lose their parent become its children; once the trainer has ended they are killed.
- Then it exits as the trainer did (the same code, or the same signal), so that its parent sees
  the trainer's status.
"""
from __future__ import annotations

import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
CHILD_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _become_subreaper() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError, ImportError):  # not Linux: descendants go to init
        pass


def _children() -> list[int]:
    """Our child processes, from /proc (none where there is no /proc)."""
    me = str(os.getpid())
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1].decode() == me:
            found.append(int(name))
    return found


def _write_status(path: str, code: int) -> None:
    """Write ``code`` to ``path`` at once, never through a link; a trial that removed its
    control directory just leaves no status."""
    tmp = f"{path}.tmp"
    try:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, f"{code}\n".encode())
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        sys.stderr.write(f"tf-hptune: cannot record the trial's exit status in {path}: {e}\n")


def _end_leftovers() -> None:
    """Kill and reap every remaining child (descendants adopted as subreaper) until none is
    left."""
    while True:
        for pid in _children():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _exit_as(code: int) -> None:
    if code >= 0:
        os._exit(code)
    sig = -code
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the trainer's core is enough
    except (ImportError, ValueError, OSError):
        pass
    signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)  # a signal whose default is not to end the process


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: supervise.py STATUS_FILE -- ARGV...\n")
        os._exit(2)
    status, command = argv[0], argv[2:]
    for sig in CHILD_SIGNALS:
        signal.signal(sig, lambda signum, frame: None)
    _become_subreaper()
    try:
        trainer = os.posix_spawnp(command[0], command, os.environ)
    except OSError as e:
        sys.stderr.write(f"tf-hptune: cannot start {command[0]}: {e}\n")
        _write_status(status, 127)
        os._exit(127)
    code = None
    while code is None:
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:  # cannot happen while the trainer runs
            code = 127
            break
        if pid == trainer:
            code = os.waitstatus_to_exitcode(wait_status)
    _write_status(status, code)
    _end_leftovers()
    _exit_as(code)


if __name__ == "__main__":
    main(sys.argv[1:])
