"""The append-only JSON-lines measurements file written by tf_hptune's own reporters."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tf_hptune.channel.events import MAX_OTHER_TAGS
from tf_hptune.channel.values import as_step, as_value
from tf_hptune.files import open_regular

_CHUNK = 4 << 20


def append_measurement(path: Path, tag: str, step: int, value: float) -> None:
    """Append one line in a single ``write`` so that a reader sees whole lines or nothing."""
    line = json.dumps({"tag": tag, "step": int(step), "value": float(value), "time": time.time()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


class JsonlReader:
    """Reads new complete lines of one measurements file for one tag, from where it left off."""

    def __init__(self, path: Path, tag: str) -> None:
        self.path, self.tag = path, tag
        self._offset = 0
        self.bad_lines = 0
        self.other_tags: set[str] = set()  # tags reported besides ``tag``

    def read_new(self) -> list[tuple[int, float]]:
        try:
            with open_regular(self.path) as f:
                f.seek(self._offset)
                data = f.read(_CHUNK)
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) >= _CHUNK:  # one absurdly long line: skip it whole
                self._offset += len(data)
                self.bad_lines += 1
            return []
        self._offset += end + 1
        out: list[tuple[int, float]] = []
        for raw in data[:end].split(b"\n"):
            try:
                obj = json.loads(raw)
                if obj.get("tag") != self.tag:
                    if isinstance(obj.get("tag"), str) and len(self.other_tags) < MAX_OTHER_TAGS:
                        self.other_tags.add(obj["tag"])
                    continue
                out.append((as_step(obj["step"]), as_value(obj["value"])))
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
                if raw.strip():
                    self.bad_lines += 1
        return out
