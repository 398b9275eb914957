"""The bundled babyweight trainer: its data generator, and one real training run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.trainer_examples.conftest import import_trainer, trial_env
from tf_hptune.channel.events import EventDirectoryScanner

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "trainer_examples" / "babyweight"


@pytest.fixture()
def data_module(monkeypatch):
    (data,) = import_trainer(monkeypatch, str(EXAMPLE_DIR), "data")
    return data


def test_generator_is_deterministic_and_plausible(data_module, tmp_path):
    data = data_module
    a = data.generate(20000, seed=7)
    b = data.generate(20000, seed=7)
    c = data.generate(20000, seed=8)
    for name in data.CSV_COLUMNS:
        assert np.array_equal(a[name], b[name])
    assert not np.array_equal(a["weight_pounds"], c["weight_pounds"])

    weight = a["weight_pounds"]
    assert 6.5 < weight.mean() < 7.8 and 1.2 < weight.std() < 2.0
    assert 0.5 <= weight.min() and weight.max() <= 15.0
    assert 15 <= a["mother_age"].min() and a["mother_age"].max() <= 45
    assert 26 < a["mother_age"].mean() < 31
    assert 28 <= a["gestation_weeks"].min() and a["gestation_weeks"].max() <= 44
    assert 37.5 < a["gestation_weeks"].mean() < 39.5
    assert set(a["is_male"]) == set(data.IS_MALE_VALUES)
    assert set(a["plurality"]) <= set(data.PLURALITY_VALUES)
    single = a["plurality"] == "Single(1)"
    twins = a["plurality"] == "Twins(2)"
    assert 0.8 < single.mean() < 0.95
    assert weight[twins].mean() < weight[single].mean() - 1.0
    boys, girls = a["is_male"] == "True", a["is_male"] == "False"
    assert weight[boys & single].mean() > weight[girls & single].mean()
    # The best possible model is off by the noise alone.
    plurality = np.array([data.PLURALITY_VALUES.index(p) + 1 for p in a["plurality"]])
    known = a["is_male"] != "Unknown"
    mean = data.expected_weight(
        a["gestation_weeks"][known], plurality[known], boys[known], a["mother_age"][known]
    )
    residual = weight[known] - mean
    assert abs(residual.mean()) < 0.05 and 0.95 < residual.std() < 1.15

    path = data.ensure_csv(str(tmp_path), "train", 100, seed=7)
    assert data.ensure_csv(str(tmp_path), "train", 100, seed=7) == path
    lines = Path(path).read_text().splitlines()
    assert lines[0] == ",".join(data.CSV_COLUMNS) and len(lines) == 101
    assert [p.name for p in tmp_path.iterdir()] == [Path(path).name]  # no temp files left


@pytest.mark.slow
def test_trainer_runs_and_reports_rmse_in_eval_summaries(tmp_path):
    job_dir = tmp_path / "job"
    env = trial_env(TF_HPTUNE_DATA_DIR=str(tmp_path / "unused"))
    cmd = [
        sys.executable,
        "-m",
        "trainer.task",
        "--job-dir",
        str(job_dir),
        "--train_examples",
        "3000",
        "--eval_examples",
        "1000",
        "--batch_size",
        "128",
        "--num_epochs",
        "8",
        "--eval_steps",
        "10",
        "--nnsize",
        "16",
        "--nembeds",
        "4",
        "--data_dir",
        str(tmp_path / "data"),
    ]
    proc = subprocess.run(
        cmd, cwd=EXAMPLE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not (tmp_path / "unused").exists()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "eval-n1000-seed20170912-v1.csv",
        "train-n3000-seed20170912-v1.csv",
    ]

    out = job_dir / "3"
    assert (out / "checkpoint").is_file()
    assert list(out.glob("model.ckpt-*.index"))
    assert list((out / "eval").glob("events.out.tfevents.*"))
    rmse = EventDirectoryScanner(out, "rmse").measurements()
    assert len(rmse) >= 2, rmse
    assert all(0.5 < value < 5.0 for _, value in rmse), rmse
    steps = [step for step, _ in rmse]
    assert steps == sorted(set(steps)) and steps[-1] == 188  # ceil(8 * 3000 / 128)
    # The evaluation's loss is found as well, from the eval directory only.
    scanner = EventDirectoryScanner(out, "loss")
    raw = scanner.read_new()
    assert {os.path.basename(src) for *_, src in raw} == {"eval", "3"}
    assert [step for step, _ in scanner.measurements()] == steps
