"""Launchers: local subprocesses (``local``), threads of this process (``inprocess``) and Ray tasks
(``ray``, imported when used)."""
from __future__ import annotations

from tf_hptune.files import make_private_dir
from tf_hptune.launch.base import UNKNOWN_EXIT, Launcher, TrialHandle, TrialRequest
from tf_hptune.launch.local import LocalHandle, LocalLauncher, pid_alive
from tf_hptune.launch.request import LaunchConfig, build_request, relocate, tf_config

__all__ = [
    "UNKNOWN_EXIT",
    "LaunchConfig",
    "Launcher",
    "LocalHandle",
    "LocalLauncher",
    "TrialHandle",
    "TrialRequest",
    "build_request",
    "make_private_dir",
    "pid_alive",
    "relocate",
    "tf_config",
]
