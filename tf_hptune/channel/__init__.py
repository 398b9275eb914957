"""The only protocol between a trial and the Tuner: files in the trial's directories.

A trial ``N`` of a job whose ``--job-dir`` is ``D`` has two directories:
- ``D/N``: the trainer's own ``--job-dir``; TensorFlow event files are looked for under it;
- ``D/tf_hptune/N``: the tuner's side: ``stdout.log``, ``stderr.log``, the hypertune metrics
  file, ``measurements.jsonl`` from tf_hptune's reporters and the ``STOP`` request. It lives
  outside ``D/N`` because classic trainers wipe their output directory when they start.

Trainers may also write summaries outside ``D/N`` (``--output_dir``): the directories where a
trial opened summary writers, recorded by ``tf_hptune.observe``, are read as well.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tf_hptune.channel.events import EventDirectoryScanner, is_event_file
from tf_hptune.channel.hypertune import read_reports
from tf_hptune.channel.jsonl import JsonlReader
from tf_hptune.observe import read_summary_dirs

CONTROL_DIR_NAME = "tf_hptune"
STOP_NAME = "STOP"  # in the control dir: the tuner asks the trial to stop
LISTENING_NAME = "LISTENING"  # in the control dir: the trial ends itself on STOP


@dataclass(frozen=True)
class TrialPaths:
    """Where one trial's files live."""

    job_dir: Path
    control_dir: Path

    @classmethod
    def for_trial(cls, job_root: str | os.PathLike[str], trial_id: str) -> "TrialPaths":
        root = Path(job_root)
        return cls(job_dir=root / trial_id, control_dir=root / CONTROL_DIR_NAME / trial_id)

    @property
    def stdout(self) -> Path:
        return self.control_dir / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.control_dir / "stderr.log"

    @property
    def metric_file(self) -> Path:
        return self.control_dir / "hypertune.metrics"

    @property
    def measurements(self) -> Path:
        return self.control_dir / "measurements.jsonl"

    @property
    def stop_file(self) -> Path:
        return self.control_dir / STOP_NAME

    @property
    def listening_file(self) -> Path:
        """Written by the trial side when something in the trial watches ``stop_file``."""
        return self.control_dir / LISTENING_NAME


class _TrialEventScanner(EventDirectoryScanner):
    """Event files under the trial's job dir and directly in the summary directories it
    recorded elsewhere. Evaluation directories still win: one outside the job dir counts as
    one when its own name starts with an evaluation prefix (``eval``, ``validation``)."""

    def __init__(self, paths: TrialPaths, tag: str) -> None:
        super().__init__(paths.job_dir, tag)
        self._control_dir = paths.control_dir

    def _outside_root(self, directory: str) -> bool:
        root = os.path.realpath(self.root)
        return os.path.commonpath([root, os.path.realpath(directory)]) != root

    def event_files(self) -> list[str]:
        found = super().event_files()
        for directory in read_summary_dirs(self._control_dir):
            if not self._outside_root(directory):
                continue  # walked already
            try:
                with os.scandir(directory) as entries:
                    found.extend(e.path for e in entries if is_event_file(e.name) and e.is_file())
            except OSError:
                continue
        return sorted(found)

    def is_eval_dir(self, directory: str) -> bool:
        if self._outside_root(directory):
            return os.path.basename(directory).startswith(self.eval_prefixes)
        return super().is_eval_dir(directory)


class TrialChannel:
    """Collects one trial's measurements of ``tag`` from every source, merged by step.

    Sources, weakest first (a later one wins at the same step): event files (under the trial's
    job dir and in the summary directories it recorded), the hypertune metrics file,
    tf_hptune's own measurements file.
    """

    def __init__(self, paths: TrialPaths, tag: str) -> None:
        self.paths, self.tag = paths, tag
        self._events = _TrialEventScanner(paths, tag)
        self._jsonl = JsonlReader(paths.measurements, tag)
        self._reported: dict[int, float] = {}
        self.bad_lines = 0

    def measurements(self) -> list[tuple[int, float]]:
        """Every measurement seen so far, ``(step, value)`` in step order."""
        merged = dict(self._events.measurements())
        hypertune, bad = read_reports(self.paths.metric_file, self.tag)
        merged.update(hypertune)
        self._reported.update(self._jsonl.read_new())
        merged.update(self._reported)
        self.bad_lines = bad + self._jsonl.bad_lines
        return sorted(merged.items())

    def request_stop(self, reason: str) -> None:
        self.paths.control_dir.mkdir(parents=True, exist_ok=True)
        self.paths.stop_file.write_text(reason + "\n", encoding="utf-8")


def announce_listening(control_dir: str | os.PathLike[str]) -> None:
    """Trial side: tell the tuner that this trial ends itself on STOP, so it waits the grace
    period before SIGTERM. Trials that never say so get SIGTERM as soon as they are stopped."""
    try:
        (Path(control_dir) / LISTENING_NAME).touch()
    except OSError:  # no control dir: the trial then ends on SIGTERM, as any other
        pass


def stop_requested(control_dir: str | os.PathLike[str]) -> bool:
    """Trial side: has the tuner asked this trial to stop?"""
    return (Path(control_dir) / STOP_NAME).exists()
