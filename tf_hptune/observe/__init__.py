"""Finding the summaries of trainers that never import tf_hptune, wherever they write them.

The service watched every summary a trial wrote. Locally, the launcher puts :data:`HOOK_DIR`
first on each trial's ``PYTHONPATH``; its ``sitecustomize`` (which chains to any other one)
adds, only inside a tuning trial, an import hook that records the log directory of every
TensorFlow or TensorBoard summary writer the trial opens in ``<control dir>/summary_dirs.txt``.
TensorFlow is not imported by the hook; the writer modules are wrapped when the trainer imports
them. The tuner's ``TrialChannel`` then also reads the event files in those directories. The
same hook loads the runtime mode (``tf_hptune.runtime``: the TensorFlow 1.x mode, the gs:// map)
into trials; see ``_tf_hptune_observe``.

Limits: interpreters started with ``-S``, ``-I`` or ``-E`` skip the hook; a logdir that is a
remote URL (``gs://``) or a tensor computed in a graph is not recorded; writers other than
TensorFlow's and TensorBoard's are not seen.
"""
from __future__ import annotations

import os
from pathlib import Path

from tf_hptune.files import read_regular
from tf_hptune.observe.pythonpath._tf_hptune_observe import SUMMARY_DIRS_FILE

HOOK_DIR = Path(__file__).resolve().parent / "pythonpath"
MAX_DIRS = 64
_MAX_BYTES = 1 << 20


def read_summary_dirs(control_dir: str | os.PathLike[str]) -> list[str]:
    """The absolute directories a trial recorded, first ``MAX_DIRS`` distinct ones, in order."""
    data = read_regular(Path(control_dir) / SUMMARY_DIRS_FILE, _MAX_BYTES)
    if data is None:
        return []
    dirs: list[str] = []
    for raw in data.split(b"\n")[:-1]:  # the last piece is empty or a line being written
        path = os.fsdecode(raw)
        if os.path.isabs(path) and path not in dirs:
            dirs.append(path)
            if len(dirs) >= MAX_DIRS:
                break
    return dirs


__all__ = ["HOOK_DIR", "MAX_DIRS", "SUMMARY_DIRS_FILE", "read_summary_dirs"]
