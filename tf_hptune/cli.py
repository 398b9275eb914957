"""tf-hptune: gcloud's ml-engine jobs commands, run on this machine.

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
from tf_hptune.display import ProgressPrinter, quiet_on_broken_pipe, trial_text
from tf_hptune.errors import JobNameError, SpecError, TfHptuneError, UsageError
from tf_hptune.launch import LaunchConfig
from tf_hptune.logs import LogFollower
from tf_hptune.results import rfc3339, trial_resource
from tf_hptune.spec import StudySpec, load_spec, spec_to_dict
from tf_hptune.stopping import DEFAULT_STOPPER, STOPPERS
from tf_hptune.store import JobRecord, State, Store, TrialRecord, check_job_name, open_store
from tf_hptune.study import Study, has_metric, sort_best_first
from tf_hptune.version import __version__
from tf_hptune.views.table import format_table

PROG = "tf-hptune"


# -- output helpers ------------------------------------------------------------------------
def _dump(obj: Any, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        out.write(json.dumps(obj, indent=2) + "\n")
    else:
        out.write(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=1000))


def _say(args: argparse.Namespace, text: str) -> None:
    """A line for people: on stdout, or on stderr when stdout carries ``--format json``."""
    print(text, file=sys.stderr if getattr(args, "format", None) == "json" else sys.stdout)


# -- commands ------------------------------------------------------------------------------
def _store(args: argparse.Namespace, readonly: bool = False) -> Store:
    """The store of ``--store``; the commands that only read open it read-only (a store on a
    read-only mount works, a missing one is an error and nothing is created)."""
    return open_store(args.store, readonly=readonly)


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
    spec = _with_config_flags(spec, args)
    if spec.ignored_keys:
        print(f"Ignoring trainingInput keys with no local meaning: {', '.join(spec.ignored_keys)}",
              file=sys.stderr)
    ignored = [f"--{flag.replace('_', '-')}" for flag in GCLOUD_ONLY if getattr(args, flag)]
    if ignored:
        print(f"Ignoring flags with no local meaning: {', '.join(ignored)}", file=sys.stderr)
    launch = jobs.launch_config(args.module_name, args.package_path, args.job_dir,
                                args.user_args, dict(spec.training_input), gcs_root=args.gcs_root)
    store = _store(args)
    jobs.submit(spec, store, args.job, launch, seed=args.seed)
    _say(args, f"Job [{args.job}] submitted successfully.")
    if args.stream_logs or args.wait:
        return _run_job(store, args.job, args, launch)
    jobs.start_background(args.store, args.job, launch.job_dir, _options(args))
    _say(args, "Your job is still active. You may view the status of your job with the "
         f"command\n\n  $ {PROG} jobs describe {args.job}\n\nor continue streaming the logs "
         f"with the command\n\n  $ {PROG} jobs stream-logs {args.job}\n")
    _dump({"jobId": args.job, "state": store.get_job(args.job).state.value}, args.format,
          sys.stdout)
    return 0


# flags that stand for trainingInput fields: put in the config, validated as its fields are
CONFIG_FLAGS = {"runtime_version": "runtimeVersion", "gpus": "gpus",
                "trials_per_gpu": "trialsPerGpu", "gpus_per_trial": "gpusPerTrial",
                "cpus_per_trial": "cpusPerTrial", "cpu_affinity": "cpuAffinity",
                "executor": "executor", "ray_address": "rayAddress",
                "retry_lost_trials": "retryLostTrials"}


def _with_config_flags(spec: StudySpec, args: argparse.Namespace) -> StudySpec:
    given = {key: getattr(args, attr) for attr, key in CONFIG_FLAGS.items()
             if getattr(args, attr) is not None}
    if not given:
        return spec
    config = spec_to_dict(spec)
    config["trainingInput"].update(given)
    try:
        return load_spec(config)
    except SpecError as e:
        flag = next((attr for attr, key in CONFIG_FLAGS.items()
                     if e.path == f"trainingInput.{key}" and key in given), None)
        if flag is None:
            raise
        raise UsageError(f"--{flag.replace('_', '-')}: {e.problem} (got {e.value!r})") from None


def _run_job(store: Store, name: str, args: argparse.Namespace,
             launch: LaunchConfig | None = None) -> int:
    """Run (or continue) a job's tuner in this process until the job ends."""
    quiet = getattr(args, "quiet", False)
    printer = ProgressPrinter(sys.stderr, sys.stderr if args.format == "json" else sys.stdout)
    follower = LogFollower()
    tag = store.get_job(name).config["trainingInput"]["hyperparameters"][
        "hyperparameterMetricTag"]

    def stream(paths: dict[str, TrialPaths]) -> None:
        if not args.stream_logs:
            return
        lines = [line for tid, p in sorted(paths.items(), key=lambda kv: int(kv[0]))
                 for line in follower.read(tid, p)]
        if lines:
            printer.line("\n".join(lines))

    def ended(trial: TrialRecord) -> None:
        if not quiet:
            printer.line(trial_text(trial, tag))

    study = jobs.run(store, name, _options(args), launch=launch,
                     on_progress=None if quiet else printer, on_poll=stream, on_trial_end=ended)
    job = store.get_job(name)
    if args.stream_logs:  # what the last trials wrote after the last poll
        job_dir = job.launch["job_dir"]
        for t in study.trials:
            for line in follower.read(t.trial_id, TrialPaths.for_trial(job_dir, t.trial_id),
                                      final=True):
                printer.line(line)
    printer.done()
    _print_outcome(job, study, args)
    return 0 if job.state is State.SUCCEEDED else 1


def _print_outcome(job: JobRecord, study: Study, args: argparse.Namespace) -> None:
    # a cancelled job still shows its best trial, cancelled ones with a metric included
    ranked = sort_best_first([t for t in study.trials if has_metric(t)], study.spec.goal)
    best = study.best_trial or (ranked[0] if ranked else None)
    shown = trial_resource(best) if best is not None else None
    if shown is not None:
        del shown["allMetrics"]
    if args.format == "json":
        _dump({"jobId": job.name, "state": job.state.value, "errorMessage": job.error_message,
               "bestTrial": shown}, "json", sys.stdout)
        return
    print(f"Job [{job.name}] ended: {job.state.value}")
    if job.error_message:
        print(f"errorMessage: {job.error_message}")
    if shown is not None:
        print("Best trial:")
        _dump(shown, "yaml", sys.stdout)


def cmd_resume(args: argparse.Namespace) -> int:
    return _run_job(_store(args), args.job, args)


def cmd_describe(args: argparse.Namespace) -> int:
    if not args.summarize:
        if args.format == "table":
            raise UsageError("--format table needs --summarize")
        _dump(jobs.describe(_store(args, readonly=True), args.job), args.format or "yaml",
              sys.stdout)
        return 0
    summary = jobs.summarize(_store(args, readonly=True), args.job)
    if args.format in ("yaml", "json"):
        _dump(summary, args.format, sys.stdout)
        return 0
    print(f"Job [{summary['jobId']}] {summary['state']}: {summary['goal'].lower()} "
          f"{summary['hyperparameterMetricTag']}, {len(summary['trials'])} trials, best first")
    if summary["trials"]:
        print(format_table(summary["trials"], summary["hyperparameterMetricTag"]))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    try:
        jobs.plot(_store(args, readonly=True), args.job, args.output)
    except ImportError as e:
        print(f"ERROR: ({PROG}) {e}", file=sys.stderr)
        return 1
    print(f"Wrote {args.output}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    listed = jobs.list_jobs(_store(args, readonly=True),
                            states={State(s) for s in args.state or ()},
                            name_prefix=args.name_prefix)
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
        _say(args, f"Cancelling job [{args.job}]: CANCELLING")

    state = jobs.cancel(_store(args), args.job, args.timeout, on_cancelling=cancelling)
    if args.format == "json":
        _dump({"jobId": args.job, "state": state.value}, "json", sys.stdout)
    elif state.is_final:
        print(f"Job [{args.job}]: {state.value}")
    if not state.is_final:
        print(f"Job [{args.job}] is still {state.value}", file=sys.stderr)
        return 1
    return 0 if state is State.CANCELLED else 1


def cmd_stream_logs(args: argparse.Namespace) -> int:
    store = _store(args, readonly=True)
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
# gcloud's submit flags that blog posts and notebooks copy into every command; accepted, and
# said to have no local meaning (--runtime-version has one: the trials' TensorFlow API)
GCLOUD_ONLY = ("region", "scale_tier", "master_machine_type", "staging_bucket", "python_version",
               "labels", "packages")

SUBMIT_EXAMPLES = f"""examples:
  {PROG} jobs submit training babyweight_1 --config hyperparam.yaml \\
      --module-name trainer.task --package-path trainer/ --job-dir out/babyweight_1 \\
      --wait -- --train_examples 20000
  (runs in the foreground: a progress line and one line per trial; each trial's output is in
  out/babyweight_1/tf_hptune/<trial>/stdout.log and stderr.log)

  {PROG} jobs submit training babyweight_2 --config hyperparam.yaml \\
      --module-name trainer.task --package-path trainer/ --job-dir out/babyweight_2
  (runs in the background; follow it with: {PROG} jobs describe babyweight_2)

Without --wait or --stream-logs the tuner runs in the background (gcloud's --async).
--stream-logs runs in the foreground and also prints every line the trials print."""


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="the job store (default: $TF_HPTUNE_HOME/store.db or "
                   "~/.tf_hptune/store.db)")


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("yaml", "json"), default="yaml",
                   help="json: one JSON object on stdout at the end (the other lines go to "
                        "stderr)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trial-timeout", type=float, metavar="SECONDS",
                   help="fail a trial that runs longer than this")
    p.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                   help="time a trial gets between SIGTERM and SIGKILL (default 10)")
    p.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help="seed of the search algorithm")


def _add_output(p: argparse.ArgumentParser, foreground_flag: bool) -> None:
    mode = p.add_mutually_exclusive_group()
    if foreground_flag:
        mode.add_argument("--wait", action="store_true",
                          help="run in the foreground: a progress line and each trial's result "
                               "or error; the trials' output stays in their log files")
        mode.add_argument("--async", dest="run_async", action="store_true",
                          help="return at once, the tuner running in the background (the "
                               "default)")
    mode.add_argument("--stream-logs", action="store_true",
                      help="run in the foreground and also print every line the trials print")


def _parser(sub: Any, name: str, help: str, examples: str = "", **kw: Any
            ) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                          epilog=examples or None,
                          formatter_class=argparse.RawDescriptionHelpFormatter, **kw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Cloud ML Engine's hyperparameter tuning, run on this machine: gcloud's "
                    "ml-engine jobs commands, the same YAML and the same trainer contract.",
        epilog=f"command groups:\n  jobs    submit, describe, list, cancel, resume and follow "
               f"tuning jobs\n\nrun '{PROG} jobs --help' for the commands, "
               f"'{PROG} jobs submit training --help' to start.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    top = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    jobs_parser = _parser(top, "jobs", "submit and manage tuning jobs")
    cmds = jobs_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = _parser(cmds, "submit", "submit a job").add_subparsers(
        dest="kind", required=True, metavar="KIND")
    training = _parser(
        submit, "training", "submit a hyperparameter tuning job", SUBMIT_EXAMPLES,
        usage=f"{PROG} jobs submit training JOB --config F --module-name M --package-path P "
              "--job-dir D [options] -- [trainer args]")
    training.add_argument("job", metavar="JOB")
    training.add_argument("--config", required=True, help="YAML or JSON job config")
    training.add_argument("--module-name", help="the trainer's module, e.g. trainer.task")
    training.add_argument("--package-path", required=True, help="the trainer's package dir")
    training.add_argument("--job-dir", help="where trials write; trial N gets JOB_DIR/N")
    training.add_argument("--runtime-version", metavar="VERSION",
                          help="the service's runtime version; 1.x (e.g. 1.15) runs the trials "
                               "in the TensorFlow 1.x runtime mode")
    training.add_argument("--no-transfer-learning", action="store_true",
                          help="do not learn from similarly named earlier jobs")
    training.add_argument("--early-stopping-rule", choices=sorted(STOPPERS),
                          help="the early-stopping rule (with enableTrialEarlyStopping; "
                               f"default: the config's earlyStoppingRule, else {DEFAULT_STOPPER})")
    gcloud = training.add_argument_group(
        "gcloud flags with no local meaning (accepted, and said to be ignored)")
    for flag in GCLOUD_ONLY:
        gcloud.add_argument(f"--{flag.replace('_', '-')}", metavar="VALUE")
    training.add_argument("--gcs-root", metavar="DIR",
                          help="read and write gs://BUCKET/PATH as DIR/BUCKET/PATH")
    where = training.add_argument_group(
        "where trials run (beyond the service; also trainingInput fields of the config)")
    where.add_argument("--gpus", metavar="LIST|N",
                       help="the GPUs to use, without discovery: N for GPUs 0 to N-1 (0: none), "
                            "or ids as nvidia-smi numbers them, e.g. 1,3 or 2, (default: those "
                            "NVML or nvidia-smi finds, or those of CUDA_VISIBLE_DEVICES)")
    where.add_argument("--trials-per-gpu", type=int, metavar="K",
                       help="run up to K trials on each GPU, with TensorFlow's memory growth "
                            "(default: maxParallelTrials spread over the GPUs)")
    where.add_argument("--gpus-per-trial", type=int, metavar="K",
                       help="give each trial K GPUs that no other running trial shares")
    where.add_argument("--cpus-per-trial", type=int, metavar="N",
                       help="each trial's CPU threads (OMP_NUM_THREADS, TF_NUM_INTRAOP_THREADS, "
                            "TF_NUM_INTEROP_THREADS); 0 sets none (default: the cores shared "
                            "out among the trials running at once; 1 on Ray)")
    where.add_argument("--cpu-affinity", action=argparse.BooleanOptionalAction, default=None,
                       help="pin each trial to cores of its own (default: off)")
    where.add_argument("--executor", choices=("local", "ray"),
                       help="run trials on this machine (local, the default) or as Ray tasks")
    where.add_argument("--ray-address", metavar="ADDR",
                       help="the Ray cluster to use (default: a local Ray started for the job)")
    where.add_argument("--retry-lost-trials", action="store_true", default=None,
                       help="on Ray, start a trial once more when its node or worker is lost")
    _add_store(training)
    _add_format(training)
    _add_output(training, foreground_flag=True)
    _add_run_options(training)
    training.set_defaults(func=cmd_submit)

    resume = _parser(cmds, "resume", "continue a job whose tuner stopped",
                     f"example:\n  {PROG} jobs resume babyweight_1")
    resume.add_argument("job", metavar="JOB")
    resume.add_argument("--quiet", action="store_true", help="no progress or trial lines")
    _add_store(resume)
    _add_format(resume)
    _add_output(resume, foreground_flag=False)
    _add_run_options(resume)
    resume.set_defaults(func=cmd_resume, wait=True)

    describe = _parser(cmds, "describe", "show a job and its trials, as the service did",
                       f"examples:\n  {PROG} jobs describe babyweight_1\n"
                       f"  {PROG} jobs describe babyweight_1 --format json\n"
                       f"  {PROG} jobs describe babyweight_1 --summarize\n"
                       f"  {PROG} jobs describe babyweight_1 --summarize --format json")
    describe.add_argument("job", metavar="JOB")
    describe.add_argument("--summarize", action="store_true",
                          help="one row per trial, best first: trial, params, last metric and "
                               "its step, state, stopped early, best so far (in trial order)")
    describe.add_argument("--format", choices=("yaml", "json", "table"),
                          help="output format (default: yaml; with --summarize, table)")
    _add_store(describe)
    describe.set_defaults(func=cmd_describe)

    plot = cmds.add_parser(
        "plot", help="draw a job's report: history, learning curves, metric by parameter",
        description="Draw a job's report: the optimization history with the best so far, the\n"
                    "learning curves with early-stopped trials marked, and the metric against\n"
                    "each parameter. The file's extension chooses the format (.png, .pdf,\n"
                    ".svg, ...). Needs matplotlib: pip install 'tf-hptune[plot]'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"example:\n  {PROG} jobs plot job_1 -o report.png")
    plot.add_argument("job", metavar="JOB")
    plot.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="the file to write, e.g. report.png")
    _add_store(plot)
    plot.set_defaults(func=cmd_plot)

    lst = cmds.add_parser(
        "list", help="list jobs, newest first", description="List jobs, newest first.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               f"  {PROG} jobs list --state RUNNING\n"
               f"  {PROG} jobs list --name-prefix babyweight_ --state SUCCEEDED "
               "--state FAILED\n"
               f"  {PROG} jobs list --format json")
    lst.add_argument("--state", action="append", choices=[s.value for s in State],
                     type=str.upper, metavar="STATE",
                     help="only jobs in this state (repeat for several): "
                          f"{', '.join(s.value for s in State)}")
    lst.add_argument("--name-prefix", default="", metavar="PREFIX",
                     help="only jobs whose name starts with PREFIX")
    lst.add_argument("--format", choices=("table", "yaml", "json"), default="table")
    _add_store(lst)
    lst.set_defaults(func=cmd_list)

    cancel = _parser(cmds, "cancel", "cancel a running job",
                     f"example:\n  {PROG} jobs cancel babyweight_1")
    cancel.add_argument("job", metavar="JOB")
    cancel.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    _add_store(cancel)
    _add_format(cancel)
    cancel.set_defaults(func=cmd_cancel)

    logs = _parser(cmds, "stream-logs", "print trial logs, following a running job",
                   f"examples:\n  {PROG} jobs stream-logs babyweight_1\n"
                   f"  {PROG} jobs stream-logs babyweight_1 --no-follow | tail")
    logs.add_argument("job", metavar="JOB")
    logs.add_argument("--no-follow", dest="follow", action="store_false",
                      help="print what is there and return")
    logs.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    _add_store(logs)
    logs.set_defaults(func=cmd_stream_logs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 only when the command did what it said)."""
    return quiet_on_broken_pipe(lambda: _main(argv))  # type: ignore[return-value]


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    user_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, user_args = argv[:cut], argv[cut + 1:]
    parser = build_parser()
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    args.user_args = user_args
    if user_args and getattr(args, "func", None) is not cmd_submit:
        parser.error("arguments after -- are only for 'jobs submit training'")
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
