"""The runtime mode inside a trial process. Loaded by the observe hook, never by the tuner.

``install(hook)`` reads the environment that ``tf_hptune.runtime.trial_env`` made: the gs://
map (``TF_HPTUNE_GCS_ROOT``; without it gs:// paths fail naming ``--gcs-root``) always, the
TensorFlow 1.x mode (``TF_HPTUNE_RUNTIME_VERSION``) when asked. Importing this package imports
no TensorFlow; the patches act when TensorFlow's modules load.
"""
from __future__ import annotations

import os
from typing import Any

from tf_hptune.runtime import GCS_ROOT_ENV, RUNTIME_VERSION_ENV, is_tf1
from tf_hptune.runtime.trial import gcs, v1


def install(hook: Any) -> None:
    """Register the mode with the observe hook module ``hook`` (before TensorFlow loads)."""
    gcs.install(hook, os.environ.get(GCS_ROOT_ENV) or None)
    version = os.environ.get(RUNTIME_VERSION_ENV)
    if is_tf1(version):
        v1.install(hook, str(version))
