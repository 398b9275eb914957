"""The Keras trainer that records curve families: real TensorFlow, a few dozen steps."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import record_curves


def test_configurations_are_seeded_prefixes_of_a_longer_draw():
    example = record_curves.EXAMPLES["lr_batch"]
    assert record_curves.sample_configs(example, 3, seed=5) == \
        record_curves.sample_configs(example, 6, seed=5)[:3]


@pytest.mark.slow
@pytest.mark.parametrize("flags", [
    ["--optimizer", "sgd", "--learning_rate", "0.05", "--batch_size", "16"],
    ["--problem", "classification", "--decay", "step", "--warmup", "0.3", "--dropout", "0.2"],
])
def test_keras_trainer_evaluates_at_equal_intervals(flags):
    argv = [*flags, "--train_steps", "40", "--num_evals", "4", "--train_examples", "200",
            "--eval_examples", "100", "--units", "8", "--layers", "1"]
    points = record_curves.keras_trainer(argv, seed=0)
    assert [s for s, _ in points] == [10, 20, 30, 40]
    values = np.array([v for _, v in points])
    assert np.all(np.isfinite(values))
    if "classification" in flags:
        assert np.all((values >= 0.0) & (values <= 1.0))  # an accuracy
    assert record_curves.keras_trainer(argv, seed=0) == points  # seeded
