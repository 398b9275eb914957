"""The bundled census classifier: its data generator, and one real training run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.trainer_examples.conftest import import_trainer, trial_env
from tf_hptune.channel.events import EventDirectoryScanner

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "trainer_examples" / "census"


@pytest.fixture()
def census(monkeypatch):
    data, task = import_trainer(monkeypatch, str(EXAMPLE_DIR), "data", "task")
    return data, task


def test_generator_is_deterministic_and_learnable(census):
    data, _ = census
    features, labels = data.generate(20000, seed=7)
    again, same = data.generate(20000, seed=7)
    other, different = data.generate(20000, seed=8)
    assert np.array_equal(labels, same) and not np.array_equal(labels, different)
    for name in features:
        assert np.array_equal(features[name], again[name])
    assert set(features) == set(data.CATEGORICAL) | set(data.NUMERIC)
    for name, values in data.CATEGORICAL.items():
        assert set(features[name]) <= set(values), name
    assert 0.2 < labels.mean() < 0.3
    assert 17 <= features["age"].min() and features["age"].max() <= 90
    married = features["marital_status"] == "Married-civ-spouse"
    assert labels[married].mean() > 2 * labels[~married].mean()
    educated = features["education_num"] >= 13
    assert labels[educated].mean() > labels[~educated].mean() + 0.15
    train_x, _ = data.split(100, "train", seed=7)
    eval_x, _ = data.split(100, "eval", seed=7)
    assert not np.array_equal(train_x["age"], eval_x["age"])


def test_flags_take_dashes_or_underscores(census):
    _, task = census
    args = task.parse_args(
        ["--job-dir", "out", "--first-layer-size", "64", "--num_layers", "3",
         "--learning-rate", "0.01", "--batch_size", "32", "--hidden-units", "8 4"]
    )
    assert (args.first_layer_size, args.num_layers, args.learning_rate, args.batch_size) == (
        64, 3, 0.01, 32
    )
    assert args.hidden_units == "8 4" and args.job_dir == "out"


@pytest.mark.slow
def test_trainer_runs_and_reports_accuracy_in_eval_summaries(tmp_path):
    job_dir = tmp_path / "job"
    env = trial_env()
    cmd = [
        sys.executable, "-m", "trainer.task", "--job-dir", str(job_dir),
        "--train_examples", "3000", "--eval_examples", "1000", "--train_steps", "150",
        "--num_evals", "3", "--batch_size", "64", "--first-layer-size", "32",
        "--num-layers", "2", "--scale-factor", "0.5", "--learning_rate", "0.01",
        "--dropout", "0.1",
    ]
    proc = subprocess.run(
        cmd, cwd=EXAMPLE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    out = job_dir / "3"
    assert (out / "checkpoint").is_file()
    assert list(out.glob("model.ckpt-150.index"))
    assert list((out / "eval").glob("events.out.tfevents.*"))
    accuracy = EventDirectoryScanner(out, "accuracy").measurements()
    assert [step for step, _ in accuracy] == [50, 100, 150], accuracy
    assert all(0.6 < value <= 1.0 for _, value in accuracy), accuracy
    auc = EventDirectoryScanner(out, "auc").measurements()
    assert [step for step, _ in auc] == [50, 100, 150] and 0.5 < auc[-1][1] <= 1.0
