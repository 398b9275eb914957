"""The stacked model: an earlier job's GP as the prior mean of the new job's."""
from __future__ import annotations

import numpy as np
import pytest

from tf_hptune.algorithms.bayes.gp import Columns, GaussianProcess
from tf_hptune.algorithms.bayes.stacked import MAX_WEIGHT, Stacked, fit_chain

PLAIN = Columns(np.array([0, 1]), np.array([1.0, 1.0]))


def task(X: np.ndarray) -> np.ndarray:
    return np.sin(6 * X[:, 0]) + np.cos(4 * X[:, 1]) + 2 * X[:, 0]


def standard(y: np.ndarray) -> np.ndarray:
    return (y - y.mean()) / y.std()


def prior_model(objective=task, n: int = 60) -> GaussianProcess:
    X = np.random.default_rng(0).random((n, 2))
    return GaussianProcess.fit(X, standard(objective(X)), PLAIN)


def new_trials(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).random((n, 2))
    return X, standard(3.0 * task(X) + 5.0)


def held_out_error(model, X: np.ndarray, y_train: np.ndarray, X_train: np.ndarray) -> float:
    """RMSE on fresh points of the new task, in the training data's standard units."""
    y = 3.0 * task(X) + 5.0
    raw = 3.0 * task(X_train) + 5.0
    return float(np.sqrt(np.mean((model.predict(X)[0] - (y - raw.mean()) / raw.std()) ** 2)))


def test_a_prior_that_predicts_the_new_trials_keeps_its_weight_and_helps():
    X, y = new_trials(6)
    stacked = Stacked.fit(X, y, PLAIN, prior_model())
    plain = GaussianProcess.fit(X, y, PLAIN)
    assert 0.5 < stacked.weight <= MAX_WEIGHT
    test = np.random.default_rng(2).random((300, 2))
    assert held_out_error(stacked, test, y, X) < 0.5 * held_out_error(plain, test, y, X)
    assert stacked.loo_log_likelihood() > plain.loo_log_likelihood()


@pytest.mark.parametrize("objective", [task, lambda X: -task(X)])
def test_its_targets_are_the_results_it_was_fitted_to(objective):
    # whether the weight is kept or clipped to 0, the residuals plus the basis give y back
    X, y = new_trials(8)
    assert np.allclose(Stacked.fit(X, y, PLAIN, prior_model(objective)).y, y)


def test_a_prior_that_predicts_them_backwards_fades_to_weight_zero():
    X, y = new_trials(12)
    stacked = Stacked.fit(X, y, PLAIN, prior_model(lambda X: -task(X)))
    assert stacked.weight == 0.0
    plain = GaussianProcess.fit(X, y, PLAIN)
    test = np.random.default_rng(2).random((300, 2))
    # with weight 0 it is the plain GP up to an intercept: about as good
    assert held_out_error(stacked, test, y, X) < 1.2 * held_out_error(plain, test, y, X) + 0.05


def test_gradients_match_finite_differences():
    X, y = new_trials(8)
    model = Stacked.fit(X, y, PLAIN, prior_model())
    x, h = np.array([0.3, 0.6]), 1e-6
    mean, var, d_mean, d_var = model.predict_grad(x)
    assert (mean, var) == pytest.approx(tuple(v[0] for v in model.predict(x[None, :])))
    for c in range(2):
        step = np.eye(2)[c] * h
        (m1, m0), (v1, v0) = zip(*(
            tuple(v[0] for v in model.predict((x + s)[None, :])) for s in (step, -step)))
        assert d_mean[c] == pytest.approx((m1 - m0) / (2 * h), rel=1e-4, abs=1e-6)
        assert d_var[c] == pytest.approx((v1 - v0) / (2 * h), rel=1e-4, abs=1e-6)
    value, grad = model.mean_grad(x)
    assert value == pytest.approx(mean) and grad == pytest.approx(d_mean)


def test_a_chain_stacks_jobs_oldest_first():
    rng = np.random.default_rng(3)
    levels = []
    for scale in (1.0, 2.0):
        X = rng.random((30, 2))
        levels.append((X, standard(scale * task(X)), PLAIN))
    chain = fit_chain(levels)
    assert isinstance(chain, Stacked) and isinstance(chain.below, GaussianProcess)
    assert fit_chain([]) is None


def test_a_parameter_the_earlier_job_lacked_weighs_nothing():
    # the earlier job had only x0: its model must be flat along x1
    X = np.column_stack([np.random.default_rng(0).random(30), np.zeros(30)])
    model = GaussianProcess.fit(X, standard(np.sin(6 * X[:, 0])),
                                Columns(np.array([0, 1]), np.array([1.0, 0.0])))
    query = np.array([[0.3, 0.0], [0.3, 0.9]])
    assert model.mean(query)[0] == pytest.approx(model.mean(query)[1])
