"""The cloudml-hypertune metrics file: one JSON object per line, latest 100 reports, keys sorted,
every value a string but ``timestamp``. Written by the trial, read by the tuner."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tf_hptune.channel.values import as_step, as_value
from tf_hptune.files import open_regular
from tf_hptune.names import DEFAULT_METRIC_TAG

DEFAULT_METRIC_FILE = "/tmp/hypertune/output.metrics"
MAX_REPORTS = 100
_MAX_READ = 1 << 20  # the file holds 100 short lines; never read more than this of it


def metric_file_path() -> Path:
    """Where this process reports: ``$CLOUD_ML_HP_METRIC_FILE`` or the package's default."""
    return Path(os.environ.get("CLOUD_ML_HP_METRIC_FILE") or DEFAULT_METRIC_FILE)


def write_report(
    path: Path,
    tag: str,
    value: float,
    step: int | None = None,
    checkpoint_path: str = "",
    trial: str = "",
) -> None:
    """Append one report and keep only the latest ``MAX_REPORTS``; replace the file atomically
    so that a reader never sees a half-written file."""
    entry = {
        "checkpoint_path": checkpoint_path,
        "global_step": str(int(step)) if step is not None else "0",
        tag or DEFAULT_METRIC_TAG: str(float(value)),
        "timestamp": time.time(),
        "trial": trial,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[-(MAX_REPORTS - 1):]
    except (FileNotFoundError, UnicodeDecodeError):
        lines = []
    lines.append(json.dumps(entry, sort_keys=True))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


_REPORT_KEYS = frozenset({"checkpoint_path", "global_step", "timestamp", "trial"})


def report_tags(path: Path) -> set[str]:
    """The metric tags the hypertune file at ``path`` holds reports of."""
    try:
        with open_regular(path) as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _MAX_READ))
            lines = f.read(_MAX_READ).decode("utf-8", errors="replace").splitlines()
    except OSError:
        return set()
    tags: set[str] = set()
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            tags.update(k for k in obj if k not in _REPORT_KEYS)
    return tags


def read_reports(path: Path, tag: str) -> tuple[list[tuple[int, float]], int]:
    """``([(step, value), ...] in file order, number of unreadable lines)`` for ``tag``.

    Reports of other tags are skipped; lines that are not JSON objects, or hold a value that is
    not a number or a step the store cannot keep (``channel.values``), are counted and skipped;
    a huge file is read from its last megabyte only."""
    try:
        with open_regular(path) as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _MAX_READ))
            data = f.read(_MAX_READ)
    except OSError:
        return [], 0
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > _MAX_READ and lines:
        lines = lines[1:]  # the first line was cut by the seek
    out: list[tuple[int, float]] = []
    bad = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if isinstance(obj, dict) and tag not in obj:
                continue  # a report of another tag
            value = as_value(obj[tag])
            step = as_step(obj.get("global_step", "0") or 0)
        except (ValueError, KeyError, TypeError, OverflowError, AttributeError):
            bad += 1
            continue
        out.append((step, value))
    return out, bad
