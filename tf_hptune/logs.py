"""Reading trials' logs: the tail kept with a failed trial, and following them live."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from tf_hptune.channel import TrialPaths

TAIL_BYTES = 4000


def log_tail(paths: TrialPaths, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of the trial's stderr, else of its stdout."""
    for path in (paths.stderr, paths.stdout):
        try:
            with open(path, "rb") as f:
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
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read(1 << 20)
            except OSError:
                continue
            end = len(data) if final else data.rfind(b"\n") + 1
            self._offsets[path] = offset + end
            for line in data[:end].decode("utf-8", errors="replace").splitlines():
                yield f"{trial_id:>4}  {line}"
