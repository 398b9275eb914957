"""The bundled notebooks, executed by a real Jupyter kernel (nbclient): every cell must run.
The Keras one in the Keras 3 world, the Estimator one where tf.estimator exists."""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT

NOTEBOOKS = ROOT / "trainer_examples" / "notebooks"
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytest.importorskip("tf_hptune.views.plot", reason="the views of issue 16's other half")


def execute(name: str, tmp_path) -> list:
    shutil.copy(NOTEBOOKS / name, tmp_path / name)
    nb = nbformat.read(tmp_path / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def shown(cell, mime: str) -> list[str]:
    return [o.data[mime] for o in cell.outputs if mime in o.get("data", {})]


@pytest.mark.slow
@pytest.mark.skipif(int(keras.__version__.split(".")[0]) < 3, reason="Keras 3 notebook")
def test_the_colab_notebook_tunes_a_keras_model_with_early_stopping(tmp_path):
    install, _, _, run, frame, plot, hparams = execute("tune_keras_colab.ipynb", tmp_path)
    assert "already installed" in install.outputs[0].text  # the install cell was skipped
    [table] = shown(run, "text/html")  # one table, updated in place
    assert table.count("<td>SUCCEEDED</td>") == 6 and "<td>yes</td>" in table  # stopped early
    assert shown(frame, "text/html") and shown(plot, "image/png")
    assert "tensorboard --logdir" in hparams.outputs[0].text
    assert list((tmp_path / "tf_hptune_jobs").glob("keras_colab_*/1/*"))  # trial 1's files


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(tf, "estimator"), reason="tf.estimator is gone after TF 2.15")
def test_the_estimator_notebook_tunes_on_tf_2_15(tmp_path):
    _, _, run, frame, plot = execute("tune_estimator_tf215.ipynb", tmp_path)
    [table] = shown(run, "text/html")
    assert table.count("<td>SUCCEEDED</td>") == 4
    assert shown(frame, "text/html") and shown(plot, "image/png")
