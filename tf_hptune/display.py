"""Live views of a running job: the progress line for a terminal or a log, a line per ended
trial, and a table of the trials that updates in place in Jupyter and Colab. Views of the
store: none feeds back.

On a terminal the progress line is rewritten in place; piped, in a notebook cell (``!tf-hptune``
runs under a pseudo-terminal there, which shows escape codes raw) or on a dumb terminal, it is a
plain line per change.

The table's rows are ``tf_hptune.views.table.summary_rows``; IPython is imported only where a
notebook runs.
"""
from __future__ import annotations

import html
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO, TypeVar

from tf_hptune.space import format_value
from tf_hptune.spec import load_spec
from tf_hptune.store import JobRecord, State, Store, TrialRecord
from tf_hptune.tuner import Progress

log = logging.getLogger("tf_hptune")
T = TypeVar("T")


NOTEBOOK_ENV = ("JPY_PARENT_PID", "COLAB_RELEASE_TAG", "VSCODE_PID")


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


def in_notebook() -> bool:
    """Whether this process is a Jupyter (or Colab) kernel, whose output is a notebook's."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


# -- the table -------------------------------------------------------------------------------
def status_line(job: JobRecord, trials: Sequence[TrialRecord]) -> str:
    """``job NAME: STATE, E of M trials ended, R running``."""
    spec = load_spec(job.config)
    ended = sum(1 for t in trials if t.state.is_final)
    running = sum(1 for t in trials if not t.state.is_final)
    return (f"job {job.name}: {job.state.value}, {ended} of {spec.max_trials} trials ended, "
            f"{running} running")


def html_table(job: JobRecord, trials: Sequence[TrialRecord]) -> str:
    """The job's trials as an HTML table (``summary_rows``, best first) under a status line."""
    from tf_hptune.views.table import cell, summary_rows

    rows = summary_rows(job, trials)
    tag = load_spec(job.config).metric_tag
    names: list[str] = []
    for row in rows:
        names += [n for n in row["params"] if n not in names]
    header = ["trial", *names, tag, "step", "state", "stopped early", "best so far"]
    body = [[row["trial_id"], *(row["params"].get(n) for n in names), row["metric"],
             row["step"], row["state"], row["stopped_early"], row["best_so_far"]]
            for row in rows]

    def line(cells: Sequence[Any], tag_name: str) -> str:
        return "<tr>" + "".join(f"<{tag_name}>{html.escape(cell(c, missing=''))}</{tag_name}>"
                                for c in cells) + "</tr>"

    return (f"<div><p><b>{html.escape(status_line(job, trials))}</b></p>"
            f"<table><thead>{line(header, 'th')}</thead>"
            f"<tbody>{''.join(line(r, 'td') for r in body)}</tbody></table></div>")


class TableView:
    """What a notebook shows of a job: the table as HTML, the status line as plain text."""

    def __init__(self, job: JobRecord, trials: Sequence[TrialRecord]) -> None:
        self.job, self.trials = job, list(trials)

    def _repr_html_(self) -> str:
        return html_table(self.job, self.trials)

    def __repr__(self) -> str:
        return status_line(self.job, self.trials)


class LiveDisplay:
    """``tune()``'s view of its running job: in a notebook, the table, drawn once and updated
    in place at most every ``interval`` seconds; elsewhere the progress line on ``stream``
    (rewritten in place on a terminal, one line per change in a log). A failure of the view
    is logged once and turns it off: it never stops the job."""

    def __init__(self, store: Store, name: str, *, notebook: bool | None = None,
                 stream: TextIO | None = None, interval: float = 0.5) -> None:
        self.store, self.name, self.interval = store, name, interval
        self.notebook = in_notebook() if notebook is None else notebook
        self.printer = None if self.notebook else ProgressPrinter(stream or sys.stderr)
        self._handle: Any = None
        self._drawn = 0.0
        self._failed = False

    def _guard(self, draw: Any, *args: Any) -> None:
        if self._failed:
            return
        try:
            draw(*args)
        except Exception as e:
            self._failed = True
            log.warning("tf_hptune: the live display failed and is off: %s: %s",
                        type(e).__name__, e)

    def progress(self, p: Progress) -> None:
        """The Tuner's ``on_progress``."""
        if self.printer is not None:
            self._guard(self.printer, p)
        else:
            self._guard(self._draw_table, True)

    def poll(self, paths: Mapping[str, Any]) -> None:
        """The Tuner's ``on_poll``: running trials' new values reach the table."""
        if self.printer is None:
            self._guard(self._draw_table, False)

    def close(self) -> None:
        if self.printer is not None:
            self.printer.done()
        else:
            self._guard(self._draw_table, True)

    def _draw_table(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < self.interval:
            return
        self._drawn = now
        view = TableView(self.store.get_job(self.name), self.store.list_trials(self.name))
        if self._handle is None:
            from IPython.display import display

            self._handle = display(view, display_id=True)
        else:
            self._handle.update(view)


__all__ = ["LiveDisplay", "ProgressPrinter", "TableView", "html_table", "in_notebook",
           "live_terminal", "quiet_on_broken_pipe", "status_line", "trial_text"]
