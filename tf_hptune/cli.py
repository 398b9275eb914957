"""``tf-hptune``: gcloud's ``ml-engine jobs`` commands, run on this machine.

Thin: parses arguments, calls the job lifecycle (``tf_hptune.jobs``), formats output. It starts,
signals and inspects no process.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import yaml

from tf_hptune import jobs
from tf_hptune.channel import TrialPaths
from tf_hptune.display import ProgressPrinter
from tf_hptune.errors import JobNameError, SpecError, TfHptuneError, UsageError
from tf_hptune.launch import LaunchConfig
from tf_hptune.logs import LogFollower
from tf_hptune.results import rfc3339, trial_resource
from tf_hptune.spec import load_spec
from tf_hptune.stopping import DEFAULT_STOPPER, STOPPERS
from tf_hptune.store import JobRecord, State, Store, check_job_name, open_store
from tf_hptune.study import Study

PROG = "tf-hptune"


# -- output helpers ------------------------------------------------------------------------
def _dump(obj: Any, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        out.write(json.dumps(obj, indent=2) + "\n")
    else:
        out.write(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=1000))


# -- commands ------------------------------------------------------------------------------
def _store(args: argparse.Namespace) -> Store:
    return open_store(args.store)


def _options(args: argparse.Namespace) -> jobs.RunOptions:
    return jobs.RunOptions(poll_interval=args.poll_interval, grace=args.grace,
                           trial_timeout=args.trial_timeout, seed=args.seed)


def cmd_submit(args: argparse.Namespace) -> int:
    check_job_name(args.job)
    spec = load_spec(args.config)  # nothing runs when the spec is wrong
    if args.no_transfer_learning:
        spec = dataclasses.replace(spec, enable_transfer_learning=False)
    if args.early_stopping_rule:
        spec = dataclasses.replace(spec, early_stopping_rule=args.early_stopping_rule)
    if spec.ignored_keys:
        print(f"Ignoring trainingInput keys with no local meaning: {', '.join(spec.ignored_keys)}",
              file=sys.stderr)
    launch = jobs.launch_config(args.module_name, args.package_path, args.job_dir,
                                args.user_args, dict(spec.training_input))
    store = _store(args)
    jobs.submit(spec, store, args.job, launch, seed=args.seed)
    print(f"Job [{args.job}] submitted successfully.")
    if args.stream_logs:
        return _run_job(store, args.job, args, launch)
    jobs.start_background(args.store, args.job, launch.job_dir, _options(args))
    print("Your job is still active. You may view the status of your job with the command\n\n"
          f"  $ {PROG} jobs describe {args.job}\n\n"
          "or continue streaming the logs with the command\n\n"
          f"  $ {PROG} jobs stream-logs {args.job}\n")
    _dump({"jobId": args.job, "state": store.get_job(args.job).state.value}, "yaml", sys.stdout)
    return 0


def _run_job(store: Store, name: str, args: argparse.Namespace,
             launch: LaunchConfig | None = None) -> int:
    """Run (or continue) a job's tuner in this process until the job ends."""
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

    study = jobs.run(store, name, _options(args), launch=launch,
                     on_progress=None if quiet else printer, on_poll=stream)
    job = store.get_job(name)
    if args.stream_logs:  # what the last trials wrote after the last poll
        job_dir = job.launch["job_dir"]
        for t in study.trials:
            for line in follower.read(t.trial_id, TrialPaths.for_trial(job_dir, t.trial_id),
                                      final=True):
                print(line)
    printer.done()
    _print_outcome(job, study)
    return 0 if job.state is State.SUCCEEDED else 1


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


def cmd_resume(args: argparse.Namespace) -> int:
    return _run_job(_store(args), args.job, args)


def cmd_describe(args: argparse.Namespace) -> int:
    _dump(jobs.describe(_store(args), args.job), args.format, sys.stdout)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    listed = jobs.list_jobs(_store(args))
    if args.format != "table":
        rows = [{"jobId": j.name, "state": j.state.value, "createTime": rfc3339(j.create_time)}
                for j in listed]
        _dump(rows, args.format, sys.stdout)
        return 0
    width = max([len("JOB_ID")] + [len(j.name) for j in listed])
    print(f"{'JOB_ID':<{width}}  {'STATUS':<10}  CREATED")
    for j in listed:
        print(f"{j.name:<{width}}  {j.state.value:<10}  {rfc3339(j.create_time)}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    def cancelling() -> None:
        print(f"Cancelling job [{args.job}]: CANCELLING")

    state = jobs.cancel(_store(args), args.job, args.timeout, on_cancelling=cancelling)
    if not state.is_final:
        print(f"Job [{args.job}] is still {state.value}", file=sys.stderr)
        return 1
    print(f"Job [{args.job}]: {state.value}")
    return 0 if state is State.CANCELLED else 1


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
    training.add_argument("--early-stopping-rule", choices=sorted(STOPPERS),
                          help="the early-stopping rule (with enableTrialEarlyStopping; "
                               f"default: the config's earlyStoppingRule, else {DEFAULT_STOPPER})")
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
