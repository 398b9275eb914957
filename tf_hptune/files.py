"""Opening the files between a trial and the tuner so that neither a trial nor a stranger can
hang the tuner or make it write where it should not.

- Trial files (metrics, event files, logs) are the trial's to replace: one may become a FIFO, a
  device or a link. ``open_regular`` opens without blocking and without following a final
  link, and yields only regular files; every tuner-side reader uses it.
- The tuner's own files (control files, logs, the lock) are written through ``open_private``
  and ``write_private``: never through a link (``O_NOFOLLOW``), never into a file that is
  someone else's or has other names (hard links).
- Directories the tuner writes in go through ``make_private_dir``: a real directory (not a
  link), yours, that nobody else may write in, made ``0700``.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from tf_hptune.errors import UnsafePathError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


class NotRegularFileError(OSError):
    """A trial file that is not a regular file (a FIFO, a device, a directory)."""


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file and not a link; else ``OSError``
    (``NotRegularFileError`` for a FIFO, device or directory). Never blocks."""
    fd = os.open(path, _READ)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(f"{os.fspath(path)} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes | None:
    """The first ``limit`` bytes of a regular file; None when it is missing, unreadable or not
    a regular file."""
    try:
        with open_regular(path) as f:
            return f.read(limit)
    except OSError:
        return None


def _mine(path: str | os.PathLike[str], st: os.stat_result, what: str) -> None:
    uid = os.geteuid()
    if st.st_uid != uid:
        raise UnsafePathError(f"{os.fspath(path)} belongs to {_user(st.st_uid)}, not to you; "
                              f"tf-hptune writes {what} only where they are yours")


def _user(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """A file descriptor of ``path`` (created ``0600`` if missing) with ``flags``
    (``os.O_WRONLY | os.O_APPEND``, ``os.O_RDWR``, ...; never ``O_TRUNC``: truncate after,
    with ``os.ftruncate``). Refused with ``UnsafePathError``: a link, something that is not a
    regular file, someone else's file, a file with other hard links."""
    if flags & os.O_TRUNC:
        raise ValueError("open_private never truncates at open: use os.ftruncate")
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     PRIVATE_FILE)
    except OSError as e:
        if os.path.islink(path):
            raise UnsafePathError(f"{os.fspath(path)} is a symbolic link; tf-hptune never "
                                  "writes through a link it did not make") from None
        raise e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"{os.fspath(path)} is not a regular file")
        _mine(path, st, "its files")
        if st.st_nlink > 1:
            raise UnsafePathError(f"{os.fspath(path)} has other names (hard links); tf-hptune "
                                  "writes only files of its own")
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` by ``data`` at once (a reader sees the old file or the new one), through
    a fresh private file: a link at ``path`` is replaced, never followed."""
    path = Path(path)
    tmp = path.with_name(f".tf_hptune-{os.getpid()}.tmp")  # no "tfevents": TensorBoard skips it
    try:
        os.unlink(tmp)  # a leftover of a killed writer, or a planted link: unlink never follows
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_private_dir(path: str | os.PathLike[str], st: os.stat_result | None = None) -> None:
    """Refuse (``UnsafePathError``) an existing ``path`` that is a link, not a directory,
    someone else's, or writable by others."""
    st = st or os.lstat(path)
    shown = os.fspath(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"{shown} is a symbolic link; tf-hptune writes only into real "
                              "directories (a link could point it anywhere)")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{shown} is not a directory")
    _mine(path, st, "its files and logs")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePathError(
            f"{shown} is writable by others (mode {stat.S_IMODE(st.st_mode):04o}): anyone "
            "could plant links in it; run 'chmod go-w' on it or use a directory of your own")


def make_private_dir(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (and missing parents) readable by you only; an existing one must pass
    ``check_private_dir`` and is made ``0700``."""
    try:
        os.mkdir(path, PRIVATE_DIR)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return make_private_dir(path)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # a link or not a directory: say which
        check_private_dir(path)
        raise
    try:
        check_private_dir(path, os.fstat(fd))
        os.fchmod(fd, PRIVATE_DIR)
    finally:
        os.close(fd)


__all__ = ["PRIVATE_DIR", "NotRegularFileError", "check_private_dir", "make_private_dir",
           "open_private", "open_regular", "read_regular", "write_private"]
