"""``tune()``: the notebook entry point. A job like the CLI's, whose trials call a function.

``tune(train_fn, spec, job_name=...)`` records the job and runs it through the lifecycle the
CLI uses (``tf_hptune.jobs``): the same store, names, ``resumePreviousJobId``, learning from
earlier jobs and early stopping. Each trial runs ``python -m tf_hptune.train_fn`` in a fresh
process by default, or in a thread of this one with ``in_process=True``
(``tf_hptune.launch.inprocess``).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tf_hptune import jobs
from tf_hptune.channel import CONTROL_DIR_NAME
from tf_hptune.display import LiveDisplay, TableView
from tf_hptune.errors import UsageError
from tf_hptune.launch import LaunchConfig, Launcher, make_private_dir
from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.store import JobRecord, State, Store, TrialRecord, check_job_name, open_store
from tf_hptune.study import has_metric, sort_best_first
from tf_hptune.train_fn import dump_function, register_local
from tf_hptune.tuner import claim_job_dir

RUNNER = "tf_hptune.train_fn"
PAYLOAD_NAME = "train_fn.pkl"  # in the job's control dir
JOBS_DIR = "tf_hptune_jobs"  # the default parent of job dirs, in the working directory


class TuneJob:
    """A job as ``tune()`` returns it: a view of the store, read afresh at each access."""

    def __init__(self, store: Store, name: str) -> None:
        self.store, self.name = store, name

    @property
    def record(self) -> JobRecord:
        return self.store.get_job(self.name)

    @property
    def state(self) -> State:
        return self.record.state

    @property
    def job_dir(self) -> str | None:
        """Where the trials write (``<job_dir>/<trial id>``); ``tensorboard --logdir`` it."""
        return self.record.launch.get("job_dir")

    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial, in id order."""
        return self.store.list_trials(self.name)

    @property
    def best_trial(self) -> TrialRecord | None:
        """The best SUCCEEDED trial by the job's goal (as ``Study.best_trial``)."""
        done = [t for t in self.trials if t.state is State.SUCCEEDED and has_metric(t)]
        goal = load_spec(self.record.config).goal
        return sort_best_first(done, goal)[0] if done else None

    def describe(self) -> dict[str, Any]:
        """The job as the service showed it (``tf-hptune jobs describe``)."""
        return jobs.describe(self.store, self.name)

    def to_dataframe(self) -> Any:
        """One row per trial, best first: ``trial_id``, a column per parameter, ``metric``,
        ``step``, ``state``, ``stopped_early``, ``best_so_far``. A pandas DataFrame when pandas
        is installed, else a list of dicts."""
        from tf_hptune.views.table import summary_rows

        rows = [{"trial_id": r["trial_id"], **r["params"],
                 **{k: v for k, v in r.items() if k not in ("trial_id", "params")}}
                for r in summary_rows(self.record, self.trials)]
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows)

    def plot(self, path: str | os.PathLike[str] | None = None) -> Any:
        """The optimization history, the learning curves and the metric against each
        parameter, as a matplotlib Figure (also saved to ``path``); needs matplotlib."""
        from tf_hptune.views.plot import plot_job

        return plot_job(self.record, self.trials, path)

    def _repr_html_(self) -> str:
        return TableView(self.record, self.trials)._repr_html_()

    def __repr__(self) -> str:
        best = self.best_trial
        shown = "none" if best is None else f"trial {best.trial_id} = {best.final_value:.6g}"
        return (f"TuneJob({self.name!r}, {self.state.value}, {len(self.trials)} trials, "
                f"best: {shown})")


def load_job(name: str, store: Store | str | os.PathLike[str] | None = None) -> TuneJob:
    """An existing job of ``store`` (default: the CLI's default store) as a ``TuneJob``."""
    store = store if isinstance(store, Store) else open_store(store)
    store.get_job(name)  # JobNotFoundError names the store
    return TuneJob(store, name)


def tune(
    train_fn: Callable[..., Any],
    spec: StudySpec | Mapping[str, Any] | str | os.PathLike[str],
    *,
    job_name: str,
    store: Store | str | os.PathLike[str] | None = None,
    job_dir: str | os.PathLike[str] | None = None,
    in_process: bool = False,
    resume: bool = False,
    seed: int | None = None,
    grace: float = 10.0,
    trial_timeout: float | None = None,
    poll_interval: float = 0.5,
    display: bool | None = None,
) -> TuneJob:
    """Tune ``train_fn(params, context)`` over ``spec`` (a config file, a dict or a
    ``StudySpec``, as ``tf-hptune jobs submit training --config``) as job ``job_name``.

    ``train_fn`` trains with ``params`` (name to typed value) and either returns its final
    metric or reports it: ``context.report(value, step)``, ``tf_hptune.keras.ReportCallback``,
    the Estimator hooks or ``tf_hptune.report_metric``; ``context.should_stop()`` says when the
    tuner stops the trial early. Each trial runs in a fresh process unless ``in_process``; a
    function that such a process cannot import or unpickle is a ``UsageError`` saying why.

    The job lives in ``store`` (default: the CLI's, so ``tf-hptune jobs describe`` shows it),
    its trials write under ``job_dir`` (default ``./tf_hptune_jobs/<job_name>``). Job names are
    unique in a store: ``resume=True`` continues a job of that name whose tuner stopped, and
    returns one that has ended as it is. ``display``: the live table in a notebook, the
    progress line elsewhere (None: on; False: off). Ctrl-C or the notebook's stop button
    cancels the job (running trials get ``grace`` seconds, a second interrupt kills them) and
    raises ``KeyboardInterrupt``; ``load_job`` still shows it.
    """
    check_job_name(job_name)
    store = store if isinstance(store, Store) else open_store(store)
    ref = _launch_ref(train_fn, in_process)
    existing = _existing(store, job_name, resume)
    if existing is not None and existing.state.is_final:
        return TuneJob(store, job_name)
    if existing is not None:
        launch = LaunchConfig.from_dict(existing.launch)
    else:
        spec = load_spec(spec)  # a bad config is refused before anything is written
        root = Path(job_dir) if job_dir is not None else Path.cwd() / JOBS_DIR / job_name
        launch = LaunchConfig(RUNNER, str(Path(__file__).resolve().parent), str(root.resolve()))
    claim_job_dir(launch.job_dir, job_name)  # refuses another job's directory
    launch = LaunchConfig(launch.module, launch.package_path, launch.job_dir,
                          user_args=("--train-fn", _write_ref(ref, launch.job_dir)),
                          python=launch.python)
    if existing is None:
        jobs.submit(spec, store, job_name, launch, seed=seed)
    view = LiveDisplay(store, job_name) if display is not False else None
    launcher: Launcher | None = None
    if in_process:
        from tf_hptune.launch.inprocess import InProcessLauncher

        launcher = InProcessLauncher()
    try:
        jobs.run(store, job_name,
                 jobs.RunOptions(poll_interval=poll_interval, grace=grace,
                                 trial_timeout=trial_timeout, seed=seed),
                 launch=launch, launcher=launcher,
                 on_progress=view.progress if view else None,
                 on_poll=view.poll if view else None)
    finally:
        if view is not None:
            view.close()
    job = TuneJob(store, job_name)
    if job.state is State.CANCELLED:
        raise KeyboardInterrupt(f"job {job_name} was cancelled; "
                                f"tf_hptune.notebook.load_job({job_name!r}) shows it")
    return job


def _existing(store: Store, name: str, resume: bool) -> JobRecord | None:
    """The stored job of that name, which only ``resume`` may continue."""
    try:
        job = store.get_job(name)
    except KeyError:
        return None
    if resume:
        return job
    if job.state.is_final:
        raise UsageError(f"job {name!r} already ended ({job.state.value}) in store "
                         f"{getattr(store, 'path', store)}: job names are unique in a store. "
                         "Pick a new name (resumePreviousJobId continues its search), or pass "
                         "resume=True to get it back")
    raise UsageError(f"job {name!r} exists and has not ended ({job.state.value}); pass "
                     "resume=True to continue it")


def _launch_ref(train_fn: Callable[..., Any], in_process: bool) -> str | bytes:
    """A ``local:`` key for an in-process job, else the payload for a fresh process."""
    if in_process:
        if not callable(train_fn):
            raise UsageError(f"train_fn must be a function train_fn(params, context), got "
                             f"{type(train_fn).__name__}")
        return register_local(train_fn)
    return dump_function(train_fn)


def _write_ref(ref: str | bytes, job_dir: str) -> str:
    """``--train-fn``'s value: the key, or the payload file written in the job's control
    dir."""
    if isinstance(ref, str):
        return ref
    control = Path(job_dir) / CONTROL_DIR_NAME
    make_private_dir(control)
    path = control / PAYLOAD_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(ref)
    return str(path)


__all__ = ["TuneJob", "load_job", "tune"]
