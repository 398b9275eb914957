"""Synthetic, census-like data for the census example.

The UCI Adult (census income) data the original example trained on is not available offline,
so this module draws a deterministic stand-in with the same kind of columns. Whether a person
earns more than 50K follows a logistic model with non-linear terms (an inverted U in age,
diminishing returns of hours worked, a capital-gain threshold) and interactions (education
pays more in professional occupations, marriage more at middle age), so a deep model beats a
linear one. About a quarter of the rows are positive; the best possible accuracy is about 0.84.
"""

from __future__ import annotations

import numpy as np

LABEL_COLUMN = "income_bracket"
LABEL_VALUES = ["<=50K", ">50K"]
DEFAULT_SEED = 19940501

WORKCLASS = ["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov",
             "State-gov", "Without-pay"]
EDUCATION = ["Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th",
             "HS-grad", "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters",
             "Prof-school", "Doctorate"]  # education_num is the index plus one
MARITAL_STATUS = ["Married-civ-spouse", "Never-married", "Divorced", "Separated", "Widowed",
                  "Married-spouse-absent"]
OCCUPATION = ["Prof-specialty", "Exec-managerial", "Tech-support", "Sales", "Craft-repair",
              "Adm-clerical", "Machine-op-inspct", "Transport-moving", "Protective-serv",
              "Farming-fishing", "Handlers-cleaners", "Other-service", "Priv-house-serv"]
RELATIONSHIP = ["Husband", "Wife", "Not-in-family", "Own-child", "Unmarried", "Other-relative"]
RACE = ["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"]
GENDER = ["Male", "Female"]
NATIVE_COUNTRY = ["United-States", "Mexico", "Philippines", "Germany", "Canada", "India",
                  "England", "Cuba", "China", "Other"]

CATEGORICAL = {
    "workclass": WORKCLASS,
    "education": EDUCATION,
    "marital_status": MARITAL_STATUS,
    "occupation": OCCUPATION,
    "relationship": RELATIONSHIP,
    "race": RACE,
    "gender": GENDER,
    "native_country": NATIVE_COUNTRY,
}
#: Numeric columns with the (mean, standard deviation) the model normalizes them with.
NUMERIC = {
    "age": (38.0, 13.0),
    "education_num": (10.0, 2.6),
    "capital_gain": (1000.0, 6000.0),
    "capital_loss": (90.0, 400.0),
    "hours_per_week": (40.0, 12.0),
}

_OCCUPATION_EFFECT = np.array([0.9, 1.1, 0.5, 0.3, 0.0, -0.3, -0.5, -0.3, 0.4, -0.9, -1.0,
                               -1.4, -2.0])
_OCCUPATION_SKILLED = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
_WORKCLASS_EFFECT = np.array([0.0, -0.3, 0.8, 0.4, 0.0, -0.1, -2.0])


def _pick(rng: np.random.Generator, n: int, weights: list[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def income_logit(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Log-odds of earning more than 50K, from integer-coded columns."""
    age = cols["age"]
    edu = cols["education_num"]
    occupation = cols["occupation"]
    married = cols["marital_status"] == 0
    hours = cols["hours_per_week"]
    logit = (
        -2.4
        - 0.0022 * (age - 50.0) ** 2
        + 0.28 * (edu - 10.0)
        + 0.22 * np.where(_OCCUPATION_SKILLED[occupation], 1.0, 0.0) * np.maximum(edu - 12.0, 0)
        + _OCCUPATION_EFFECT[occupation]
        + _WORKCLASS_EFFECT[cols["workclass"]]
        + married * (1.2 + 0.8 * np.exp(-(((age - 45.0) / 12.0) ** 2)))
        + 1.2 * np.tanh((hours - 40.0) / 12.0)
        + np.where(cols["capital_gain"] > 5000, 3.0, 0.0)
        + np.where(cols["capital_loss"] > 1500, 1.0, 0.0)
        + 0.25 * (cols["gender"] == 0)
    )
    return logit


def generate(n: int, seed: int = DEFAULT_SEED) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n`` rows as (features, labels): strings for categorical columns, float32 for numeric
    ones, labels 0/1; the same for the same seed."""
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(rng.gamma(6.0, 6.5, size=n) + 17.0), 17, 90)
    education = _pick(rng, n, [1, 2, 4, 8, 7, 10, 12, 5, 130, 90, 17, 13, 65, 22, 7, 5])
    gender = _pick(rng, n, [2, 1])
    marital = _pick(rng, n, [46, 33, 14, 3, 3, 1])
    marital = np.where((age < 24) & (rng.random(n) < 0.7), 1, marital)
    occupation = np.where(
        education >= 12,
        _pick(rng, n, [30, 30, 6, 12, 3, 8, 1, 1, 2, 1, 1, 4, 1]),
        _pick(rng, n, [3, 8, 3, 11, 16, 12, 9, 7, 2, 4, 6, 14, 1]),
    )
    workclass = _pick(rng, n, [70, 8, 3, 3, 6, 4, 0.3])
    husband_or_wife = np.where(gender == 0, 0, 1)
    relationship = np.where(marital == 0, husband_or_wife, _pick(rng, n, [0, 0, 50, 30, 20, 6]))
    relationship = np.where((marital != 0) & (age < 25) & (rng.random(n) < 0.6), 3, relationship)
    hours = np.clip(np.round(rng.normal(40.0, 11.0, size=n)), 1, 99)
    capital_gain = np.where(rng.random(n) < 0.08, np.round(rng.lognormal(8.5, 1.0, size=n)), 0)
    capital_loss = np.where(rng.random(n) < 0.05, np.round(rng.normal(1800, 400, size=n)), 0)
    codes = {
        "age": age,
        "education_num": education + 1.0,
        "occupation": occupation,
        "marital_status": marital,
        "hours_per_week": hours,
        "capital_gain": np.clip(capital_gain, 0, 99999),
        "capital_loss": np.clip(capital_loss, 0, 4356),
        "workclass": workclass,
        "gender": gender,
    }
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-income_logit(codes)))).astype(np.int64)
    features: dict[str, np.ndarray] = {
        name: codes[name].astype(np.float32) for name in NUMERIC
    }
    features.update(
        workclass=np.array(WORKCLASS)[workclass],
        education=np.array(EDUCATION)[education],
        marital_status=np.array(MARITAL_STATUS)[marital],
        occupation=np.array(OCCUPATION)[occupation],
        relationship=np.array(RELATIONSHIP)[relationship],
        race=np.array(RACE)[_pick(rng, n, [85, 10, 3, 1, 1])],
        gender=np.array(GENDER)[gender],
        native_country=np.array(NATIVE_COUNTRY)[
            _pick(rng, n, [90, 2, 0.6, 0.4, 0.4, 0.3, 0.3, 0.3, 0.2, 5.5])
        ],
    )
    return features, labels


def split(n: int, split_name: str, seed: int = DEFAULT_SEED):
    """The ``train`` or ``eval`` split: disjoint draws from the same population."""
    return generate(n, seed + (0 if split_name == "train" else 1_000_003))
