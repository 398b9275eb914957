"""The report figure: what each panel draws, on the parameter's own scale, and a PNG file."""
from __future__ import annotations

import sys

import pytest

from tests.views.conftest import CURVES, record_job
from tf_hptune.spec import load_spec
from tf_hptune.views.table import best_so_far


def test_without_matplotlib_the_error_names_the_extra(stored_job, monkeypatch):
    from tf_hptune.views.plot import plot_job
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"tf-hptune\[plot\]"):
        plot_job(stored_job.job, stored_job.trials)


matplotlib = pytest.importorskip("matplotlib")
from tf_hptune.views.plot import plot_job  # noqa: E402


@pytest.fixture
def figure(stored_job):
    return plot_job(stored_job.job, stored_job.trials)


def panels(fig):
    return {ax.get_title(): ax for ax in fig.axes}


def test_the_title_names_the_job_the_goal_and_the_metric(figure):
    title = figure.get_suptitle()
    assert "views_job" in title and "minimize loss" in title and "RUNNING" in title


def test_history_shows_each_final_metric_and_the_best_so_far_line(figure, stored_job):
    ax = panels(figure)["Optimization history"]
    (line,) = ax.get_lines()  # the best-so-far step line
    best = best_so_far(stored_job.trials, load_spec(stored_job.job.config).goal)
    assert [best[str(int(x))] for x in line.get_xdata()] == list(line.get_ydata())
    points = {(int(x), y) for coll in ax.collections for x, y in coll.get_offsets()}
    assert points == {(1, 0.8), (2, 0.42), (3, 2.6), (5, 0.35)}  # the succeeded trials
    assert (5, 0.35) in {(int(x), y) for x, y in ax.collections[-1].get_offsets()}  # the star


def test_learning_curves_draw_every_measured_trial_and_mark_the_stopped_one(figure):
    ax = panels(figure)["Learning curves"]
    curves = {tuple(line.get_xdata()): line for line in ax.get_lines()}
    measured = {tid: c for tid, (c, _) in CURVES.items() if c}
    assert set(curves) == {tuple(s for s, _ in c) for c in measured.values()} and \
        len(ax.get_lines()) == len(measured)
    stopped = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in stopped] == [[3.0, 2.6]]
    (cross,) = [c for c in ax.collections if len(c.get_offsets())]
    assert [tuple(p) for p in cross.get_offsets()] == [(200, 2.6)]


def test_each_parameter_is_drawn_on_its_own_scale(figure, stored_job):
    by_title = panels(figure)
    assert by_title["learning-rate (double, log_scale)"].get_xscale() == "log"
    assert by_title["momentum (double, reverse_log_scale)"].get_xscale() == "function"
    assert by_title["nembeds (integer, linear_scale)"].get_xscale() == "linear"
    optimizer = by_title["optimizer (categorical)"]
    assert [t.get_text() for t in optimizer.get_xticklabels()] == ["adam", "sgd", "256 128 64"]
    nnsize = by_title["nnsize (discrete)"]
    assert list(nnsize.get_xticks()) == [4, 16, 32, 64, 128]
    # each trial's point sits at its own category
    trials = {t.trial_id: t for t in stored_job.trials}
    xs = {y: x for c in optimizer.collections for x, y in c.get_offsets()}
    for tid, final in (("1", 0.8), ("2", 0.42), ("5", 0.35)):
        assert ["adam", "sgd", "256 128 64"][int(xs[final])] == trials[tid].params["optimizer"]


def test_the_legend_and_the_title_cover_no_panel(tmp_path):
    # a long metric tag, as the service's users had them
    stored = record_job(tmp_path, tag="metrics-poetry_line_problem/accuracy_per_sequence")
    fig = plot_job(stored.job, stored.trials, tmp_path / "r.png")
    renderer = fig.canvas.get_renderer()
    covers = [fig.legends[0].get_window_extent(renderer),
              fig._suptitle.get_window_extent(renderer)]
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    assert not covers[0].overlaps(covers[1])
    for cover in covers:
        assert not any(cover.overlaps(box) for box in boxes)
    for i, a in enumerate(boxes):  # nor do panels, their labels included, cover each other
        assert not any(a.overlaps(b) for b in boxes[i + 1:])


def test_writing_a_png_and_plotting_a_job_without_trials(stored_job, tmp_path):
    path = tmp_path / "report.png"
    plot_job(stored_job.job, stored_job.trials, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = plot_job(stored_job.job, [], tmp_path / "empty.png")
    texts = [t.get_text() for ax in empty.axes for t in ax.texts]
    assert "no trial has succeeded yet" in texts and "no measurement yet" in texts
