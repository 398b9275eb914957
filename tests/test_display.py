"""The live views: the progress line (a terminal gets it rewritten in place, a log one plain
line per change) and, in a real Jupyter kernel, one table updated in place."""
from __future__ import annotations

import io
import textwrap

import pytest

from tests.conftest import ROOT
from tf_hptune.display import LiveDisplay, ProgressPrinter, html_table
from tf_hptune.store import State, TrialRecord, open_store
from tf_hptune.tuner import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress(done: int, best: TrialRecord | None = None) -> Progress:
    return Progress("job", 4, done, 1, 0, best, "loss")


def test_the_progress_line_is_rewritten_on_a_terminal_and_plain_in_a_log():
    best = TrialRecord("job", "2", {"x": 0.5}, State.SUCCEEDED, 0.0, final_value=0.25)
    log, tty = io.StringIO(), Terminal()
    for stream in (log, tty):
        printer = ProgressPrinter(stream)
        printer(progress(0))
        printer(progress(1, best))
        printer.done()
    assert log.getvalue() == ("[job] 0/4 done, 1 running, 0 failed; best: none yet\n"
                              "[job] 1/4 done, 1 running, 0 failed; best loss=0.25 "
                              "(trial 2: x=0.5)\n")
    assert tty.getvalue().count("\r\x1b[K") == 2 and tty.getvalue().endswith(")\n")


def test_the_table_escapes_values():
    with open_store(":memory:") as store:
        store.create_job("job", {"hyperparameters": {"params": [
            {"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": ["<b>"]}],
            "hyperparameterMetricTag": "loss"}}, {})
        store.create_trial("job", "1", {"opt": "<b>"})
        shown = html_table(store.get_job("job"), store.list_trials("job"))
    assert "<td>&lt;b&gt;</td>" in shown and "<th>loss</th>" in shown
    assert "job job: QUEUED, 0 of 1 trials ended, 1 running" in shown


def test_outside_a_notebook_the_display_is_the_progress_line():
    stream = io.StringIO()
    with open_store(":memory:") as store:
        view = LiveDisplay(store, "job", notebook=False, stream=stream)
        view.progress(progress(1))
        view.poll({})
        view.close()
    assert stream.getvalue() == "[job] 1/4 done, 1 running, 0 failed; best: none yet\n"


def test_in_a_jupyter_kernel_one_table_is_updated_in_place(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cell = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from tf_hptune import tune
        SPEC = {{"hyperparameters": {{"goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
                 "maxTrials": 3, "params": [{{"parameterName": "x", "type": "DOUBLE",
                 "minValue": -1, "maxValue": 1}}]}}}}

        def train(params, context):
            print("a trial's own output")
            for step in range(1, 6):
                context.report(params["x"] ** 2 + 1 / step, step)
            return params["x"] ** 2

        job = tune(train, SPEC, job_name="nb", store="store.db", in_process=True,
                   poll_interval=0.05)
    ''')
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"]  # no progress lines, no prints
    data = outputs[0].data
    assert data["text/plain"] == "job nb: SUCCEEDED, 3 of 3 trials ended, 0 running"
    assert data["text/html"].count("<td>SUCCEEDED</td>") == 3
