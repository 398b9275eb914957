"""The job lifecycle that the CLI and ``tune()`` share: submit, run in the foreground, start in
the background, resume, cancel, describe, list.

The process handling of jobs lives here: whether a job's tuner still runs (its job dir's
lock), spawning a background tuner, signalling it, and ending the trials of a job whose tuner
is gone.
"""
from __future__ import annotations

import difflib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tf_hptune import runtime
from tf_hptune.channel import CONTROL_DIR_NAME, TrialPaths
from tf_hptune.errors import SpecError, UsageError
from tf_hptune.files import make_private_dir, open_private
from tf_hptune.jobdir import claim_job_dir, lock_holder, mark_job_dir, unmark_job_dir
from tf_hptune.launch import LaunchConfig, Launcher, LocalLauncher, build_request
from tf_hptune.launch.local import ExecProblem, exec_problem
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
from tf_hptune.space import format_value
from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.spec.model import ParamType
from tf_hptune.store import JobRecord, State, Store, TrialRecord, check_job_name
from tf_hptune.study import Study
from tf_hptune.tuner import Progress, Tuner
from tf_hptune.views.plot import plot_job
from tf_hptune.views.table import summary_rows

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
    """Record a new job (nothing runs); everything is validated first: that its trials can be
    started (``check_startable``) and that its job dir can be its own (``jobdir``), which is
    then marked as the job's before the job is recorded."""
    check_job_name(name)
    check_startable(spec, launch, name)
    # settings this machine cannot meet fail before the job exists (a Ray cluster's
    # resources are known only when the job runs)
    if launch.executor == "local":
        _local_pool(launch, spec.max_parallel_trials)
    marked = mark_job_dir(launch.job_dir, name)
    try:
        return Study.create(spec, store=store, name=name, launch=launch.to_dict(), seed=seed)
    except BaseException:
        if marked:
            unmark_job_dir(launch.job_dir, name)
        raise


_LONGEST_ID = "9" * 12  # a trial id as long as any job's


def _longest_values(spec: StudySpec) -> dict[str, Any]:
    """Each parameter's value that prints longest, to size the trials' command lines (a
    DOUBLE's: any 17 significant digits with a 3-digit exponent)."""
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.type is ParamType.CATEGORICAL:
            out[p.name] = max(p.categorical_values, key=len)
        elif p.type is ParamType.DISCRETE:
            out[p.name] = max(p.discrete_values, key=lambda v: len(format_value(v)))
        elif p.type is ParamType.INTEGER:
            out[p.name] = max(int(p.min_value), int(p.max_value),  # type: ignore[arg-type]
                              key=lambda v: len(str(v)))
        else:
            out[p.name] = -1.2345678901234567e-300
    return out


def check_startable(spec: StudySpec, launch: LaunchConfig, name: str) -> None:
    """Refuse (``SpecError`` naming the field) a job whose trials could not be started: a
    command line or an environment over Linux's limits (each trial's ``TF_CONFIG`` carries
    the whole ``trainingInput``; its argv every parameter)."""
    request = build_request(name, _LONGEST_ID, _longest_values(spec), spec, launch)
    problem = exec_problem(*LocalLauncher(launch.python).command(request))
    if problem is None:
        return
    field, size = _culprit(problem, spec, launch)
    what = ("TF_CONFIG (which carries trainingInput)" if problem.item == "TF_CONFIG"
            else problem.what)
    per = (" for one argument or environment variable" if problem.item is not None
           else " (ARG_MAX)")
    raise SpecError(field, SpecError.NO_VALUE, (  # type: ignore[attr-defined]
        f"is {size:,} bytes and makes each trial's {what} {problem.size:,} bytes, over "
        f"Linux's limit of {problem.limit:,}{per}, so every trial would fail with 'Argument "
        "list too long': make it smaller"))


def _culprit(problem: ExecProblem, spec: StudySpec, launch: LaunchConfig) -> tuple[str, int]:
    """The config field (or other input) that makes ``problem``, and its size in bytes."""
    def size(value: Any) -> int:
        return len(json.dumps(value).encode())

    parts: dict[str, int] = {}
    if problem.item in (None, "TF_CONFIG"):  # TF_CONFIG's job is trainingInput
        for key, value in spec.training_input.items():
            if key == "hyperparameters" and isinstance(value, Mapping):
                for sub, inner in value.items():
                    parts[f"trainingInput.hyperparameters.{sub}"] = size(inner)
            else:
                parts[f"trainingInput.{key}"] = size(value)
        parts["the trainer args (after --, or trainingInput.args)"] = size(list(launch.user_args))
    if problem.item is None or problem.item == "TF_HPTUNE_PARAMS" or (
            isinstance(problem.item, int)):
        parts["trainingInput.hyperparameters.params"] = (
            parts.get("trainingInput.hyperparameters.params", 0)
            + sum(len(p.name) + 4 for p in spec.params) + size(_longest_values(spec)))
    if problem.item is None or isinstance(problem.item, int):
        parts["the trainer args (after --, or trainingInput.args)"] = (
            parts.get("the trainer args (after --, or trainingInput.args)", 0)
            + sum(len(a) + 1 for a in launch.user_args))
    if problem.item is None:
        parts["the environment tf-hptune runs in"] = sum(
            len(k) + len(v) + 2 for k, v in os.environ.items())
    if not parts:  # another variable of the environment
        return f"the environment variable {problem.item}", problem.size
    field = max(parts, key=lambda k: parts[k])
    return field, parts[field]


def tuner_holder(job: JobRecord) -> int | None:
    """The pid of the process running the job's tuner (it holds the job dir's lock), or None
    when none runs (this process does not count)."""
    job_dir = (job.launch or {}).get("job_dir")
    return lock_holder(job_dir) if job_dir else None


def tuner_alive(job: JobRecord) -> bool:
    """Whether a tuner process other than this one runs the job."""
    return tuner_holder(job) is not None


def run(
    store: Store,
    name: str,
    options: RunOptions = RunOptions(),
    *,
    launch: LaunchConfig | None = None,
    launcher: Launcher | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_poll: Callable[[dict[str, TrialPaths]], None] | None = None,
    on_trial_end: Callable[[TrialRecord], None] | None = None,
) -> Study:
    """Run (or continue: ``resume``) job ``name``'s tuner in this process until the job ends,
    its trials started by ``launcher`` (default: the job's executor's, local subprocesses or Ray
    tasks); a job left CANCELLING is cancelled. In the main thread, SIGINT, SIGTERM and SIGHUP
    cancel the job while it runs; the earlier handlers come back after. Returns the job's
    study. Another tuner running the job is a ``JobLockedError`` naming its pid."""
    job = store.get_job(name)
    if job.state.is_final:
        raise UsageError(f"job {name!r} has already ended: {job.state.value}")
    launch = launch or LaunchConfig.from_dict(job.launch)
    with claim_job_dir(launch.job_dir, name):  # first: the job is read only once it is ours
        job = store.get_job(name)
        if job.state.is_final:
            raise UsageError(f"job {name!r} has already ended: {job.state.value}")
        study = Study.load(store, name, seed=options.seed)
        pool = None
        if launcher is None:
            launcher, pool = executor(launch, study.spec.max_parallel_trials)
        tuner = Tuner(study, launch, launcher=launcher, pool=pool,
                      poll_interval=options.poll_interval, grace=options.grace,
                      trial_timeout=options.trial_timeout, on_progress=on_progress,
                      on_poll=on_poll, on_trial_end=on_trial_end)
        try:
            if threading.current_thread() is threading.main_thread():
                _run_with_signals(tuner)
            else:
                tuner.run()
        finally:
            launcher.close()
    return study


def _run_with_signals(tuner: Tuner) -> None:
    """``tuner.run()`` with SIGINT, SIGTERM and SIGHUP cancelling its job; the earlier handlers
    come back after (a notebook's stop button works again once the job has ended)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    tuner.install_signal_handlers()
    try:
        tuner.run()
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(signum, handler)


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
    fd = open_private(control / "tuner.log", os.O_WRONLY | os.O_APPEND)
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
    crashed or never started) this process takes the job over as a tuner would, judging the
    trials that ended meanwhile, kills the others at once, and ends it CANCELLED."""
    job = store.get_job(name)
    if job.state.is_final:
        raise UsageError(f"job {name!r} has already ended: {job.state.value}")
    holder = tuner_holder(job)
    if holder is not None:
        os.kill(holder, signal.SIGTERM)
        if on_cancelling:
            on_cancelling()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = store.get_job(name).state
            if state.is_final:
                return state
            time.sleep(0.2)
        return store.get_job(name).state
    if not job.launch:  # a Study driven by hand: no process to end
        study = Study.load(store, name)
        study.set_cancelling()
        for t in study.trials:
            if not t.state.is_final:
                study.fail(t.trial_id, CANCELLED_BY_USER, state=State.CANCELLED)
        study.finish(State.CANCELLED)
        return State.CANCELLED
    launch = LaunchConfig.from_dict(job.launch)
    with claim_job_dir(launch.job_dir, name):
        tuner = Tuner(Study.load(store, name), launch, poll_interval=0.05, grace=0.0)
        tuner.request_cancel()
        tuner.request_cancel(force=True)
        return tuner.run()


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
