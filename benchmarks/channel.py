"""Benchmark of the trial channel (issue 3).

    .venv/bin/python benchmarks/channel.py [--repeat 3]

Runs the real TensorFlow trainers of ``tests/fixtures/tftrial`` as trial subprocesses started
by ``tf_hptune.launch`` and read by ``TrialChannel``, as the tuner does, and prints two tables:

1. Delay from an evaluation being written (the wall time of its summary event) to a
   ``TrialChannel`` polled every ``P`` seconds having the measurement, for an Estimator
   trainer using ``tf_hptune.estimator.train_and_evaluate`` (reports to the measurements file)
   and for one that never imports tf_hptune and writes its model dir outside ``--job-dir``
   (found through ``tf_hptune.observe``). Also the CPU time of one poll.
2. Delay from a stop request to the trial's last report (its final evaluation) and to the
   trial process's exit: with the Estimator hook and the Keras callback (STOP file, clean
   exit 0), and without them (SIGTERM to the process group, no final evaluation).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tftrial"))
sys.path.insert(0, str(ROOT))

from tftrial.testing import Trial, start_trial  # noqa: E402

from tf_hptune.channel import TrialChannel  # noqa: E402
from tf_hptune.channel.events import EventFileReader, is_event_file  # noqa: E402

POLL_INTERVALS = (1.0, 0.1)
TAG = "rmse"


def _eval_write_times(eval_dir: Path) -> dict[int, float]:
    """step -> wall time of each evaluation's summary of the tag."""
    times: dict[int, float] = {}
    for name in sorted(os.listdir(eval_dir)):
        if is_event_file(name):
            for event in EventFileReader(eval_dir / name).read_new():
                if event.tag == TAG:
                    times[event.step] = event.wall_time
    return times


def measurement_delays(work: Path, integration: str) -> dict[str, object]:
    """Poll one trial with a channel per interval; delays (s) per interval and poll costs."""
    args = ["--model", "custom", "--integration", integration, "--train_steps", "2000",
            "--checkpoint_steps", "25"]
    model_dir = work / "job" / "1"
    if integration == "plain":
        args += ["--output_dir", str(work / "elsewhere")]
        model_dir = work / "elsewhere" / "1"
    trial = start_trial(work / "job", "estimator_task", args, TAG)
    channels = {p: TrialChannel(trial.paths, TAG) for p in POLL_INTERVALS}
    seen: dict[float, dict[int, float]] = {p: {} for p in POLL_INTERVALS}
    due = {p: time.monotonic() for p in POLL_INTERVALS}
    costs: list[float] = []

    def poll(interval: float) -> None:
        start = time.process_time()
        measured = channels[interval].measurements()
        if interval == min(POLL_INTERVALS):
            costs.append(time.process_time() - start)
        wall = time.time()
        for step, _ in measured:
            seen[interval].setdefault(step, wall)

    while trial.launcher.poll(trial.handle) is None:
        for interval in POLL_INTERVALS:
            if time.monotonic() >= due[interval]:
                due[interval] += interval
                poll(interval)
        time.sleep(0.002)
    for interval in POLL_INTERVALS:  # the tuner reads once more after the exit
        poll(interval)
    written = _eval_write_times(model_dir / "eval")
    return {
        "evaluations": len(written),
        "delays": {p: [seen[p][s] - t for s, t in written.items()] for p in POLL_INTERVALS},
        "poll_ms": [c * 1000 for c in costs],
        "missed": {p: sorted(set(written) - set(seen[p])) for p in POLL_INTERVALS},
    }


STOP_CASES = {
    "Estimator, tf_hptune hook (STOP file)": (
        "estimator_task", ["--model", "custom", "--integration", "wrapper",
                           "--train_steps", "1000000", "--checkpoint_steps", "50",
                           "--step_sleep", "0.005"], False),
    "Keras, ReportCallback (STOP file)": (
        "keras_task", ["--epochs", "100000", "--batch_sleep", "0.005"], False),
    "Estimator, no hook (SIGTERM)": (
        "estimator_task", ["--model", "custom", "--integration", "plain",
                           "--train_steps", "1000000", "--checkpoint_steps", "50",
                           "--step_sleep", "0.005"], True),
}


def stop_delay(work: Path, module: str, args: list[str],
               sigterm: bool) -> tuple[float, float | None, int]:
    """Seconds from the stop request to the process's exit and (with a hook) to its last
    report (the final evaluation), and the exit code."""
    tag = "val_loss" if module == "keras_task" else TAG
    trial: Trial = start_trial(work, module, args, tag)
    trial.wait_for(trial.channel.measurements, timeout=120)
    start, start_wall = time.monotonic(), time.time()
    if sigterm:
        trial.launcher.terminate(trial.handle, 10.0)
    else:
        trial.channel.request_stop("benchmark")
    while (code := trial.launcher.poll(trial.handle)) is None:
        time.sleep(0.002)
    exit_delay = time.monotonic() - start
    last_report = None
    if not sigterm:
        last = trial.paths.measurements.read_text().splitlines()[-1]
        last_report = json.loads(last)["time"] - start_wall
    return exit_delay, last_report, code


def _stats(values: list[float], unit: float = 1.0) -> str:
    if not values:
        return "-"
    ordered = sorted(v * unit for v in values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.3f} | {p95:.3f} | {ordered[-1]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="stop runs per case")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="tf_hptune_bench_") as tmp:
        work = Path(tmp)
        print("## Evaluation written -> TrialChannel has it (seconds)\n")
        print("| trainer | poll interval | evaluations | median | p95 | max |")
        print("| --- | --- | --- | --- | --- | --- |")
        poll_costs: list[float] = []
        for integration, label in (("wrapper", "Estimator + tf_hptune wrapper"),
                                   ("plain", "Estimator, no tf_hptune, model dir elsewhere")):
            result = measurement_delays(work / integration, integration)
            poll_costs += result["poll_ms"]  # type: ignore[arg-type]
            for interval in POLL_INTERVALS:
                delays = result["delays"][interval]  # type: ignore[index]
                missed = result["missed"][interval]  # type: ignore[index]
                note = f" (missed {missed})" if missed else ""
                print(f"| {label} | {interval:g} s | {result['evaluations']}{note} | "
                      f"{_stats(delays)} |")
        print(f"\nCPU time of one poll (ms): median | p95 | max = {_stats(poll_costs)}\n")
        print("## Stop request -> final report, and -> trial process exit (seconds)\n")
        print("| trainer | runs | exit codes | final report: median / max "
              "| exit: median | p95 | max |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for label, (module, trial_args, sigterm) in STOP_CASES.items():
            exits, reports, codes = [], [], []
            for i in range(args.repeat):
                exit_delay, report_delay, code = stop_delay(
                    work / f"stop_{module}_{sigterm}_{i}", module, trial_args, sigterm)
                exits.append(exit_delay)
                codes.append(code)
                if report_delay is not None:
                    reports.append(report_delay)
            final = (f"{statistics.median(reports):.3f} / {max(reports):.3f}" if reports
                     else "- (none)")
            print(f"| {label} | {args.repeat} | {sorted(set(codes))} | {final} | "
                  f"{_stats(exits)} |")

if __name__ == "__main__":
    main()
