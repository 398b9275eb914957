"""Transfer through the model: a GP fitted to an earlier job's trials is the prior mean of the
new job's GP, which then models only what the earlier one gets wrong (stacked GPs, as in
Vizier; Golovin et al., 2017).

The stacked mean is ``b0 + b1 * prior(x) + residual(x)``. The coefficients are estimated from
the new trials by generalised least squares under the residual GP's covariance (a GP with
explicit basis functions, Rasmussen and Williams, 2006, section 2.7) with the priors
b0 ~ N(0, 1) and b1 ~ N(1, 1), and b1 is held in [0, ``MAX_WEIGHT``]. So the earlier job is
followed while there are few new trials; one that predicts the new trials keeps its weight, one
that does not (or predicts them backwards) fades to weight 0, and the model becomes the plain
GP. The coefficients enter as point estimates: their variance, added to the posterior's, would
be largest where the prior is surest that results are bad (large ``prior(x)``), and with the
weight held non-negative it would only draw the search there.
"""
from __future__ import annotations

from typing import Union

import numpy as np

from tf_hptune.algorithms.bayes.gp import Columns, GaussianProcess, Hyper, InputWarp

COEF_MEAN = np.array([0.0, 1.0])  # prior means of the intercept and of the weight
COEF_PRECISION = np.diag([1.0, 1.0])  # their prior precisions (unit variances)
MAX_WEIGHT = 2.0


class Stacked:
    """A GP on residuals over a prior model; the same interface as ``GaussianProcess``
    (``predict``, ``predict_grad``, ``mean``, ``mean_grad``, ``X``, ``y``, ``hyper``); its variance
    is the residual GP's (``gp``)."""

    def __init__(self, gp: GaussianProcess, below: Model, coef: np.ndarray) -> None:
        self.gp, self.below, self.coef = gp, below, coef

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, columns: Columns, below: Model,
            start: Hyper | None = None, warp: InputWarp | None = None) -> Stacked:
        """Coefficients by GLS under a first kernel (``start``, or unit lengthscales), the
        kernel's MAP hyperparameters on what they leave, then the coefficients again. The
        residual GP sees the columns through ``warp``; the prior model as it was fitted."""
        H = np.column_stack([np.ones(len(y)), below.mean(X)])
        first = start if start is not None else GaussianProcess.default_hyper(columns)
        coef = _coefficients(GaussianProcess(X, y, columns, first, warp), H, y)
        gp = GaussianProcess.fit(X, y - H @ coef, columns, start=first, warp=warp)
        coef = _coefficients(gp, H, y)
        return cls(GaussianProcess(X, y - H @ coef, columns, gp.hyper, warp), below, coef)

    @property
    def X(self) -> np.ndarray:
        return self.gp.X

    @property
    def hyper(self) -> Hyper:
        return self.gp.hyper

    @property
    def y(self) -> np.ndarray:
        """The targets it was fitted to (residuals plus the basis at the trials)."""
        return self.gp.y + self.coef[0] + self.coef[1] * self.below.mean(self.X)

    def loo_log_likelihood(self) -> float:
        """The residual GP's (coefficients held fixed)."""
        return self.gp.loo_log_likelihood()

    @property
    def weight(self) -> float:
        """How much of the prior's prediction the model follows (0 to ``MAX_WEIGHT``)."""
        return float(self.coef[1])

    def mean(self, Xq: np.ndarray) -> np.ndarray:
        return self.gp.mean(Xq) + self.coef[0] + self.coef[1] * self.below.mean(Xq)

    def mean_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        mean, grad = self.gp.mean_grad(x)
        prior, prior_grad = self.below.mean_grad(x)
        return mean + self.coef[0] + self.coef[1] * prior, grad + self.coef[1] * prior_grad

    def predict(self, Xq: np.ndarray, cross: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        mean, var = self.gp.predict(Xq, cross)
        return mean + self.coef[0] + self.coef[1] * self.below.mean(Xq), var

    def predict_grad(self, x: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        mean, var, d_mean, d_var = self.gp.predict_grad(x)
        prior, d_prior = self.below.mean_grad(x)
        return (mean + self.coef[0] + self.coef[1] * prior, var,
                d_mean + self.coef[1] * d_prior, d_var)


Model = Union[GaussianProcess, Stacked]  # a runtime alias: no `|` on Python 3.9


def _coefficients(gp: GaussianProcess, H: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Posterior mean of the coefficients of the basis ``H`` under ``gp``'s covariance; a
    weight outside [0, MAX_WEIGHT] is clipped and the intercept re-estimated given it."""
    A = H.T @ gp.solve(H) + COEF_PRECISION
    b = H.T @ gp.solve(y) + COEF_PRECISION @ COEF_MEAN
    coef = np.linalg.solve(A, b)
    if not 0.0 <= coef[1] <= MAX_WEIGHT:
        weight = min(max(coef[1], 0.0), MAX_WEIGHT)
        coef = np.array([(b[0] - A[0, 1] * weight) / A[0, 0], weight])
    return coef


def fit_chain(levels: list[tuple[np.ndarray, np.ndarray, Columns]]) -> Model | None:
    """One model of several earlier jobs, oldest first: each job's GP is stacked on the ones
    before it. ``levels`` holds each job's rows, warped losses and columns."""
    model: Model | None = None
    for X, y, columns in levels:
        model = (GaussianProcess.fit(X, y, columns) if model is None
                 else Stacked.fit(X, y, columns, model))
    return model
