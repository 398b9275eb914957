"""``tf-hptune``: gcloud's ``ml-engine jobs`` commands, run on this machine.

Thin: parses, calls the public API (Study, Tuner, Store), formats output.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from tf_hptune import runtime
from tf_hptune.channel import CONTROL_DIR_NAME, TrialPaths
from tf_hptune.errors import JobNameError, SpecError, TfHptuneError
from tf_hptune.launch import LaunchConfig, make_private_dir, pid_alive
from tf_hptune.logs import LogFollower
from tf_hptune.results import job_resource, trial_resource
from tf_hptune.spec import load_spec
from tf_hptune.store import JobRecord, State, Store, check_job_name, open_store
from tf_hptune.study import Study
from tf_hptune.tuner import Progress, Tuner

PROG = "tf-hptune"


class UsageError(TfHptuneError):
    """Bad command-line input (exit status 2)."""


# -- output helpers ------------------------------------------------------------------------
def _dump(obj: Any, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        out.write(json.dumps(obj, indent=2) + "\n")
    else:
        out.write(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=1000))


def _best_line(p: Progress) -> str:
    if p.best is None:
        return "best: none yet"
    params = " ".join(f"{k}={v}" for k, v in p.best.params.items())
    return (f"best {p.metric_tag}={p.best.final_value:.6g} (trial {p.best.trial_id}: {params})")


class ProgressPrinter:
    """The live progress line: rewritten in place on a terminal, one line per change else."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.text = ""

    def __call__(self, p: Progress) -> None:
        self.text = (f"[{p.job_name}] {p.done + p.failed}/{p.max_trials} done, {p.running} "
                     f"running, {p.failed} failed; {_best_line(p)}")
        self.draw()

    def draw(self) -> None:
        if self.text:
            self.stream.write(f"\r\x1b[K{self.text}" if self.tty else self.text + "\n")
            self.stream.flush()

    def clear(self) -> None:
        if self.tty and self.text:
            self.stream.write("\r\x1b[K")

    def done(self) -> None:
        if self.tty and self.text:
            self.stream.write("\n")
            self.stream.flush()


# -- commands ------------------------------------------------------------------------------
def _store(args: argparse.Namespace) -> Store:
    return open_store(args.store)


def _launch_config(args: argparse.Namespace, training_input: dict[str, Any]) -> LaunchConfig:
    """Flags win over the config's ``trainingInput`` (``pythonModule``, ``jobDir``, ``args``,
    ``runtimeVersion``, ``gcsRoot``); a gs:// job dir is mapped under the gcs root."""
    module = args.module_name or training_input.get("pythonModule")
    job_dir = args.job_dir or training_input.get("jobDir")
    user_args = args.user_args if args.user_args else list(training_input.get("args") or [])
    missing = [flag for flag, v in (("--module-name", module), ("--job-dir", job_dir),
                                    ("--package-path", args.package_path)) if not v]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (and no value in the config file)")
    package = Path(args.package_path)
    if not package.is_dir():
        raise UsageError(f"--package-path {args.package_path!r} is not a directory")
    if not all(isinstance(a, str) for a in user_args):
        raise UsageError(f"trainingInput.args must be strings, got {user_args!r}")
    version = args.runtime_version or training_input.get("runtimeVersion")
    gcs_root = args.gcs_root or training_input.get("gcsRoot")
    gcs_root = str(Path(gcs_root).resolve()) if gcs_root else None
    try:
        job_dir = runtime.local_job_dir(str(job_dir), gcs_root)
    except runtime.GcsPathError as e:
        raise UsageError(f"--job-dir {e}") from None
    return LaunchConfig(module=str(module), package_path=str(package.resolve()),
                        job_dir=str(Path(job_dir).resolve()), user_args=tuple(user_args),
                        runtime_version=None if version is None else str(version),
                        gcs_root=gcs_root)


def cmd_submit(args: argparse.Namespace) -> int:
    check_job_name(args.job)
    spec = load_spec(args.config)  # nothing runs when the spec is wrong
    if args.no_transfer_learning:
        spec = dataclasses.replace(spec, enable_transfer_learning=False)
    if spec.ignored_keys:
        print(f"Ignoring trainingInput keys with no local meaning: {', '.join(spec.ignored_keys)}",
              file=sys.stderr)
    launch = _launch_config(args, dict(spec.training_input))
    store = _store(args)
    Study(spec, store=store, name=args.job, launch=launch.to_dict())
    print(f"Job [{args.job}] submitted successfully.")
    if args.stream_logs:
        return _run_job(store, args.job, args, launch)
    _spawn_background_tuner(store, args, launch)
    print("Your job is still active. You may view the status of your job with the command\n\n"
          f"  $ {PROG} jobs describe {args.job}\n\n"
          "or continue streaming the logs with the command\n\n"
          f"  $ {PROG} jobs stream-logs {args.job}\n")
    _dump({"jobId": args.job, "state": store.get_job(args.job).state.value}, "yaml", sys.stdout)
    return 0


def _tuner_argv(args: argparse.Namespace) -> list[str]:
    argv = [sys.executable, "-m", "tf_hptune.cli", "jobs", "resume", args.job,
            "--quiet", "--poll-interval", str(args.poll_interval), "--grace", str(args.grace)]
    if args.store:
        argv += ["--store", str(args.store)]
    if args.trial_timeout is not None:
        argv += ["--trial-timeout", str(args.trial_timeout)]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    return argv


def _spawn_background_tuner(store: Store, args: argparse.Namespace, launch: LaunchConfig) -> None:
    """Run the job's tuner detached (its own session), logging to the job dir."""
    control = Path(launch.job_dir) / CONTROL_DIR_NAME
    make_private_dir(control)
    fd = os.open(control / "tuner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        subprocess.Popen(_tuner_argv(args), stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                         start_new_session=True, close_fds=True)
    finally:
        os.close(fd)


def _run_job(store: Store, name: str, args: argparse.Namespace,
             launch: LaunchConfig | None = None) -> int:
    """Run (or continue) a job's tuner in this process until the job ends."""
    job = store.get_job(name)
    if job.state.is_final:
        raise UsageError(f"job {name!r} has already ended: {job.state.value}")
    if job.tuner_pid and job.tuner_pid != os.getpid() and _is_tuner(job.tuner_pid):
        raise UsageError(f"job {name!r} is still run by tuner process {job.tuner_pid}")
    study = Study.load(store, name, seed=args.seed)
    launch = launch or LaunchConfig.from_dict(job.launch)
    quiet = getattr(args, "quiet", False)
    printer = ProgressPrinter(sys.stderr)
    follower = LogFollower()

    def stream(paths: dict[str, TrialPaths]) -> None:
        if not args.stream_logs:
            return
        lines = [line for tid, p in sorted(paths.items(), key=lambda kv: int(kv[0]))
                 for line in follower.read(tid, p)]
        if lines:
            printer.clear()
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
            if printer.tty:
                printer.draw()

    tuner = Tuner(study, launch, poll_interval=args.poll_interval, grace=args.grace,
                  trial_timeout=args.trial_timeout,
                  on_progress=None if quiet else printer,
                  on_poll=stream)
    tuner.install_signal_handlers()
    state = tuner.run()
    if args.stream_logs:  # what the last trials wrote after the last poll
        for t in study.trials:
            for line in follower.read(t.trial_id, TrialPaths.for_trial(launch.job_dir,
                                                                       t.trial_id), final=True):
                print(line)
    printer.done()
    _print_outcome(store.get_job(name), study)
    return 0 if state is State.SUCCEEDED else 1


def _print_outcome(job: JobRecord, study: Study) -> None:
    print(f"Job [{job.name}] ended: {job.state.value}")
    if job.error_message:
        print(f"errorMessage: {job.error_message}")
    best = study.best_trial
    if best is not None:
        print("Best trial:")
        shown = trial_resource(best)
        del shown["allMetrics"]
        _dump(shown, "yaml", sys.stdout)


def _is_tuner(pid: int) -> bool:
    """Whether ``pid`` is a live tf-hptune process (guards against a reused pid)."""
    if not pid_alive(pid):
        return False
    try:
        return b"hptune" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def cmd_resume(args: argparse.Namespace) -> int:
    return _run_job(_store(args), args.job, args)


def cmd_describe(args: argparse.Namespace) -> int:
    store = _store(args)
    job = store.get_job(args.job)
    _dump(job_resource(job, store.list_trials(args.job)), args.format, sys.stdout)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    jobs = _store(args).list_jobs()
    if args.format != "table":
        rows = [{"jobId": j.name, "state": j.state.value,
                 "createTime": job_resource(j, [])["createTime"]} for j in jobs]
        _dump(rows, args.format, sys.stdout)
        return 0
    width = max([len("JOB_ID")] + [len(j.name) for j in jobs])
    print(f"{'JOB_ID':<{width}}  {'STATUS':<10}  CREATED")
    for j in reversed(jobs):  # newest first, as gcloud listed them
        print(f"{j.name:<{width}}  {j.state.value:<10}  {job_resource(j, [])['createTime']}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    store = _store(args)
    job = store.get_job(args.job)
    if job.state.is_final:
        raise UsageError(f"job {args.job!r} has already ended: {job.state.value}")
    if job.tuner_pid and _is_tuner(job.tuner_pid):
        os.kill(job.tuner_pid, signal.SIGTERM)  # the tuner cancels its own job
        print(f"Cancelling job [{args.job}]: CANCELLING")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            state = store.get_job(args.job).state
            if state.is_final:
                print(f"Job [{args.job}]: {state.value}")
                return 0 if state is State.CANCELLED else 1
            time.sleep(0.2)
        print(f"Job [{args.job}] is still {store.get_job(args.job).state.value}", file=sys.stderr)
        return 1
    # No tuner runs this job (it crashed or never started): this process ends it.
    study = Study.load(store, args.job)
    for t in study.trials:
        if not t.state.is_final:
            if t.pid and pid_alive(t.pid):
                try:
                    os.killpg(t.pid, signal.SIGKILL)
                except OSError:
                    pass
            study.fail(t.trial_id, "cancelled by the user", state=State.CANCELLED)
    study.finish(State.CANCELLED)
    print(f"Job [{args.job}]: CANCELLED")
    return 0


def cmd_stream_logs(args: argparse.Namespace) -> int:
    store = _store(args)
    job = store.get_job(args.job)
    if not job.launch:
        raise UsageError(f"job {args.job!r} has no trials to show logs of")
    job_dir = job.launch["job_dir"]
    follower = LogFollower()
    while True:
        final = store.get_job(args.job).state.is_final or not args.follow
        for t in store.list_trials(args.job):
            for line in follower.read(t.trial_id, TrialPaths.for_trial(job_dir, t.trial_id),
                                      final=final):
                print(line, flush=True)
        if final:
            return 0
        time.sleep(args.poll_interval)


# -- parsing -------------------------------------------------------------------------------
def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="the job store (default: $TF_HPTUNE_HOME/store.db or "
                   "~/.tf_hptune/store.db)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stream-logs", action="store_true",
                   help="run the job in the foreground, streaming trial logs and progress")
    p.add_argument("--trial-timeout", type=float, metavar="SECONDS",
                   help="fail a trial that runs longer than this")
    p.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                   help="time a trial gets between SIGTERM and SIGKILL (default 10)")
    p.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help="seed of the search algorithm")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    top = parser.add_subparsers(dest="group", required=True)
    jobs = top.add_parser("jobs", help="submit and manage tuning jobs").add_subparsers(
        dest="command", required=True)

    submit = jobs.add_parser("submit", help="submit a job").add_subparsers(
        dest="kind", required=True)
    training = submit.add_parser(
        "training", help="submit a hyperparameter tuning job",
        usage=f"{PROG} jobs submit training JOB --config F --module-name M --package-path P "
              "--job-dir D [options] -- [trainer args]")
    training.add_argument("job", metavar="JOB")
    training.add_argument("--config", required=True, help="YAML or JSON job config")
    training.add_argument("--module-name", help="the trainer's module, e.g. trainer.task")
    training.add_argument("--package-path", required=True, help="the trainer's package dir")
    training.add_argument("--job-dir", help="where trials write; trial N gets JOB_DIR/N")
    training.add_argument("--no-transfer-learning", action="store_true",
                          help="do not learn from similarly named earlier jobs")
    training.add_argument("--runtime-version", help="1.x (e.g. 1.15): run the trials in the "
                          "TensorFlow 1.x runtime mode")
    training.add_argument("--gcs-root", metavar="DIR",
                          help="read and write gs://BUCKET/PATH as DIR/BUCKET/PATH")
    _add_store(training)
    _add_run_options(training)
    training.set_defaults(func=cmd_submit)

    resume = jobs.add_parser("resume", help="continue a job whose tuner stopped")
    resume.add_argument("job", metavar="JOB")
    resume.add_argument("--quiet", action="store_true", help="no progress line")
    _add_store(resume)
    _add_run_options(resume)
    resume.set_defaults(func=cmd_resume)

    describe = jobs.add_parser("describe", help="show a job and its trials")
    describe.add_argument("job", metavar="JOB")
    describe.add_argument("--format", choices=("yaml", "json"), default="yaml")
    _add_store(describe)
    describe.set_defaults(func=cmd_describe)

    lst = jobs.add_parser("list", help="list jobs")
    lst.add_argument("--format", choices=("table", "yaml", "json"), default="table")
    _add_store(lst)
    lst.set_defaults(func=cmd_list)

    cancel = jobs.add_parser("cancel", help="cancel a running job")
    cancel.add_argument("job", metavar="JOB")
    cancel.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    _add_store(cancel)
    cancel.set_defaults(func=cmd_cancel)

    logs = jobs.add_parser("stream-logs", help="print trial logs, following a running job")
    logs.add_argument("job", metavar="JOB")
    logs.add_argument("--no-follow", dest="follow", action="store_false",
                      help="print what is there and return")
    logs.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    _add_store(logs)
    logs.set_defaults(func=cmd_stream_logs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 only when the command did what it said)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    user_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, user_args = argv[:cut], argv[cut + 1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.user_args = user_args
    if user_args and getattr(args, "func", None) is not cmd_submit:
        parser.error("arguments after -- are only for `jobs submit training`")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (SpecError, JobNameError, UsageError) as e:
        print(f"ERROR: ({PROG}) {e}", file=sys.stderr)
        return 2
    except TfHptuneError as e:
        print(f"ERROR: ({PROG}) {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
