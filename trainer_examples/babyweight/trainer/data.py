"""Synthetic, natality-like data for the babyweight example.

The public natality data the original example trained on is not available offline, so this
module draws a deterministic stand-in with the same columns and realistic relations:

* ``weight_pounds`` (the label) grows with ``gestation_weeks`` along an S-shaped curve, is
  lower for multiple births (which also come earlier), slightly higher for boys, and follows a
  slight inverted U in ``mother_age``; noise has a standard deviation of ``NOISE_SD`` pounds,
  which is the floor for a model's RMSE.
* As in the original preprocessing, some rows hide what an ultrasound cannot tell: ``is_male``
  becomes ``Unknown`` and ``plurality`` becomes ``Single(1)`` or ``Multiple(2+)``.

Files are written once per (split, size, seed) into a cache directory, atomically, so parallel
trials that race to create them all end up reading the same complete file.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

CSV_COLUMNS = ["weight_pounds", "is_male", "mother_age", "plurality", "gestation_weeks"]
LABEL_COLUMN = "weight_pounds"
IS_MALE_VALUES = ["True", "False", "Unknown"]
PLURALITY_VALUES = [
    "Single(1)",
    "Twins(2)",
    "Triplets(3)",
    "Quadruplets(4)",
    "Quintuplets(5)",
    "Multiple(2+)",
]
NOISE_SD = 1.05
DEFAULT_SEED = 20170912
FORMAT_VERSION = 1

# Births per plurality (1..5): more multiples than in real data, so that the model has to learn
# how they differ.
_PLURALITY_P = np.array([0.90, 0.07, 0.02, 0.006, 0.004])
_PLURALITY_WEEKS_EARLIER = np.array([0.0, 3.0, 6.0, 7.5, 8.5])
_PLURALITY_WEIGHT_FACTOR = np.array([1.0, 0.86, 0.76, 0.70, 0.65])
_HIDDEN_FRACTION = 0.3  # rows with ultrasound-only information


def default_data_dir() -> str:
    """``$TF_HPTUNE_DATA_DIR`` or ``~/.cache/tf_hptune/babyweight``."""
    return os.environ.get("TF_HPTUNE_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "tf_hptune", "babyweight"
    )


def expected_weight(
    gestation_weeks: np.ndarray,
    plurality: np.ndarray,
    is_male: np.ndarray,
    mother_age: np.ndarray,
) -> np.ndarray:
    """Mean birth weight in pounds; ``plurality`` is 1..5, ``is_male`` boolean."""
    growth = 1.0 + 7.4 / (1.0 + np.exp(-(gestation_weeks - 33.6) / 2.5))
    factor = _PLURALITY_WEIGHT_FACTOR[plurality - 1]
    sex = np.where(is_male, 0.28, 0.0)
    age = -0.0022 * (mother_age - 30.0) ** 2
    return growth * factor + sex * factor + age


def generate(n: int, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """``n`` rows of synthetic natality data, as columns; the same for the same seed."""
    rng = np.random.default_rng(seed)
    plurality = rng.choice(5, size=n, p=_PLURALITY_P) + 1
    is_male = rng.random(n) < 0.512
    mother_age = np.clip(np.round(rng.normal(28.0, 6.0, size=n)), 15, 45)
    weeks = (
        40.5
        + rng.normal(0.0, 1.1, size=n)
        - rng.gamma(1.3, 1.2, size=n)
        - _PLURALITY_WEEKS_EARLIER[plurality - 1]
        - 0.03 * np.abs(mother_age - 28.0)
    )
    gestation = np.clip(np.round(weeks), 28, 44)
    weight = expected_weight(gestation, plurality, is_male, mother_age)
    weight = np.clip(weight + rng.normal(0.0, NOISE_SD, size=n), 0.5, 15.0)

    hidden = rng.random(n) < _HIDDEN_FRACTION
    is_male_str = np.where(is_male, "True", "False").astype(object)
    is_male_str[hidden] = "Unknown"
    plurality_str = np.array(PLURALITY_VALUES[:5], dtype=object)[plurality - 1]
    plurality_str[hidden & (plurality > 1)] = "Multiple(2+)"
    return {
        "weight_pounds": np.round(weight, 4),
        "is_male": is_male_str,
        "mother_age": mother_age,
        "plurality": plurality_str,
        "gestation_weeks": gestation,
    }


def to_csv(columns: dict[str, np.ndarray]) -> str:
    """CSV text with a header line."""
    lines = [",".join(CSV_COLUMNS)]
    rows = zip(*(columns[name] for name in CSV_COLUMNS))
    lines += [f"{w:.4f},{m},{a:.1f},{p},{g:.1f}" for w, m, a, p, g in rows]
    return "\n".join(lines) + "\n"


def ensure_csv(data_dir: str, split: str, n: int, seed: int = DEFAULT_SEED) -> str:
    """Path of the CSV file for ``split`` with ``n`` rows, generating it on first use."""
    split_seed = seed + (0 if split == "train" else 1_000_003)
    name = f"{split}-n{n}-seed{seed}-v{FORMAT_VERSION}.csv"
    path = os.path.join(data_dir, name)
    if os.path.exists(path):
        return path
    os.makedirs(data_dir, exist_ok=True)
    text = to_csv(generate(n, split_seed))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(tmp, path)  # atomic: readers see no file or a complete one
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
