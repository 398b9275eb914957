"""A job directory: which job's trials it holds, and the one tuner that drives that job.

- ``D/tf_hptune/job.json`` names the job whose trials ``D`` holds. ``mark_job_dir`` writes it
  at submit, before the job is recorded, and creates it at once (``O_EXCL``): of two jobs
  given one directory, one is refused before it exists.
- ``D/tf_hptune/tuner.lock`` is locked (``flock``) by the job's tuner for its whole life and
  names its pid. The operating system releases the lock when the tuner dies, however it dies,
  so "does a tuner run this job?" is the lock's answer, never a pid that may have been reused.

The directory itself, its control directory and every file written there must be safe to write
(``tf_hptune.files``): no link, nobody else's, not writable by others.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tf_hptune.channel import CONTROL_DIR_NAME
from tf_hptune.errors import TfHptuneError
from tf_hptune.files import (
    check_private_dir,
    make_private_dir,
    open_private,
    open_regular,
    read_regular,
    write_private,
)

OWNER_FILE = "job.json"
LOCK_FILE = "tuner.lock"
LOCK_WAIT = 1.0  # seconds a claim retries: a reader's probe holds the lock for microseconds


class JobDirInUseError(TfHptuneError):
    """The job directory belongs to another job."""


class JobLockedError(TfHptuneError):
    """Another tuner process drives the job."""


def job_dir_owner(job_dir: str | os.PathLike[str]) -> str | None:
    """The job whose trials ``job_dir`` holds, by its mark; None when unmarked (or unreadable)."""
    data = read_regular(Path(job_dir) / CONTROL_DIR_NAME / OWNER_FILE, 1 << 16)
    try:
        owner = json.loads(data).get("job") if data is not None else None
    except (ValueError, AttributeError):
        return None
    return owner if isinstance(owner, str) else None


def check_job_dir(job_dir: str | os.PathLike[str], job_name: str) -> None:
    """Refuse a job dir that job ``job_name`` cannot use, before anything is written: one inside
    another job's directory, one that holds another job's trials, one that (or whose control
    directory) is a link, someone else's or writable by others."""
    path = Path(job_dir)
    for ancestor in path.parents:
        owner = job_dir_owner(ancestor)
        if owner is not None:
            raise JobDirInUseError(
                f"--job-dir {path} is inside {ancestor}, the directory of job {owner!r}; its "
                "trials would write among that job's files: give each job a directory of its "
                "own, outside the others'")
    for directory in (path, path / CONTROL_DIR_NAME):
        try:
            st = os.lstat(directory)
        except FileNotFoundError:
            break
        check_private_dir(directory, st)
    owner = job_dir_owner(path)
    if owner not in (None, job_name):
        raise JobDirInUseError(f"--job-dir {path} already holds the trials of job {owner!r}; "
                               "give each job its own directory")


def mark_job_dir(job_dir: str | os.PathLike[str], job_name: str) -> bool:
    """``check_job_dir``, then mark ``job_dir`` as job ``job_name``'s. Returns whether this call
    wrote the mark (``unmark_job_dir`` undoes it when the job could not be recorded)."""
    check_job_dir(job_dir, job_name)
    control = Path(job_dir) / CONTROL_DIR_NAME
    make_private_dir(control)
    marker = control / OWNER_FILE
    data = json.dumps({"job": job_name}).encode()
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except FileExistsError:
        owner = job_dir_owner(job_dir)
        if owner == job_name:
            return False
        if owner is not None:
            raise JobDirInUseError(f"--job-dir {job_dir} already holds the trials of job "
                                   f"{owner!r}; give each job its own directory") from None
        write_private(marker, data)  # an unreadable leftover: replaced, never followed
        return True
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True


def unmark_job_dir(job_dir: str | os.PathLike[str], job_name: str) -> None:
    """Remove ``job_dir``'s mark if it names ``job_name``."""
    if job_dir_owner(job_dir) == job_name:
        try:
            os.unlink(Path(job_dir) / CONTROL_DIR_NAME / OWNER_FILE)
        except OSError:
            pass


_CLAIMS: dict[str, "JobDirClaim"] = {}  # this process's, by the job dir's real path


@dataclass
class JobDirClaim:
    """This process's claim on a job dir: its tuner lock (an open file description), held until
    the last ``release`` or until the process ends."""

    key: str
    job_name: str
    fd: int
    count: int = 1

    def release(self) -> None:
        self.count -= 1
        if self.count == 0:
            _CLAIMS.pop(self.key, None)
            os.close(self.fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> "JobDirClaim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_job_dir(job_dir: str | os.PathLike[str], job_name: str) -> JobDirClaim:
    """Claim ``job_dir`` for driving job ``job_name``: mark it (``mark_job_dir``) and take its
    tuner lock. Claims nest within one process (each needs its ``release``). Raises
    ``JobDirInUseError`` (another job's dir), ``UnsafePathError``, or ``JobLockedError``
    naming the process that runs the job."""
    key = os.path.realpath(job_dir)
    held = _CLAIMS.get(key)
    if held is not None:
        if held.job_name != job_name:
            raise JobDirInUseError(f"--job-dir {job_dir} is in use by job {held.job_name!r} "
                                   "in this process")
        held.count += 1
        return held
    mark_job_dir(job_dir, job_name)
    fd = open_private(Path(job_dir) / CONTROL_DIR_NAME / LOCK_FILE, os.O_RDWR)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                holder = _holder(fd)
                os.close(fd)
                raise JobLockedError(
                    f"job {job_name!r} is run by tuner process {holder or '(unknown)'}; one "
                    f"tuner per job: `tf-hptune jobs cancel {job_name}` stops it") from None
            time.sleep(0.01)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    claim = _CLAIMS[key] = JobDirClaim(key, job_name, fd)
    return claim


def _holder(fd: int) -> int | None:
    """The live pid the lock holder wrote, else None. It writes it right after taking the lock,
    so wait a little rather than read a predecessor's."""
    for _ in range(50):
        try:
            pid = int(os.pread(fd, 64, 0).split()[0])
            if pid > 0:
                os.kill(pid, 0)
                return pid
        except PermissionError:  # alive, another user's
            return pid
        except (ValueError, IndexError, OSError):
            pass
        time.sleep(0.01)
    return None


def lock_holder(job_dir: str | os.PathLike[str]) -> int | None:
    """The pid of the process that holds ``job_dir``'s tuner lock, or None when no tuner runs
    there (this process's own claims count as none)."""
    if os.path.realpath(job_dir) in _CLAIMS:
        return None
    try:
        f = open_regular(Path(job_dir) / CONTROL_DIR_NAME / LOCK_FILE)
    except OSError:
        return None
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(f.fileno())
            if holder is None:
                raise JobLockedError(f"{job_dir}: a tuner holds the job's lock but its pid "
                                     "is not recorded") from None
            return holder
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return None


__all__ = ["JobDirClaim", "JobDirInUseError", "JobLockedError", "check_job_dir",
           "claim_job_dir", "job_dir_owner", "lock_holder", "mark_job_dir", "unmark_job_dir"]
