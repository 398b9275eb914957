"""The runtime mode: 2018-era Cloud ML Engine trainers run unchanged. Tuner side, no TensorFlow.

- ``runtimeVersion`` 1.x (``--runtime-version 1.15``): in each trial, ``import tensorflow``
  gives TensorFlow 2.15's ``tf.compat.v1`` with v2 behaviour disabled (Estimator included) and
  the ``tf.contrib`` pieces such trainers used. A 2.x version, or none, changes nothing.
- ``gcsRoot`` (``--gcs-root DIR``): ``gs://BUCKET/path`` is read and written as
  ``DIR/BUCKET/path``; a ``--job-dir gs://...`` maps the same way.
- Without a root, a gs:// path given to TensorFlow fails at once with an error naming
  ``--gcs-root``. This is on in every tuning trial, with no setting: the observe hook that every
  trial gets loads the trial side just before TensorFlow is first imported.

The core calls three functions: ``trial_env`` (what the launcher adds to a trial's
environment), ``local_job_dir`` and ``failure_hint``. The trial side, ``tf_hptune.runtime.trial``,
is loaded by the observe hook in trial processes only; nothing here imports it.
"""
from __future__ import annotations

import os
import re

from tf_hptune.observe.pythonpath._tf_hptune_observe import RUNTIME_VERSION_ENV
from tf_hptune.runtime.paths import GcsPathError, gcs_local_path, is_gcs

GCS_ROOT_ENV = "TF_HPTUNE_GCS_ROOT"
MODE_NAME = "TensorFlow 1.x runtime mode"
"""In every message of the mode's own, so that ``failure_hint`` stays quiet about them."""

_TF1_VERSION = re.compile(r"1\.\d+(\.\d+)?")
_TF1_SIGNS = re.compile(
    r"module 'tensorflow(?:\.[\w.]+)?' has no attribute '\w+'"
    r"|No module named 'tensorflow\.contrib[\w.]*'"
    r"|'\w+' object has no attribute 'make_(?:one_shot|initializable)_iterator'"
    r"|tf\.placeholder\(\) is not compatible with eager execution"
)


def is_tf1(runtime_version: str | None) -> bool:
    """Whether a ``runtimeVersion`` names a TensorFlow 1.x runtime (``1.0`` to ``1.15``)."""
    return runtime_version is not None and bool(_TF1_VERSION.fullmatch(runtime_version.strip()))


def trial_env(runtime_version: str | None, gcs_root: str | None) -> dict[str, str]:
    """The environment a trial needs for the mode: ``TF_HPTUNE_RUNTIME_VERSION`` for a 1.x
    version, ``TF_HPTUNE_GCS_ROOT`` (absolute) for a root; ``{}`` when neither is asked."""
    env: dict[str, str] = {}
    if is_tf1(runtime_version):
        env[RUNTIME_VERSION_ENV] = str(runtime_version).strip()
    if gcs_root:
        env[GCS_ROOT_ENV] = os.path.abspath(gcs_root)
    return env


def local_job_dir(job_dir: str, gcs_root: str | None) -> str:
    """``job_dir`` itself, or for ``gs://B/p`` its place under ``gcs_root``; raises
    ``GcsPathError`` naming ``--gcs-root`` when there is none."""
    if not is_gcs(job_dir):
        return job_dir
    return gcs_local_path(job_dir, os.path.abspath(gcs_root) if gcs_root else None)


def failure_hint(error_text: str) -> str | None:
    """For a failed trial's log tail that fails the way 1.x code fails on TensorFlow 2 (no
    ``tf.logging``, no ``tf.contrib``, ``tf.placeholder`` under eager execution, ...), the
    sentence that says so and names the setting; else None (also for the mode's own errors)."""
    match = _TF1_SIGNS.search(error_text)
    if match is None or MODE_NAME in error_text:
        return None
    return (f"The trainer looks like TensorFlow 1.x code ({match.group(0)}): run it in the "
            f"{MODE_NAME} with --runtime-version 1.15 (trainingInput.runtimeVersion: '1.15').")


__all__ = [
    "GCS_ROOT_ENV", "GcsPathError", "MODE_NAME", "RUNTIME_VERSION_ENV", "failure_hint", "is_tf1",
    "local_job_dir", "trial_env",
]
