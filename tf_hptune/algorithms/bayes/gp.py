"""Gaussian-process regression for the Bayesian designer (numpy and scipy only).

The model is a zero-mean GP on warped, standardised losses with a Matern-5/2 kernel with one
lengthscale per parameter (ARD). A parameter may own several columns (a one-hot CATEGORICAL);
its squared distance is the sum over its columns, halved for one-hot columns so that two
different categories are at distance 1 (a Hamming distance). Kernel hyperparameters (log
lengthscales, log signal variance, log noise variance) are the MAP estimate: the marginal
likelihood times weak priors, maximised by L-BFGS-B with analytic gradients. An optional
``InputWarp`` moves some columns before the kernel sees them (a DISCRETE parameter's values
placed by rank instead of by value).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize
from scipy.linalg import lapack

SQRT5 = math.sqrt(5.0)
MIN_NOISE = 1e-6  # noise variance floor, relative to the standardised outputs
JITTER = 1e-9


@dataclass(frozen=True)
class Columns:
    """How unit columns map to parameters: ``owner[c]`` is the parameter of column ``c``;
    ``weight[c]`` scales its squared difference (0.5 for one-hot columns, else 1)."""

    owner: np.ndarray
    weight: np.ndarray

    @property
    def n_params(self) -> int:
        return int(self.owner.max()) + 1

    def scale(self, lengthscales: np.ndarray) -> np.ndarray:
        """Per-column factors f with r^2 = sum_c f_c^2 (x_c - x'_c)^2."""
        return np.sqrt(self.weight) / lengthscales[self.owner]


@dataclass(frozen=True)
class InputWarp:
    """A monotone piecewise-linear map of some unit columns, the others unchanged: column
    ``columns[j]`` goes through the points (``knots[j]``, ``targets[j]``) (increasing, at
    least two), and past the ends along the end segments (an earlier job's rows may lie
    outside [0, 1])."""

    columns: tuple[int, ...]
    knots: tuple[np.ndarray, ...]
    targets: tuple[np.ndarray, ...]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The rows of ``X`` (or one row) with the warped columns moved."""
        out = np.array(X, dtype=float)
        for c, knots, targets in zip(self.columns, self.knots, self.targets):
            u = out[..., c]
            i = self._segment(u, knots)
            out[..., c] = targets[i] + (u - knots[i]) * self._slope(i, knots, targets)
        return out

    def slopes(self, x: np.ndarray) -> np.ndarray:
        """d warp(x) / dx, column by column, at one row."""
        out = np.ones(len(x))
        for c, knots, targets in zip(self.columns, self.knots, self.targets):
            out[c] = self._slope(self._segment(x[c], knots), knots, targets)
        return out

    @staticmethod
    def _segment(u: np.ndarray, knots: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(knots, u, side="right") - 1, 0, len(knots) - 2)

    @staticmethod
    def _slope(i: np.ndarray, knots: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return (targets[i + 1] - targets[i]) / (knots[i + 1] - knots[i])


@dataclass(frozen=True)
class Hyper:
    """Kernel hyperparameters as logs: lengthscales..., signal variance, noise variance."""

    theta: np.ndarray

    @property
    def lengthscales(self) -> np.ndarray:
        return np.exp(self.theta[:-2])

    @property
    def signal(self) -> float:
        return float(np.exp(self.theta[-2]))

    @property
    def noise(self) -> float:
        return float(np.exp(self.theta[-1]))


def matern52(r2: np.ndarray) -> np.ndarray:
    """The unit-variance Matern-5/2 kernel as a function of the squared scaled distance."""
    r = np.sqrt(np.maximum(r2, 0.0))
    return (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * np.exp(-SQRT5 * r)


def matern52_grad(r2: np.ndarray) -> np.ndarray:
    """d matern52 / d r2 (finite at 0)."""
    r = np.sqrt(np.maximum(r2, 0.0))
    return (-5.0 / 6.0) * (1.0 + SQRT5 * r) * np.exp(-SQRT5 * r)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances of the rows of a and b (already scaled)."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


def warp_outputs(losses: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardised, Yeo-Johnson-warped losses (lambda by maximum likelihood, as in HEBO):
    heavy tails of bad values are pulled in, so the model spends its accuracy on good values.
    With the log Jacobian of the map (its mean, scale and lambda held fixed), which puts a
    model's evidence for the warped losses on the scale of the losses (``standardise``)."""
    y = np.asarray(losses, dtype=float)
    spread = y.std()
    if len(y) < 3 or spread <= 0.0:
        return standardise(y)
    z = (y - y.mean()) / spread
    with np.errstate(all="ignore"):
        lam = yeo_johnson_lambda(z)
        warped = yeo_johnson(z, lam)
    if not np.all(np.isfinite(warped)) or warped.std() <= 0.0:
        return standardise(y)
    slope = float(np.sum(yeo_johnson_log_slope(z, lam)))
    return ((warped - warped.mean()) / warped.std(),
            slope - len(y) * (math.log(spread) + math.log(warped.std())))


def standardise(losses: np.ndarray) -> tuple[np.ndarray, float]:
    """Losses less their mean, over their standard deviation (if any), and the log Jacobian."""
    y = np.asarray(losses, dtype=float)
    spread = y.std()
    if spread <= 0.0:
        return y - y.mean(), 0.0
    return (y - y.mean()) / spread, -len(y) * math.log(spread)


def yeo_johnson_log_slope(z: np.ndarray, lam: float) -> np.ndarray:
    """log d yeo_johnson(z, lam) / dz, elementwise."""
    return (lam - 1.0) * np.sign(z) * np.log1p(np.abs(z))


def yeo_johnson(z: np.ndarray, lam: np.ndarray | float) -> np.ndarray:
    """The Yeo-Johnson transform of ``z`` (last axis) for each ``lam`` (broadcast)."""
    lam = np.asarray(lam, dtype=float)[..., None]
    a = np.log1p(np.abs(z))
    near0, near2 = np.abs(lam) < 1e-12, np.abs(lam - 2.0) < 1e-12
    up = np.where(near0, a, np.expm1(lam * a) / np.where(near0, 1.0, lam))
    down = np.where(near2, -a, -np.expm1((2.0 - lam) * a) / np.where(near2, 1.0, 2.0 - lam))
    return np.where(z >= 0, up, down)


def yeo_johnson_lambda(z: np.ndarray) -> float:
    """The lambda of most likelihood under a normal model of the transformed values: a grid
    over [-4, 6], then a bounded scalar search around its best (scipy's own search costs a few
    milliseconds per call in its argument checks, at every suggestion)."""
    jacobian = float((np.sign(z) * np.log1p(np.abs(z))).sum())

    def log_likelihood(lam: np.ndarray) -> np.ndarray:
        var = yeo_johnson(z, lam).var(axis=-1)
        out = -0.5 * len(z) * np.log(var) + (np.asarray(lam) - 1.0) * jacobian
        return np.where(np.isfinite(out), out, -np.inf)

    grid = np.linspace(-4.0, 6.0, 101)
    start = float(grid[int(np.argmax(log_likelihood(grid)))])
    found = optimize.minimize_scalar(lambda lam: -float(log_likelihood(lam)), method="bounded",
                                     bounds=(start - 0.1, start + 0.1),
                                     options={"xatol": 1e-6})
    return float(found.x) if found.success else start


def _log_prior(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Weak priors and their gradient in theta: -0.1 (l^2 + 1/l^2) for each lengthscale (as
    Optuna's GPSampler: flat between about 0.3 and 3, against extremes), log-normal signal
    variance around 1, and Gamma(1.1, 30)-like noise variance (small unless the data say so)."""
    ls, sig, noise = theta[:-2], theta[-2], theta[-1]
    value = -0.1 * np.sum(np.exp(2 * ls) + np.exp(-2 * ls)) - 0.5 * sig**2
    value += 0.1 * noise - 30.0 * math.exp(noise)
    grad = np.concatenate([-0.2 * (np.exp(2 * ls) - np.exp(-2 * ls)), [-sig],
                           [0.1 - 30.0 * math.exp(noise)]])
    return float(value), grad


class GaussianProcess:
    """A fitted GP: ``predict`` and ``predict_grad`` for new points; ``kernel`` and
    ``kernel_grad`` for the prior covariance (what ``believer.Believer`` conditions with).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, columns: Columns, hyper: Hyper,
                 warp: InputWarp | None = None) -> None:
        self.X, self.y, self.columns, self.hyper, self.warp = X, y, columns, hyper, warp
        self._factor = columns.scale(hyper.lengthscales)
        K = self.kernel(X, X)
        K[np.diag_indices_from(K)] += hyper.noise + JITTER
        self._chol = linalg.cho_factor(K, lower=True, check_finite=False)
        self._alpha = linalg.cho_solve(self._chol, y, check_finite=False)

    @staticmethod
    def default_hyper(columns: Columns) -> Hyper:
        """Unit lengthscales and signal, little noise: where a fit starts without a guess."""
        return Hyper(np.concatenate([np.zeros(columns.n_params), [0.0, -5.0]]))

    @classmethod
    def fit(
        cls, X: np.ndarray, y: np.ndarray, columns: Columns, start: Hyper | None = None,
        warp: InputWarp | None = None,
    ) -> "GaussianProcess":
        """MAP hyperparameters, searched from ``start`` (a previous fit: few steps are needed
        when a trial or two were added) or else from ``default_hyper``."""
        p = columns.n_params
        default = cls.default_hyper(columns).theta
        theta0 = start.theta if start is not None and len(start.theta) == p + 2 else default
        bounds = [(math.log(0.01), math.log(20.0))] * p + [
            (math.log(0.05), math.log(20.0)), (math.log(MIN_NOISE), math.log(2.0))]
        diffs = _column_sq_diffs(X if warp is None else warp(X), columns)
        result = optimize.minimize(
            _neg_log_posterior, np.clip(theta0, *np.array(bounds).T), args=(diffs, y),
            jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200},
        )
        theta = result.x if np.all(np.isfinite(result.x)) else default
        return cls(X, y, columns, Hyper(theta), warp)

    def log_evidence(self) -> float:
        """What the fit maximised at its hyperparameters: log marginal likelihood (without
        its constant) plus log prior; comparable between fits to the same ``y``."""
        log_lik = -0.5 * self.y @ self._alpha - np.log(np.diag(self._chol[0])).sum()
        return float(log_lik + _log_prior(self.hyper.theta)[0])

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """The prior covariance of f between the rows of ``A`` and of ``B``."""
        if self.warp is not None:
            A, B = self.warp(A), self.warp(B)
        return self.hyper.signal * matern52(_sq_dist(A * self._factor, B * self._factor))

    def kernel_grad(self, x: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The prior covariance of f between one point and the rows of ``B``, and its
        gradient with respect to the point's columns (one row per row of ``B``)."""
        factor = self._factor
        if self.warp is not None:
            factor = factor * self.warp.slopes(x)  # the chain rule through the warp
            x, B = self.warp(x), self.warp(B)
        scaled = (x[None, :] - B) * self._factor
        r2 = (scaled**2).sum(1)
        k = self.hyper.signal * matern52(r2)
        return k, 2.0 * self.hyper.signal * matern52_grad(r2)[:, None] * scaled * factor

    def mean(self, Xq: np.ndarray) -> np.ndarray:
        """Posterior mean of f at the rows of ``Xq``."""
        return self.kernel(Xq, self.X) @ self._alpha

    def mean_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Posterior mean at one point and its gradient with respect to the columns."""
        k, dk = self.kernel_grad(x, self.X)
        return float(k @ self._alpha), dk.T @ self._alpha

    def solve(self, b: np.ndarray) -> np.ndarray:
        """K^-1 b, with K the covariance of the observations (noise included)."""
        return linalg.cho_solve(self._chol, b, check_finite=False)

    def loo_log_likelihood(self) -> float:
        """Sum over the observations of the log density of each under the model fitted to
        the others (same hyperparameters; closed form, Rasmussen and Williams, eq. 5.12)."""
        inv_diag = np.diag(self.solve(np.eye(len(self.y))))
        var = 1.0 / inv_diag
        err = self._alpha * var
        return float(np.sum(-0.5 * np.log(2.0 * math.pi * var) - 0.5 * err**2 / var))

    def predict(self, Xq: np.ndarray, cross: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of f at the rows of ``Xq``; ``cross``, where the caller
        has it, is ``kernel(X, Xq)``."""
        k = self.kernel(Xq, self.X) if cross is None else cross.T
        mean = k @ self._alpha
        v = linalg.solve_triangular(self._chol[0], k.T, lower=True, check_finite=False)
        var = np.maximum(self.hyper.signal - (v * v).sum(0), 0.0)
        return mean, var

    def predict_grad(
        self, x: np.ndarray
    ) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients with respect to the columns of one point."""
        k, dk = self.kernel_grad(x, self.X)
        kinv_k = linalg.cho_solve(self._chol, k, check_finite=False)
        mean = float(k @ self._alpha)
        var = float(self.hyper.signal - k @ kinv_k)
        return mean, max(var, 0.0), dk.T @ self._alpha, -2.0 * dk.T @ kinv_k


def _column_sq_diffs(X: np.ndarray, columns: Columns) -> np.ndarray:
    """(n, n, params) squared differences per parameter, one-hot columns halved."""
    diff2 = (X[:, None, :] - X[None, :, :]) ** 2 * columns.weight
    out = np.zeros(X.shape[:1] * 2 + (columns.n_params,))
    np.add.at(out, (slice(None), slice(None), columns.owner), diff2)
    return out


def _neg_log_posterior(
    theta: np.ndarray, diffs: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Minus (log marginal likelihood + log prior) and its gradient in theta."""
    n, p = len(y), diffs.shape[-1]
    inv_ls2 = np.exp(-2.0 * theta[:p])
    signal, noise = math.exp(theta[-2]), math.exp(theta[-1])
    r2 = diffs @ inv_ls2
    M = matern52(r2)
    K = signal * M
    K[np.diag_indices(n)] += noise + JITTER
    try:
        chol = linalg.cho_factor(K, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = linalg.cho_solve(chol, y, check_finite=False)
    log_lik = -0.5 * y @ alpha - np.log(np.diag(chol[0])).sum()
    inverse = lapack.dpotri(chol[0], lower=1)[0]  # K^-1 from its factor, lower triangle
    W = np.outer(alpha, alpha) - (np.tril(inverse) + np.tril(inverse, -1).T)
    WdM = W * matern52_grad(r2)
    grad_ls = -signal * inv_ls2 * (WdM.reshape(-1) @ diffs.reshape(n * n, p))
    grad = np.concatenate([grad_ls, [0.5 * signal * np.sum(W * M), 0.5 * noise * np.trace(W)]])
    prior, prior_grad = _log_prior(theta)
    return -(log_lik + prior), -(grad + prior_grad)


def training_subset(X: np.ndarray, losses: np.ndarray, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` rows: the best third by loss, then the rest chosen
    greedily farthest from those already kept (a spread-out cover of the space)."""
    if len(X) <= limit:
        return np.arange(len(X))
    order = np.argsort(losses, kind="stable")
    keep = list(order[: limit // 3])
    rest = order[limit // 3 :]
    Xr = X[rest]
    dist = _sq_dist(Xr, X[keep]).min(axis=1)
    for _ in range(limit - len(keep)):
        j = int(np.argmax(dist))
        keep.append(rest[j])
        dist = np.minimum(dist, ((Xr - Xr[j]) ** 2).sum(-1))
        dist[j] = -1.0
    return np.array(keep)
