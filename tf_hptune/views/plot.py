"""A job's report as one matplotlib figure: the optimization history with the best so far, the
learning curves (early-stopped trials marked) and the metric against each parameter.

matplotlib is the optional ``plot`` extra (``pip install 'tf-hptune[plot]'``).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tf_hptune.errors import UsageError
from tf_hptune.spec import load_spec
from tf_hptune.spec.model import ParameterSpec, ParamType, ScaleType
from tf_hptune.store import JobRecord, State, TrialRecord
from tf_hptune.study import has_metric
from tf_hptune.views.table import best_so_far

PANEL_COLUMNS = 3  # parameter panels per row
COMPLETED, STOPPED, BEST, OTHER = "tab:blue", "tab:orange", "tab:red", "0.7"


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plotting a job needs matplotlib: pip install 'tf-hptune[plot]'"
                          ) from e
    return Figure


def plot_job(job: JobRecord, trials: Sequence[TrialRecord],
             path: str | os.PathLike[str] | None = None) -> Any:
    """``job``'s report as a ``matplotlib.figure.Figure``, also written to ``path`` (PNG, PDF,
    SVG, by its extension) with the Agg backend when given. The figure is left in no pyplot
    state: in a notebook it shows once, as the cell's value. Raises ``ImportError`` naming
    the extra when matplotlib is missing, ``UsageError`` for a path it cannot write."""
    Figure = _figure_class()
    if path is not None:
        _check_path(os.fspath(path))
    spec = load_spec(job.config)
    done = sorted((t for t in trials if t.state is State.SUCCEEDED and has_metric(t)),
                  key=lambda t: t.number)
    best = min(done, key=lambda t: spec.goal.loss(t.final_value), default=None)  # type: ignore
    rows = -(-len(spec.params) // PANEL_COLUMNS)
    fig = _new_figure(Figure, path, figsize=(13, 4.2 + 3.2 * rows), layout="constrained")
    grid = fig.add_gridspec(1 + rows, 2 * PANEL_COLUMNS, height_ratios=[1.35] + [1] * rows)
    half = PANEL_COLUMNS
    _history(fig.add_subplot(grid[0, :half]), spec, trials, done, best)
    _curves(fig.add_subplot(grid[0, half:]), spec, trials, best)
    for i, p in enumerate(spec.params):
        r, c = divmod(i, PANEL_COLUMNS)
        _against(fig.add_subplot(grid[1 + r, 2 * c:2 * c + 2]), spec, p, done, best)
    _legend(fig, best)
    counts = {s: sum(t.state is s for t in trials) for s in State}
    told = ", ".join(f"{n} {s.value.lower()}" for s, n in counts.items() if n)
    fig.suptitle(f"{job.name}: {spec.goal.value.lower()} {spec.metric_tag}\n"
                 f"job {job.state.value}, {len(trials)} trials: {told or 'none yet'}",
                 fontsize=12)
    if path is not None:
        fig.savefig(os.fspath(path), dpi=110)
    return fig


def _new_figure(figure_class: Any, path: str | os.PathLike[str] | None, **kw: Any) -> Any:
    """For a file, a figure on the Agg canvas, outside pyplot. Else one made by pyplot, so that
    a notebook's backend shows it as the cell's value, then closed in pyplot, so that it is not
    shown a second time at the cell's end."""
    if path is not None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        fig = figure_class(**kw)
        FigureCanvasAgg(fig)
        return fig
    import matplotlib.pyplot as plt
    fig = plt.figure(**kw)
    plt.close(fig)
    return fig


def _check_path(path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {path}: directory {directory} does not exist")
    kinds = FigureCanvasAgg.get_supported_filetypes()
    kind = os.path.splitext(path)[1][1:].lower()
    if kind not in kinds:
        raise UsageError(f"cannot write {path}: the file name must end in one of "
                         f"{', '.join('.' + k for k in sorted(kinds))}")


def _history(ax: Any, spec: Any, trials: Sequence[TrialRecord], done: list[TrialRecord],
             best: TrialRecord | None) -> None:
    ax.set_title("Optimization history")
    ax.set_xlabel("trial")
    ax.set_ylabel(_label(spec.metric_tag))
    if not done:
        _empty(ax, "no trial has succeeded yet")
        return
    for stopped, color in ((False, COMPLETED), (True, STOPPED)):
        shown = [t for t in done if t.stopped_early is stopped]
        ax.scatter([t.number for t in shown], [t.final_value for t in shown], color=color,
                   zorder=3, s=28)
    running = best_so_far(trials, spec.goal)
    numbers = sorted(t.number for t in trials if running[t.trial_id] is not None)
    ax.step(numbers, [running[str(n)] for n in numbers], where="post", color=BEST, lw=1.6,
            zorder=2)
    if best is not None:
        ax.scatter([best.number], [best.final_value], marker="*", s=220, color=BEST,
                   edgecolor="black", linewidth=0.6, zorder=4)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)


def _curves(ax: Any, spec: Any, trials: Sequence[TrialRecord], best: TrialRecord | None) -> None:
    ax.set_title("Learning curves")
    ax.set_xlabel("step")
    ax.set_ylabel(_label(spec.metric_tag))
    drawn = [t for t in trials if t.measurements]
    if not drawn:
        _empty(ax, "no measurement yet")
        return
    for t in drawn:
        steps = [m.step for m in t.measurements]
        values = [m.value if math.isfinite(m.value) else np.nan for m in t.measurements]
        if best is not None and t.trial_id == best.trial_id:
            style: dict[str, Any] = dict(color=BEST, lw=2.2, zorder=4)
        elif t.stopped_early:
            style = dict(color=STOPPED, lw=1.0, ls="--", zorder=3)
        elif t.state is State.SUCCEEDED:
            style = dict(color=COMPLETED, lw=1.0, alpha=0.7, zorder=2)
        else:
            style = dict(color=OTHER, lw=1.0, zorder=1)
        ax.plot(steps, values, marker="o" if len(steps) == 1 else None, ms=3, **style)
        if t.stopped_early:
            ax.scatter(steps[-1:], values[-1:], marker="x", color=STOPPED, s=40, zorder=5)
    ax.grid(alpha=0.3)


def _against(ax: Any, spec: Any, p: ParameterSpec, done: list[TrialRecord],
             best: TrialRecord | None) -> None:
    scale = f", {p.scale_type.value.lower().removeprefix('unit_')}" if p.scale_type else ""
    ax.set_title(f"{p.name} ({p.type.value.lower()}{scale})", fontsize=10)
    ax.set_ylabel(_label(spec.metric_tag), fontsize=9)
    if p.type is ParamType.CATEGORICAL:
        positions = {v: i for i, v in enumerate(p.categorical_values)}
        labels = [_short(v) for v in positions]
        crowded = sum(len(v) + 2 for v in labels) > 36
        ax.set_xticks(range(len(positions)), labels, fontsize=9, rotation=20 if crowded else 0,
                      ha="right" if crowded else "center", rotation_mode="anchor")
        ax.set_xlim(-0.5, len(positions) - 0.5)

        def x_of(t: TrialRecord) -> float:
            return positions.get(str(t.params.get(p.name)), math.nan)
    else:
        _numeric_axis(ax, p)

        def x_of(t: TrialRecord) -> float:
            return float(t.params.get(p.name, math.nan))
    for stopped, color in ((False, COMPLETED), (True, STOPPED)):
        shown = [t for t in done if t.stopped_early is stopped]
        ax.scatter([x_of(t) for t in shown], [t.final_value for t in shown], color=color, s=24,
                   zorder=3)
    if best is not None:
        ax.scatter([x_of(best)], [best.final_value], marker="*", s=180, color=BEST,
                   edgecolor="black", linewidth=0.6, zorder=4)
    ax.grid(alpha=0.3)


def _legend(fig: Any, best: TrialRecord | None) -> None:
    """One legend for every panel, under them all, so that it hides no point."""
    from matplotlib.lines import Line2D

    def key(label: str, **style: Any) -> Any:
        return Line2D([], [], label=label, **style)

    handles = [
        key("completed", color=COMPLETED, marker="o", lw=1.0),
        key("stopped early (x: where it stopped)", color=STOPPED, marker="o", ls="--", lw=1.0),
        key("failed, cancelled or running", color=OTHER, lw=1.0),
        key("best so far", color=BEST, lw=1.6),
    ]
    if best is not None:
        handles.append(key(f"best: trial {best.id}", color=BEST, lw=2.2, marker="*", ms=12,
                           markeredgecolor="black", markeredgewidth=0.6))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9,
               frameon=False)


def _numeric_axis(ax: Any, p: ParameterSpec) -> None:
    """The parameter's own scale over its whole range (padded a little): log, reverse log
    (values near the top spread out) or linear."""
    values = p.discrete_values or (p.min_value, p.max_value)
    lo, hi = float(min(values)), float(max(values))  # type: ignore[type-var]
    top = lo + hi
    forward, inverse = {
        ScaleType.UNIT_LOG_SCALE: (np.log, np.exp),
        ScaleType.UNIT_REVERSE_LOG_SCALE: (lambda x: -np.log(np.maximum(top - x, 1e-300)),
                                           lambda y: top - np.exp(-y)),
    }.get(p.scale_type, (None, None))  # type: ignore[arg-type]
    if p.scale_type is ScaleType.UNIT_LOG_SCALE:
        ax.set_xscale("log")
    elif forward is not None:
        ax.set_xscale("function", functions=(forward, inverse))
    if forward is None:
        forward = inverse = lambda x: x  # noqa: E731
    a, b = forward(np.array([lo, hi]))
    pad = (b - a) * 0.05 if b > a else 0.5
    ax.set_xlim(float(inverse(a - pad)), float(inverse(b + pad)))
    if p.type is ParamType.DISCRETE and len(p.discrete_values) <= 12:
        ax.set_xticks(list(p.discrete_values))
    elif p.type is ParamType.INTEGER and p.scale_type in (None, ScaleType.UNIT_LINEAR_SCALE):
        ax.xaxis.get_major_locator().set_params(integer=True)


def _label(tag: str, width: int = 28) -> str:
    """An axis label for a metric tag: its last scope, cut to ``width`` (the title has it
    whole)."""
    return _short(tag.rsplit("/", 1)[-1], width)


def _short(text: str, width: int = 14) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


__all__ = ["plot_job"]
