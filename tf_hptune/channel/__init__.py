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

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tf_hptune.channel.events import EventDirectoryScanner, is_event_file
from tf_hptune.channel.hypertune import read_reports, report_tags
from tf_hptune.channel.jsonl import JsonlReader
from tf_hptune.files import make_private_dir, write_private
from tf_hptune.observe import read_summary_dirs

CONTROL_DIR_NAME = "tf_hptune"
STOP_NAME = "STOP"  # in the control dir: the tuner asks the trial to stop
LISTENING_NAME = "LISTENING"  # in the control dir: the trial ends itself on STOP
STOPPING_NAME = "STOPPING"  # in the control dir: the trial saw STOP and is ending because of it
EXIT_STATUS_NAME = "exit_status"  # in the control dir: the trial's exit code, by its launcher

log = logging.getLogger("tf_hptune")


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
    def exit_status(self) -> Path:
        """How the trial's process ended, recorded by its launcher (local: ``supervise.py``)."""
        return self.control_dir / EXIT_STATUS_NAME

    @property
    def relayed_summaries(self) -> Path:
        """The measurements a trial on another machine found in its event files, relayed as
        JSON lines (``tf_hptune.launch.ray``)."""
        return self.control_dir / "summaries.jsonl"

    @property
    def stop_file(self) -> Path:
        return self.control_dir / STOP_NAME

    @property
    def listening_file(self) -> Path:
        """Written by the trial side when something in the trial watches ``stop_file``."""
        return self.control_dir / LISTENING_NAME

    @property
    def stopping_file(self) -> Path:
        """Written by the trial side when it acts on ``stop_file``."""
        return self.control_dir / STOPPING_NAME


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
    job dir and in the summary directories it recorded, or, for a trial on another machine,
    what it found in them, relayed), the hypertune metrics file, tf_hptune's own measurements
    file.
    """

    def __init__(self, paths: TrialPaths, tag: str) -> None:
        self.paths, self.tag = paths, tag
        self._events = _TrialEventScanner(paths, tag)
        self._jsonl = JsonlReader(paths.measurements, tag)
        self._relayed = JsonlReader(paths.relayed_summaries, tag)
        self._reported: dict[int, float] = {}
        self._summarized: dict[int, float] = {}
        self.bad_lines = 0

    def summaries(self) -> tuple[list[tuple[int, float]], set[str]]:
        """The measurements found in this trial's event files, and the other tags there."""
        return self._events.measurements(), set(self._events.other_tags)

    def measurements(self) -> list[tuple[int, float]]:
        """Every measurement seen so far, ``(step, value)`` in step order."""
        self._summarized.update(self._relayed.read_new())
        merged = {**self._summarized, **dict(self._events.measurements())}
        hypertune, bad = read_reports(self.paths.metric_file, self.tag)
        merged.update(hypertune)
        self._reported.update(self._jsonl.read_new())
        merged.update(self._reported)
        self.bad_lines = bad + self._jsonl.bad_lines
        return sorted(merged.items())

    def other_tags(self) -> list[str]:
        """The metric tags this trial wrote besides the job's (event files, the hypertune
        file, tf_hptune's reports), to name when the job's tag never appeared."""
        found = self._events.other_tags | self._jsonl.other_tags | self._relayed.other_tags
        found |= report_tags(self.paths.metric_file)
        return sorted(found - {self.tag})

    def request_stop(self, reason: str) -> None:
        """Write the STOP file (never through a link); a control dir the trial removed or
        spoiled just means no file: the tuner's SIGTERM still comes."""
        try:
            make_private_dir(self.paths.control_dir)
            write_private(self.paths.stop_file, (reason + "\n").encode("utf-8"))
        except OSError as e:
            log.warning("tf_hptune: cannot write %s: %s", self.paths.stop_file, e)

    def listening(self) -> bool:
        """Whether the trial said it ends itself on a stop request (``StopWatcher``)."""
        return self.paths.listening_file.exists()

    def acknowledged_stop(self) -> bool:
        """Whether the trial said it is ending because the tuner asked it to."""
        return self.paths.stopping_file.exists()


class StopWatcher:
    """Trial side: the one watcher of the tuner's STOP file.

    Made the first time something in the trial listens: it writes ``LISTENING`` then, so the
    tuner gives the trial its grace period before SIGTERM (a trial that never listens gets
    SIGTERM as soon as it is stopped). ``check`` looks at the file at most every
    ``check_secs`` unless forced; the first time it sees a stop request it writes
    ``STOPPING`` (the trial ends because it was asked: it is then stopped early), and it stays
    True. A caller about to end anyway (its last epoch) passes ``act=False``: nothing is
    acknowledged and the trial counts as run to its end.
    """

    def __init__(self, control_dir: str | os.PathLike[str], check_secs: float = 0.1) -> None:
        self.paths = TrialPaths(job_dir=Path(), control_dir=Path(control_dir))
        self.check_secs = check_secs
        self.stopped = False
        self._next_check = 0.0
        _touch(self.paths.listening_file)

    def check(self, force: bool = False, act: bool = True) -> bool:
        """Whether the tuner has asked this trial to stop."""
        now = time.monotonic()
        if self.stopped or not act or (not force and now < self._next_check):
            return self.stopped
        self._next_check = now + self.check_secs
        if self.paths.stop_file.exists():
            self.stopped = True
            _touch(self.paths.stopping_file)
            log.warning("tf_hptune: the tuner asked this trial to stop; ending training")
        return self.stopped


def _touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:  # no control dir: the tuner then treats the trial as one that never said
        pass
