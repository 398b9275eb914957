"""Trials' logs: the tail kept with a failed trial, following them live, and their size cap.

A trial's ``stdout.log`` and ``stderr.log`` grow as it writes (it appends, ``O_APPEND``). Past
``LOG_LIMIT`` bytes the tuner cuts one in place: it keeps the first ``LOG_HEAD`` bytes, a line
that says how much was cut, and the last ``LOG_TAIL`` bytes; the trial's next writes go on at
the new end. As with logrotate's ``copytruncate``, a write that lands between the cut's last
look at the size and its truncation (microseconds, once per cut) is lost.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from tf_hptune.channel import TrialPaths
from tf_hptune.files import open_private, open_regular

TAIL_BYTES = 4000
LOG_LIMIT = 64 << 20
LOG_HEAD = 1 << 20
LOG_TAIL = 31 << 20  # after a cut a log is half the limit: it is cut again after as much more
CUT_NOTE = "[tf-hptune: "


def log_tail(paths: TrialPaths, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of the trial's stderr, else of its stdout."""
    for path in (paths.stderr, paths.stdout):
        try:
            with open_regular(path) as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                text = f.read().decode("utf-8", errors="replace").strip()
        except OSError:
            continue
        if text:
            return text
    return ""


# The last line of a traceback: "ValueError: bad", "pkg.mod.Error: ...", "KeyboardInterrupt"
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)|"
                        r"[A-Za-z_][\w.]*\.[A-Z]\w*)(?::\s.*)?$")
# argparse's last line: "usage: ...\n<prog>: error: <message>"
_ARGPARSE = re.compile(r"^\S+: error: .+$")
MAX_CAUSE = 300


def failure_cause(tail: str) -> str | None:
    """The trainer's own words for why it failed, from its log tail: argparse's error line, or
    the last line of the last traceback; None when the tail shows neither."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if _ARGPARSE.match(line):
            return line[:MAX_CAUSE]
    if "Traceback (most recent call last):" in tail:
        start = max(i for i, line in enumerate(lines)
                    if line.startswith("Traceback (most recent call last):"))
        for line in reversed(lines[start:]):
            if _EXCEPTION.match(line):
                return line[:MAX_CAUSE]
    return None


def cap_logs(paths: TrialPaths) -> None:
    """Cut the trial's logs that are over ``LOG_LIMIT`` (see the module's docstring)."""
    for path in (paths.stdout, paths.stderr):
        try:
            if os.lstat(path).st_size > LOG_LIMIT:  # one call per log per poll: cheap first
                cap_log(path)
        except OSError:  # gone, replaced or not ours: the trial's business
            continue


def cap_log(path: Path, limit: int | None = None, head: int | None = None,
            tail: int | None = None) -> bool:
    """Cut the log at ``path`` in place when it is over ``limit`` bytes, keeping about ``head``
    bytes of its start and ``tail`` of its end (whole lines where it can); True if it did."""
    limit, head, tail = limit or LOG_LIMIT, head or LOG_HEAD, tail or LOG_TAIL
    fd = open_private(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if size <= limit:
            return False
        tail = max(0, min(tail, size - head - 256))
        start = os.pread(fd, head, 0)
        keep = start[:start.rfind(b"\n") + 1] or start
        end = os.pread(fd, tail, size - tail)
        end = end[end.find(b"\n") + 1:] or end
        cut = size - len(keep) - len(end)
        pos = len(keep)
        note = f"{CUT_NOTE}{cut:,} bytes of this log were cut here]\n".encode()
        for chunk in (note, end):
            os.pwrite(fd, chunk, pos)
            pos += len(chunk)
        while True:  # what the trial appended meanwhile goes after the tail
            now = os.fstat(fd).st_size
            if now <= size:
                break
            os.pwrite(fd, os.pread(fd, now - size, size), pos)
            pos, size = pos + (now - size), now
        os.ftruncate(fd, pos)
        return True
    finally:
        os.close(fd)


class LogFollower:
    """Yields new complete lines of every trial's stdout and stderr, from where it left off."""

    def __init__(self) -> None:
        self._offsets: dict[Path, int] = {}

    def read(self, trial_id: str, paths: TrialPaths, final: bool = False) -> Iterator[str]:
        """``"<trial_id>  <line>"`` for each new line; ``final`` also flushes a last line with
        no newline."""
        for path in (paths.stdout, paths.stderr):
            offset = self._offsets.get(path, 0)
            try:
                with open_regular(path) as f:
                    if os.fstat(f.fileno()).st_size < offset:  # cut by cap_log: go on from
                        at = f.read(LOG_HEAD + 256).find(CUT_NOTE.encode())  # its note
                        offset = max(at, 0)
                    f.seek(offset)
                    data = f.read(1 << 20)
            except OSError:
                continue
            end = len(data) if final else data.rfind(b"\n") + 1
            self._offsets[path] = offset + end
            for line in data[:end].decode("utf-8", errors="replace").splitlines():
                yield f"{trial_id:>4}  {line}"
