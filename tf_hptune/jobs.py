"""The job lifecycle that the CLI and ``tune()`` share: submit, run in the foreground, start in
the background, resume, cancel, describe, list.

The process handling of jobs lives here: whether a job's tuner still runs, spawning a
background tuner, signalling it, and ending the trials of a job whose tuner is gone.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tf_hptune import runtime
from tf_hptune.channel import CONTROL_DIR_NAME, TrialPaths
from tf_hptune.errors import UsageError
from tf_hptune.launch import (
    LaunchConfig,
    Launcher,
    LocalLauncher,
    build_request,
    make_private_dir,
)
from tf_hptune.launch.local import pid_alive
from tf_hptune.resources import (
    Gpus,
    ResourcePool,
    ResourceSettings,
    cpu_cores,
    discover_gpus,
    plan_cluster,
    plan_pool,
)
from tf_hptune.results import job_resource
from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.store import JobRecord, State, Store, TrialRecord, check_job_name
from tf_hptune.study import Study
from tf_hptune.tuner import Progress, Tuner
from tf_hptune.views.plot import plot_job
from tf_hptune.views.table import summary_rows
from tf_hptune.views.tensorboard import HParamsWriter

CANCELLED_BY_USER = "cancelled by the user"


@dataclass(frozen=True)
class RunOptions:
    """How a tuner runs a job: poll interval and grace (seconds), a per-trial timeout, the
    designer's seed."""

    poll_interval: float = 1.0
    grace: float = 10.0
    trial_timeout: float | None = None
    seed: int | None = None

    def argv(self) -> list[str]:
        """These options as ``jobs resume`` flags (for a background tuner)."""
        out = ["--poll-interval", str(self.poll_interval), "--grace", str(self.grace)]
        if self.trial_timeout is not None:
            out += ["--trial-timeout", str(self.trial_timeout)]
        if self.seed is not None:
            out += ["--seed", str(self.seed)]
        return out


def launch_config(
    module: str | None,
    package_path: str | None,
    job_dir: str | None,
    user_args: Sequence[Any],
    training_input: Mapping[str, Any],
    gcs_root: str | None = None,
) -> LaunchConfig:
    """How the job's trials start. Flags win over the config's ``trainingInput``
    (``pythonModule``, ``jobDir``, ``args``, ``gcsRoot``; ``runtimeVersion``, the resource
    settings and the executor are read from it, the CLI's flags having been put there); a
    gs:// job dir is mapped under the gcs root. What is missing or wrong is a ``UsageError``
    naming the flag."""
    module = module or training_input.get("pythonModule")
    job_dir = job_dir or training_input.get("jobDir")
    args = list(user_args) if user_args else list(training_input.get("args") or [])
    missing = [flag for flag, v in (("--module-name", module), ("--job-dir", job_dir),
                                    ("--package-path", package_path)) if not v]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (and no value in the config file)")
    package = Path(str(package_path))
    if not package.is_dir():
        raise UsageError(f"--package-path {package_path!r} is not a directory")
    if not all(isinstance(a, str) for a in args):
        raise UsageError(f"trainingInput.args must be strings, got {args!r}")
    version = training_input.get("runtimeVersion")
    gcs_root = gcs_root or training_input.get("gcsRoot")
    gcs_root = str(Path(gcs_root).resolve()) if gcs_root else None
    try:
        job_dir = runtime.local_job_dir(str(job_dir), gcs_root)
    except runtime.GcsPathError as e:
        raise UsageError(f"--job-dir {e}") from None
    executor = training_input.get("executor") or "local"
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise UsageError("--executor ray needs Ray: pip install 'tf-hptune[ray]'")
    launch = LaunchConfig(module=str(module), package_path=str(package.resolve()),
                          job_dir=str(Path(str(job_dir)).resolve()), user_args=tuple(args),
                          runtime_version=None if version is None else str(version),
                          gcs_root=gcs_root,
                          resources=ResourceSettings.from_config(training_input),
                          executor=executor, ray_address=training_input.get("rayAddress"),
                          retry_lost=bool(training_input.get("retryLostTrials", False)))
    _check_module(launch)
    return launch


def _check_module(launch: LaunchConfig) -> None:
    """``python -m module`` must find the module under the package path's parent (the trials'
    working directory); found by its files, without running any of the trainer's code."""
    parts = launch.module.split(".")
    base = Path(launch.cwd).joinpath(*parts)
    if not all(p.isidentifier() for p in parts):
        raise UsageError(f"--module-name {launch.module!r} is not a Python module name")
    if base.with_suffix(".py").is_file() or (base / "__main__.py").is_file():
        return
    package = Path(launch.package_path)
    found = sorted(f"{package.name}.{p.relative_to(package).with_suffix('').as_posix()}"
                   .replace("/", ".") for p in package.rglob("*.py")
                   if p.name != "__init__.py")
    close = difflib.get_close_matches(launch.module, found, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else (
        f"; modules there: {', '.join(found[:8])}" if found else "")
    raise UsageError(f"--module-name {launch.module!r}: no {base.relative_to(launch.cwd)}.py "
                     f"under {launch.cwd} (the parent of --package-path){hint}")


def submit(spec: StudySpec, store: Store, name: str, launch: LaunchConfig,
           seed: int | None = None) -> Study:
    """Record a new job (nothing runs); everything is validated first."""
    check_job_name(name)
    # settings this machine cannot meet fail before the job exists (a Ray cluster's
    # resources are known only when the job runs)
    if launch.executor == "local":
        _local_pool(launch, spec.max_parallel_trials)
    return Study.create(spec, store=store, name=name, launch=launch.to_dict(), seed=seed)


def tuner_alive(job: JobRecord) -> bool:
    """Whether the job's recorded tuner process still runs (guards against a reused pid)."""
    pid = job.tuner_pid
    if not pid or pid == os.getpid() or not pid_alive(pid):
        return False
    try:
        return b"hptune" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def run(
    store: Store,
    name: str,
    options: RunOptions = RunOptions(),
    *,
    launch: LaunchConfig | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_poll: Callable[[dict[str, TrialPaths]], None] | None = None,
    on_trial_end: Callable[[TrialRecord], None] | None = None,
) -> Study:
    """Run (or continue: ``resume``) job ``name``'s tuner in this process until the job ends;
    SIGINT and SIGTERM cancel it. Returns the job's study."""
    job = store.get_job(name)
    if job.state.is_final:
        raise UsageError(f"job {name!r} has already ended: {job.state.value}")
    if tuner_alive(job):
        raise UsageError(f"job {name!r} is still run by tuner process {job.tuner_pid}")
    study = Study.load(store, name, seed=options.seed)
    launch = launch or LaunchConfig.from_dict(job.launch)
    launcher, pool = executor(launch, study.spec.max_parallel_trials)
    tuner = Tuner(study, launch, launcher=launcher, pool=pool,
                  poll_interval=options.poll_interval, grace=options.grace,
                  trial_timeout=options.trial_timeout, on_progress=on_progress, on_poll=on_poll,
                  on_trial_end=on_trial_end)
    tuner.install_signal_handlers()
    try:
        tuner.run()
    finally:
        launcher.close()
    return study


def executor(launch: LaunchConfig, parallel: int) -> tuple[Launcher, ResourcePool]:
    """The launcher of ``launch.executor`` and the pool of resources its trials share: this
    machine's GPUs (``--gpus``, else discovered) and cores, or what Ray's cluster offers. A
    setting that cannot be met is a ``UsageError``."""
    if launch.executor != "ray":
        return LocalLauncher(launch.python), _local_pool(launch, parallel)
    from tf_hptune.launch.ray import RayLauncher

    launcher = RayLauncher(address=launch.ray_address, retry_lost=launch.retry_lost)
    try:
        return launcher, plan_cluster(launch.resources, parallel, launcher.cluster_gpus())
    except ValueError as e:
        launcher.close()
        raise UsageError(str(e)) from None


def _local_pool(launch: LaunchConfig, parallel: int) -> ResourcePool:
    settings = launch.resources
    gpus = discover_gpus() if settings.gpus is None else Gpus(settings.gpus)
    try:
        return plan_pool(settings, parallel, gpus, cpu_cores())
    except ValueError as e:
        raise UsageError(str(e)) from None


resume = run


def start_background(store_path: str | os.PathLike[str] | None, name: str, job_dir: str,
                     options: RunOptions = RunOptions()) -> int:
    """Run job ``name``'s tuner detached (its own session), logging to
    ``<job_dir>/tf_hptune/tuner.log``; returns its pid."""
    argv = [sys.executable, "-m", "tf_hptune.cli", "jobs", "resume", name, "--quiet",
            *options.argv()]
    if store_path:
        argv += ["--store", str(store_path)]
    control = Path(job_dir) / CONTROL_DIR_NAME
    make_private_dir(control)
    fd = os.open(control / "tuner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                start_new_session=True, close_fds=True)
    finally:
        os.close(fd)
    return proc.pid


def cancel(store: Store, name: str, timeout: float = 120.0,
           on_cancelling: Callable[[], None] | None = None) -> State:
    """Cancel job ``name``. A live tuner is asked to cancel its own job (SIGTERM) and waited
    for up to ``timeout`` seconds; the job's state then is returned. Without a tuner (it
    crashed or never started) this process kills the job's trials and ends it CANCELLED."""
    job = store.get_job(name)
    if job.state.is_final:
        raise UsageError(f"job {name!r} has already ended: {job.state.value}")
    if tuner_alive(job):
        assert job.tuner_pid is not None
        os.kill(job.tuner_pid, signal.SIGTERM)
        if on_cancelling:
            on_cancelling()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = store.get_job(name).state
            if state.is_final:
                return state
            time.sleep(0.2)
        return store.get_job(name).state
    study = Study.load(store, name)
    study.set_cancelling()
    launch = LaunchConfig.from_dict(job.launch) if job.launch else None
    launcher = LocalLauncher(launch.python) if launch else None
    for t in study.trials:
        if t.state.is_final:
            continue
        if t.pid and launch and launcher:
            handle = launcher.adopt(build_request(name, t.trial_id, t.params, study.spec,
                                                  launch), t.pid)
            if handle is not None:
                launcher.kill(handle)
        study.fail(t.trial_id, CANCELLED_BY_USER, state=State.CANCELLED)
    study.finish(State.CANCELLED)
    if launch:
        HParamsWriter(launch.job_dir, study.spec, name).update(study.trials)
    return State.CANCELLED


def describe(store: Store, name: str) -> dict[str, Any]:
    """The job as the service showed it (``results.job_resource``)."""
    return job_resource(store.get_job(name), store.list_trials(name))


def summarize(store: Store, name: str) -> dict[str, Any]:
    """The job's id, state, metric tag and goal, and its trials as ``views.table.summary_rows``
    (best first)."""
    job = store.get_job(name)
    spec = load_spec(job.config)
    return {"jobId": job.name, "state": job.state.value,
            "hyperparameterMetricTag": spec.metric_tag, "goal": spec.goal.value,
            "trials": summary_rows(job, store.list_trials(name))}


def plot(store: Store, name: str, path: str | os.PathLike[str]) -> Any:
    """Write job ``name``'s report figure (``views.plot.plot_job``) to ``path``; returns the
    figure."""
    return plot_job(store.get_job(name), store.list_trials(name), path)


def list_jobs(store: Store, states: Collection[State] = (), name_prefix: str = ""
              ) -> list[JobRecord]:
    """The store's jobs, newest first (as gcloud listed them): those in one of ``states``
    (any state when empty) whose name starts with ``name_prefix``."""
    return [j for j in reversed(store.list_jobs())
            if (not states or j.state in states) and j.name.startswith(name_prefix)]


__all__ = ["CANCELLED_BY_USER", "RunOptions", "cancel", "describe", "executor", "launch_config",
           "list_jobs", "plot", "resume", "run", "start_background", "submit", "summarize",
           "tuner_alive"]
