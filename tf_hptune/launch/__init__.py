"""Launchers: local subprocesses today; in-process and Ray beside them later."""
from __future__ import annotations

from tf_hptune.launch.base import Launcher, Resources, TrialCommand, TrialHandle
from tf_hptune.launch.command import LaunchConfig, build_command, tf_config
from tf_hptune.launch.local import LocalLauncher, make_private_dir, pid_alive

__all__ = [
    "LaunchConfig",
    "Launcher",
    "LocalLauncher",
    "Resources",
    "TrialCommand",
    "TrialHandle",
    "build_command",
    "make_private_dir",
    "pid_alive",
    "tf_config",
]
