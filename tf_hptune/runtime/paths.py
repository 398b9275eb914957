"""The gs:// map: ``gs://BUCKET/path`` under a local root is ``ROOT/BUCKET/path``.

Pure functions, shared by the tuner (``--job-dir gs://...``) and the trial side (every path a
trainer hands TensorFlow). Without a root, a gs:// path is an error that names ``--gcs-root``:
there is no Cloud Storage in a local trial.
"""
from __future__ import annotations

import os
from typing import Any

from tf_hptune.errors import TfHptuneError

GCS_SCHEME = "gs://"


class GcsPathError(TfHptuneError, ValueError):
    """A gs:// path that cannot be mapped: no ``--gcs-root``, or one that leaves its bucket."""


def is_gcs(path: Any) -> bool:
    """Whether ``path`` (str or bytes) is a gs:// URL."""
    if isinstance(path, bytes):
        return path.startswith(GCS_SCHEME.encode())
    return isinstance(path, str) and path.startswith(GCS_SCHEME)


def gcs_local_path(url: str, root: str | None) -> str:
    """The local path of gs:// URL ``url`` under ``root``: ``root/BUCKET/rest``, a trailing
    slash kept. Raises ``GcsPathError`` when ``root`` is None or ``url`` leaves its bucket."""
    bucket, _, key = url[len(GCS_SCHEME):].partition("/")
    if root is None:
        raise GcsPathError(
            f"{url}: a local trial has no Cloud Storage; give the job --gcs-root DIR (or "
            f"trainingInput.gcsRoot) to read and write gs://BUCKET/PATH as DIR/BUCKET/PATH")
    if bucket in ("", ".", "..") or not _stays_inside(key):
        raise GcsPathError(f"{url}: not a path inside a bucket, so it has no place under "
                           f"--gcs-root {root}")
    return os.path.join(root, bucket, key)


def _stays_inside(key: str) -> bool:
    depth = 0
    for part in key.split("/"):
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            return False
    return True


def map_path(value: Any, root: str | None, for_write: bool = False) -> Any:
    """``value`` with every gs:// URL mapped: a str, bytes, or a list or tuple of them (the
    same type comes back). Anything else, tensors included, is returned as it is. With
    ``for_write``, the parent directory of a mapped path is created (Cloud Storage has no
    directories to create first)."""
    if isinstance(value, (list, tuple)):
        if not any(is_gcs(v) for v in value):
            return value
        return type(value)(map_path(v, root, for_write) for v in value)
    if not is_gcs(value):
        return value
    local = gcs_local_path(os.fsdecode(value), root)
    if for_write:
        os.makedirs(os.path.dirname(local), exist_ok=True)
    return os.fsencode(local) if isinstance(value, bytes) else local


__all__ = ["GCS_SCHEME", "GcsPathError", "gcs_local_path", "is_gcs", "map_path"]
