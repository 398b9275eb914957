"""The kriging believer of a batch: the model told that f equals its own posterior mean at the
pending points (the running trials and the batch's members so far).

Its mean is the model's; its variance shrinks near the pending points, which pushes the rest of
a batch elsewhere. The pending points are conditioned on incrementally (the Schur complement of
the joint covariance, its Cholesky factor grown by blocks), and the predictions on one candidate
pool are kept up to date as members are added. So with n trials in the model, k pending points
and a pool of m candidates, a member costs O((n + k) m) there, instead of a new factor of the
n + k points and O((n + k)^2 m) to predict the pool again.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from tf_hptune.algorithms.bayes.gp import GaussianProcess, Hyper
from tf_hptune.algorithms.bayes.stacked import Model, Stacked

EXACT_JITTER = 1e-6  # relative to the signal variance: pending values are values of f, no noise


class Believer:
    """``model`` conditioned on exact values at its mean at the rows ``add``-ed (``pending``
    first); ``predict`` and ``predict_grad`` as a model's, ``pool_predict`` for ``pool``."""

    def __init__(self, model: Model, pending: np.ndarray, pool: np.ndarray) -> None:
        self.base = model
        self.hyper: Hyper = model.hyper
        # the covariance is the GP's (a stacked model's residual GP): the prior mean is fixed
        self._gp: GaussianProcess = model.gp if isinstance(model, Stacked) else model
        n, width = self._gp.X.shape
        self.rows = np.empty((0, width))
        self._A = np.empty((n, 0))  # K^-1 k(X, rows): K the trials' covariance, noise included
        self._R = np.empty((0, 0))  # lower Cholesky factor of the rows' covariance given X
        self.pool = pool
        self._pool_k = self._gp.kernel(self._gp.X, pool)
        self._pool_mean, self._pool_base_var = model.predict(pool, self._pool_k)
        self._pool_W = np.empty((0, len(pool)))  # R^-1 cov(rows, pool | X)
        self._pool_var = self._pool_base_var.copy()
        if len(pending):
            self.add(pending)

    def add(self, rows: np.ndarray) -> None:
        """Condition on the rows (one or more) at the model's mean there."""
        rows = np.atleast_2d(rows)
        gp, signal = self._gp, self.hyper.signal
        k_new = gp.kernel(gp.X, rows)  # (n, b)
        A_new = gp.solve(k_new)
        R12 = linalg.solve_triangular(  # (k, b)
            self._R, gp.kernel(self.rows, rows) - self._A.T @ k_new, lower=True,
            check_finite=False) if len(self.rows) else np.empty((0, len(rows)))
        S = gp.kernel(rows, rows) - k_new.T @ A_new - R12.T @ R12
        S[np.diag_indices_from(S)] += EXACT_JITTER * signal
        R22 = linalg.cholesky(S, lower=True, check_finite=False)
        k = len(self.rows)
        R = np.zeros((k + len(rows), k + len(rows)))
        R[:k, :k], R[k:, :k], R[k:, k:] = self._R, R12.T, R22
        cross = gp.kernel(rows, self.pool) - A_new.T @ self._pool_k - R12.T @ self._pool_W
        W_new = linalg.solve_triangular(R22, cross, lower=True, check_finite=False)
        self.rows = np.vstack([self.rows, rows])
        self._A = np.hstack([self._A, A_new])
        self._R = R
        self._pool_W = np.vstack([self._pool_W, W_new])
        self._pool_var = self._pool_var - (W_new**2).sum(0)

    def pool_predict(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At the pool's rows: the mean, the model's variance and the believer's variance."""
        return self._pool_mean, self._pool_base_var, np.maximum(self._pool_var, 0.0)

    def predict(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of f at the rows of ``Xq``."""
        mean, _, var = self.predict_base(Xq)
        return mean, var

    def predict_base(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``predict`` with the model's variance at the rows as the second value."""
        mean, base_var = self.base.predict(Xq)
        var = base_var
        if len(self.rows):
            gp = self._gp
            cross = gp.kernel(self.rows, Xq) - self._A.T @ gp.kernel(gp.X, Xq)
            W = linalg.solve_triangular(self._R, cross, lower=True, check_finite=False)
            var = np.maximum(var - (W**2).sum(0), 0.0)
        return mean, base_var, var

    def predict_grad(self, x: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients with respect to the columns of one point."""
        mean, _, var, d_mean, d_var = self.predict_grad_base(x)
        return mean, var, d_mean, d_var

    def predict_grad_base(
        self, x: np.ndarray
    ) -> tuple[float, float, float, np.ndarray, np.ndarray]:
        """``predict_grad`` with the model's variance at the point as the second value."""
        mean, base_var, d_mean, d_var = self.base.predict_grad(x)
        var = base_var
        if len(self.rows):
            gp = self._gp
            k_X, dk_X = gp.kernel_grad(x, gp.X)
            k_rows, dk_rows = gp.kernel_grad(x, self.rows)
            W = linalg.solve_triangular(
                self._R, np.column_stack([k_rows - self._A.T @ k_X, dk_rows - self._A.T @ dk_X]),
                lower=True, check_finite=False)
            w, dw = W[:, 0], W[:, 1:]
            var, d_var = var - float(w @ w), d_var - 2.0 * dw.T @ w
        return mean, base_var, max(var, 0.0), d_mean, d_var
