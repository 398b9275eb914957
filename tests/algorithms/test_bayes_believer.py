"""The kriging believer: pending points at the model's mean, conditioned on incrementally."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from tf_hptune.algorithms.bayes.believer import EXACT_JITTER, Believer
from tf_hptune.algorithms.bayes.gp import Columns, GaussianProcess
from tf_hptune.algorithms.bayes.stacked import Stacked

PLAIN = Columns(np.array([0, 1]), np.array([1.0, 1.0]))


def gp_on(X: np.ndarray, y: np.ndarray) -> GaussianProcess:
    return GaussianProcess.fit(X, (y - y.mean()) / y.std(), PLAIN)


def model(n: int = 15, seed: int = 0) -> GaussianProcess:
    X = np.random.default_rng(seed).random((n, 2))
    return gp_on(X, np.sin(5 * X[:, 0]) * np.cos(3 * X[:, 1]) + 0.1 * X[:, 1])


def joint_variance(gp: GaussianProcess, pending: np.ndarray, Xq: np.ndarray) -> np.ndarray:
    """The reference: the posterior variance given the trials (with the GP's noise) and exact
    values at ``pending``, from one joint covariance matrix."""
    every = np.vstack([gp.X, pending])
    K = gp.kernel(every, every)
    K[np.diag_indices_from(K)] += np.concatenate([
        np.full(len(gp.X), gp.hyper.noise + 1e-9),
        np.full(len(pending), EXACT_JITTER * gp.hyper.signal)])
    k = gp.kernel(every, Xq)
    return gp.hyper.signal - np.einsum("ij,ij->j", k, np.linalg.solve(K, k))


def test_added_rows_give_the_joint_posterior_in_blocks_or_one_by_one():
    gp = model()
    rng = np.random.default_rng(1)
    pending, added, pool, query = (rng.random((n, 2)) for n in (4, 3, 300, 50))
    believer = Believer(gp, pending, pool)
    for row in added:
        believer.add(row)
    every = np.vstack([pending, added])
    assert np.array_equal(believer.rows, every)
    reference = joint_variance(gp, every, np.vstack([pool, query]))
    mean, base_var, var = believer.pool_predict()
    assert np.allclose(var, np.maximum(reference[:300], 0.0), atol=1e-8)
    assert np.allclose(believer.predict(query)[1], np.maximum(reference[300:], 0), atol=1e-8)
    # the mean stays the model's, and the variance only shrinks, most near the pending rows
    assert np.allclose(mean, gp.predict(pool)[0]) and np.allclose(base_var, gp.predict(pool)[1])
    assert np.all(var <= base_var + 1e-12)
    near = believer.predict(every + 1e-3)[1]
    assert np.all(near < 0.05 * gp.predict(every + 1e-3)[1])
    # one block of all the rows, or none at all, agrees
    assert np.allclose(Believer(gp, every, pool).pool_predict()[2], var, atol=1e-10)
    assert np.array_equal(Believer(gp, np.empty((0, 2)), pool).pool_predict()[2], base_var)


def test_gradients_match_finite_differences():
    gp = model(n=8)
    rng = np.random.default_rng(2)
    believer = Believer(gp, rng.random((3, 2)), rng.random((10, 2)))
    for x in rng.random((5, 2)):
        mean, var, d_mean, d_var = believer.predict_grad(x)
        assert (mean, var) == pytest.approx(tuple(v[0] for v in believer.predict(x[None])))
        for index, grad in ((0, d_mean), (1, d_var)):
            assert optimize.check_grad(lambda z, i=index: believer.predict(z[None])[i][0],
                                       lambda z, i=index: believer.predict_grad(z)[2 + i], x) < (
                1e-5 * (1 + np.abs(grad).sum()))


def test_a_stacked_model_keeps_its_mean_and_shrinks_its_residual_variance():
    rng = np.random.default_rng(3)
    X_old, X = rng.random((40, 2)), rng.random((8, 2))
    below = gp_on(X_old, np.sin(6 * X_old[:, 0]) + X_old[:, 1])
    y = np.sin(6 * X[:, 0]) + X[:, 1] + 0.3
    stacked = Stacked.fit(X, (y - y.mean()) / y.std(), PLAIN, below)
    pending, pool = rng.random((2, 2)), rng.random((100, 2))
    believer = Believer(stacked, pending, pool)
    mean, _, var = believer.pool_predict()
    assert np.allclose(mean, stacked.mean(pool))
    assert np.allclose(var, np.maximum(joint_variance(stacked.gp, pending, pool), 0), atol=1e-8)
    assert believer.predict(pending)[1].max() < 1e-4 * stacked.hyper.signal
