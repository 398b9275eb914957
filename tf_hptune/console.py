"""What a foreground job prints for people: the live progress line and a line per ended trial.

On a terminal the progress line is rewritten in place; piped, in a notebook cell (``!tf-hptune``
runs under a pseudo-terminal there, which shows escape codes raw) or on a dumb terminal, it is a
plain line per change.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO, TypeVar

from tf_hptune.space import format_value
from tf_hptune.store import State, TrialRecord
from tf_hptune.tuner import Progress

NOTEBOOK_ENV = ("JPY_PARENT_PID", "COLAB_RELEASE_TAG", "VSCODE_PID")
T = TypeVar("T")


def live_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that honours ``\\r`` and erase-line escapes."""
    if not stream.isatty() or os.environ.get("TERM") == "dumb":
        return False
    return not any(os.environ.get(name) for name in NOTEBOOK_ENV)


def params_text(params: dict[str, object]) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in params.items())  # type: ignore[arg-type]


def best_text(p: Progress) -> str:
    if p.best is None:
        return "best: none yet"
    return (f"best {p.metric_tag}={p.best.final_value:.6g} (trial {p.best.trial_id}: "
            f"{params_text(dict(p.best.params))})")


def trial_text(t: TrialRecord, metric_tag: str) -> str:
    """One line for an ended trial: its result or its error."""
    head = f"trial {t.trial_id} {t.state.value}"
    if t.state is State.SUCCEEDED and t.final_value is not None:
        stopped = " (stopped early)" if t.stopped_early else ""
        return (f"{head}: {metric_tag}={t.final_value:.6g} at step {t.final_step}{stopped}; "
                f"{params_text(dict(t.params))}")
    return f"{head}: {t.reason or 'no reason recorded'}; {params_text(dict(t.params))}"


class ProgressPrinter:
    """The live progress line (``__call__`` takes a ``Progress``) and other lines printed
    around it (``line``) without garbling either."""

    def __init__(self, stream: TextIO, out: TextIO | None = None) -> None:
        self.stream = stream
        self.out = out or stream
        self.live = live_terminal(stream)
        self.text = ""

    def __call__(self, p: Progress) -> None:
        state = f" {p.state.value}" if p.state is not State.RUNNING else ""
        self.text = (f"[{p.job_name}]{state} {p.done + p.failed}/{p.max_trials} done, "
                     f"{p.running} running, {p.failed} failed; {best_text(p)}")
        self.draw()

    def draw(self) -> None:
        if self.text:
            self.stream.write(f"\r\x1b[K{self.text}" if self.live else self.text + "\n")
            self.stream.flush()

    def line(self, text: str) -> None:
        """Print ``text`` above the live line."""
        if self.live and self.text:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.out.write(text + "\n")
        self.out.flush()
        if self.live:
            self.draw()

    def done(self) -> None:
        if self.live and self.text:
            self.stream.write("\n")
            self.stream.flush()


def quiet_on_broken_pipe(main: Callable[[], T]) -> T | int:
    """Run ``main``; a reader that goes away (``| head``) ends the program quietly."""
    try:
        return main()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit's flush cannot fail again
        return 141  # 128 + SIGPIPE, as a shell reports it
