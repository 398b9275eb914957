"""A trial's request: its command and environment, exactly as the service built them (CMLE.md)."""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tf_hptune import runtime
from tf_hptune.channel import TrialPaths
from tf_hptune.launch.base import TrialRequest
from tf_hptune.observe import HOOK_DIR
from tf_hptune.resources import Resources, ResourceSettings
from tf_hptune.spec.model import StudySpec


@dataclass(frozen=True)
class LaunchConfig:
    """How a job's trials are started: ``python -m module user_args --job-dir D/N params``."""

    module: str
    package_path: str
    job_dir: str
    user_args: tuple[str, ...] = ()
    python: str = field(default_factory=lambda: sys.executable)
    runtime_version: str | None = None  # a 1.x version runs the trials in the 1.x mode
    gcs_root: str | None = None  # where gs://BUCKET/path is, as gcs_root/BUCKET/path
    resources: ResourceSettings = field(default_factory=ResourceSettings)
    executor: str = "local"  # or "ray": tf_hptune.launch.ray
    ray_address: str | None = None  # None: a local Ray started for the job
    retry_lost: bool = False  # start a trial once more when its Ray node or worker is lost

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "package_path": self.package_path,
            "job_dir": self.job_dir,
            "user_args": list(self.user_args),
            "python": self.python,
            "runtime_version": self.runtime_version,
            "gcs_root": self.gcs_root,
            "resources": self.resources.to_dict(),
            "executor": self.executor,
            "ray_address": self.ray_address,
            "retry_lost": self.retry_lost,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LaunchConfig":
        return cls(
            module=d["module"],
            package_path=d["package_path"],
            job_dir=d["job_dir"],
            user_args=tuple(d.get("user_args", ())),
            python=d.get("python") or sys.executable,
            runtime_version=d.get("runtime_version"),
            gcs_root=d.get("gcs_root"),
            resources=ResourceSettings.from_dict(d.get("resources") or {}),
            executor=d.get("executor") or "local",
            ray_address=d.get("ray_address"),
            retry_lost=bool(d.get("retry_lost", False)),
        )

    @property
    def cwd(self) -> str:
        """The package path's parent, so that ``-m module`` imports the package."""
        return str(Path(self.package_path).resolve().parent)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


def tf_config(spec: StudySpec, launch: LaunchConfig, trial_id: str) -> dict[str, Any]:
    """A one-node ``master`` cluster (Estimator rejects an empty one) with the trial number."""
    job = dict(spec.training_input)
    job.update(pythonModule=launch.module, args=list(launch.user_args), jobDir=launch.job_dir)
    return {
        "cluster": {"master": [f"localhost:{_free_port()}"]},
        "task": {"type": "master", "index": 0, "trial": trial_id},
        "job": job,
        "environment": "cloud",
    }


def _pythonpath(cwd: str) -> str:
    """tf_hptune.observe's hook first (it records where the trial writes summaries), then the
    trainer's package and this process's own path."""
    return os.pathsep.join(p for p in (str(HOOK_DIR), cwd, os.environ.get("PYTHONPATH")) if p)


def build_request(
    job_name: str,
    trial_id: str,
    params: Mapping[str, Any],
    spec: StudySpec,
    launch: LaunchConfig,
    resources: Resources | None = None,
) -> TrialRequest:
    """Trial ``trial_id`` of ``job_name`` with typed ``params`` (in the spec's order) and the
    environment the service gave a trial."""
    paths = TrialPaths.for_trial(launch.job_dir, trial_id)
    cwd = launch.cwd
    env = {
        "TF_CONFIG": json.dumps(tf_config(spec, launch, trial_id)),
        "CLOUD_ML_TRIAL_ID": trial_id,
        "CLOUD_ML_JOB_ID": job_name,
        "CLOUD_ML_HP_METRIC_TAG": spec.metric_tag,
        "CLOUD_ML_HP_METRIC_FILE": str(paths.metric_file),
        "TF_HPTUNE_CONTROL_DIR": str(paths.control_dir),
        "TF_HPTUNE_PARAMS": json.dumps(dict(params)),
        "TF_HPTUNE_GOAL": spec.goal.value,
        "PYTHONPATH": _pythonpath(cwd),
        "PYTHONUNBUFFERED": "1",
        **runtime.trial_env(launch.runtime_version, launch.gcs_root),
    }
    ordered = {p.name: params[p.name] for p in spec.params}
    return TrialRequest(job_name, trial_id, launch.module, launch.user_args, ordered, env, cwd,
                        paths, resources or Resources())


def relocate(request: TrialRequest, job_root: str | os.PathLike[str], cwd: str) -> TrialRequest:
    """The same trial on the machine that calls this, its files under ``job_root`` (as under
    the job dir) and its package's parent at ``cwd``: the paths in its environment and argv
    follow, ``PYTHONPATH`` and ``TF_CONFIG``'s port are this machine's."""
    paths = TrialPaths.for_trial(job_root, request.trial_id)
    env = dict(request.env)
    config = json.loads(env["TF_CONFIG"])
    config["cluster"] = {"master": [f"localhost:{_free_port()}"]}
    config["job"]["jobDir"] = str(job_root)
    env.update(TF_CONFIG=json.dumps(config), CLOUD_ML_HP_METRIC_FILE=str(paths.metric_file),
               TF_HPTUNE_CONTROL_DIR=str(paths.control_dir), PYTHONPATH=_pythonpath(cwd))
    return dataclasses.replace(request, env=env, cwd=cwd, paths=paths)
