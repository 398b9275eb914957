"""tf_hptune.estimator where tf.estimator exists (TF 2.15), and its message where it does not."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

tf = pytest.importorskip("tensorflow")


def test_it_imports_where_tf_estimator_exists_and_explains_where_it_does_not():
    run = subprocess.run([sys.executable, "-c", "import tf_hptune.estimator"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    if hasattr(tf, "estimator"):
        assert run.returncode == 0, run.stderr
        return
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: tf_hptune.estimator needs tf.estimator")
    assert f"TensorFlow {tf.__version__}" in last and "TensorFlow 2.15" in last
    assert "Python <= 3.11" in last and "tf-hptune[tf215]" in last
