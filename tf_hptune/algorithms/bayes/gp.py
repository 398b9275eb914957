"""Gaussian-process regression for the Bayesian designer (numpy and scipy only).

The model is a zero-mean GP on warped, standardised losses with a Matern-5/2 kernel with one
lengthscale per parameter (ARD). A parameter may own several columns (a one-hot CATEGORICAL);
its squared distance is the sum over its columns, halved for one-hot columns so that two
different categories are at distance 1 (a Hamming distance). Two optional parts learn what a
mixed space needs (see ``Columns``): a DISCRETE parameter whose values are unevenly spaced on
its scale is placed between its value and its rank by a learned blend, and a second kernel
term, specific to each combination of categories, has its own lengthscales there. Kernel
hyperparameters are the MAP estimate: the marginal likelihood times weak priors, maximised by
L-BFGS-B with analytic gradients.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, special, stats

SQRT5 = math.sqrt(5.0)
MIN_NOISE = 1e-6  # noise variance floor, relative to the standardised outputs
JITTER = 1e-9
EXACT_JITTER = 1e-6  # relative to the signal variance, for values of f known exactly
BLEND_PRIOR_SD = 1.5  # of the logit of a DISCRETE parameter's value/rank blend


@dataclass(frozen=True)
class Blend:
    """A DISCRETE parameter's column placed at ``(1 - t) u + t rank(u)``: ``knots`` are the
    unit positions of its values (increasing), ``ranks`` their evenly spaced positions, and
    ``rank(u)`` interpolates between them (constant beyond the ends)."""

    column: int
    knots: np.ndarray
    ranks: np.ndarray

    def rank(self, u: np.ndarray) -> np.ndarray:
        return np.interp(u, self.knots, self.ranks)

    def slope(self, u: np.ndarray) -> np.ndarray:
        """d rank / d u (0 beyond the ends)."""
        i = np.clip(np.searchsorted(self.knots, u, side="right") - 1, 0, len(self.knots) - 2)
        inside = (u >= self.knots[0]) & (u <= self.knots[-1])
        return np.where(inside, np.diff(self.ranks)[i] / np.diff(self.knots)[i], 0.0)


@dataclass(frozen=True)
class Columns:
    """How unit columns map to parameters: ``owner[c]`` is the parameter of column ``c``;
    ``weight[c]`` scales its squared difference (0.5 for one-hot columns, else 1).

    ``blends``: DISCRETE columns placed between value and rank by a learned ``t`` each.
    ``groups``, when given, are the one-hot column slices of the CATEGORICAL parameters; the
    combination of their values is a point's group, and the kernel then has a second,
    group-specific term over the other parameters, with its own lengthscales in each group
    (see ``GaussianProcess``)."""

    owner: np.ndarray
    weight: np.ndarray
    groups: tuple[slice, ...] = ()
    blends: tuple[Blend, ...] = ()

    @property
    def n_params(self) -> int:
        return int(self.owner.max()) + 1

    @property
    def n_groups(self) -> int:
        """Combinations of the grouping categories (0: no group-specific term)."""
        return math.prod(sl.stop - sl.start for sl in self.groups) if self.groups else 0

    @property
    def numeric(self) -> np.ndarray:
        """The parameters the group-specific term measures distance in (not the grouping
        categories)."""
        grouping = {int(self.owner[sl.start]) for sl in self.groups}
        return np.array([p for p in range(self.n_params) if p not in grouping], dtype=int)

    @property
    def n_theta(self) -> int:
        """Length of ``Hyper.theta`` for these columns."""
        specific = self.n_groups * len(self.numeric) + 1 if self.groups else 0
        return self.n_params + 2 + len(self.blends) + specific

    def scale(self, lengthscales: np.ndarray) -> np.ndarray:
        """Per-column factors f with r^2 = sum_c f_c^2 (x_c - x'_c)^2."""
        return np.sqrt(self.weight) / lengthscales[self.owner]

    def place(self, X: np.ndarray, blend: np.ndarray) -> np.ndarray:
        """The rows with each blended column at its blend ``t``."""
        if not self.blends:
            return X
        X = X.copy()
        for b, t in zip(self.blends, blend):
            X[:, b.column] = (1.0 - t) * X[:, b.column] + t * b.rank(X[:, b.column])
        return X

    def place_slope(self, x: np.ndarray, blend: np.ndarray) -> np.ndarray:
        """d place(x) / dx for one row, column by column."""
        slope = np.ones(len(x))
        for b, t in zip(self.blends, blend):
            slope[b.column] = (1.0 - t) + t * float(b.slope(x[b.column : b.column + 1])[0])
        return slope

    def group_of(self, X: np.ndarray) -> np.ndarray:
        """Each row's group: the combination of its categories, as one integer."""
        ids = np.zeros(len(X), dtype=int)
        for sl in self.groups:
            ids = ids * (sl.stop - sl.start) + np.argmax(X[:, sl], axis=1)
        return ids

    def specific_scale(self, lengthscales: np.ndarray) -> np.ndarray:
        """(groups, columns) factors of the group-specific term; 0 on the grouping columns."""
        full = np.full((self.n_groups, self.n_params), np.inf)
        full[:, self.numeric] = lengthscales
        return np.sqrt(self.weight)[None, :] / full[:, self.owner]


@dataclass(frozen=True)
class Hyper:
    """Kernel hyperparameters: logs of ``n_params`` lengthscales, of the signal variance and
    of the noise variance; then the logit of each blend; with groups, the logs of the
    group-specific lengthscales (groups x numeric parameters, row by row) and of that term's
    variance."""

    theta: np.ndarray
    n_params: int
    n_blends: int = 0

    @property
    def lengthscales(self) -> np.ndarray:
        return np.exp(self.theta[: self.n_params])

    @property
    def signal(self) -> float:
        """The shared term's variance."""
        return float(np.exp(self.theta[self.n_params]))

    @property
    def noise(self) -> float:
        return float(np.exp(self.theta[self.n_params + 1]))

    @property
    def blend(self) -> np.ndarray:
        """Each blended column's ``t`` (0: by value, 1: by rank)."""
        start = self.n_params + 2
        return special.expit(self.theta[start : start + self.n_blends])

    @property
    def _specific_start(self) -> int:
        return self.n_params + 2 + self.n_blends

    @property
    def specific_lengthscales(self) -> np.ndarray:
        """Flat, groups x numeric parameters (empty without groups)."""
        return np.exp(self.theta[self._specific_start : -1])

    @property
    def specific(self) -> float:
        """The group-specific term's variance (0 without groups)."""
        return float(np.exp(self.theta[-1])) if len(self.theta) > self._specific_start else 0.0

    @property
    def variance(self) -> float:
        """The prior variance of f at any point."""
        return self.signal + self.specific


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


def warp_outputs(losses: np.ndarray) -> np.ndarray:
    """Standardised, Yeo-Johnson-warped losses (lambda by maximum likelihood, as in HEBO):
    heavy tails of bad values are pulled in, so the model spends its accuracy on good values."""
    y = np.asarray(losses, dtype=float)
    spread = y.std()
    if len(y) < 3 or spread <= 0.0:
        return y - y.mean()
    z = (y - y.mean()) / spread
    try:
        warped = stats.yeojohnson(z)[0]
    except (ValueError, FloatingPointError, OverflowError):
        warped = z
    if not np.all(np.isfinite(warped)) or warped.std() <= 0.0:
        warped = z
    return (warped - warped.mean()) / warped.std()


class GaussianProcess:
    """A fitted GP: ``predict`` and ``predict_grad`` for new points, ``condition`` to add
    values of f (the fantasies at pending points) with the same hyperparameters.

    The kernel is ``signal * k(x, x')`` over every column, plus, when ``columns.groups`` are
    given, ``specific * k_g(x, x')`` for two points of the same group g, over the other
    parameters with group g's own lengthscales: what the categories share, and how each
    combination of categories differs, including which parameters matter in it. Blended
    columns enter both at their learned places. ``exact[i]`` marks an observation that is a
    value of f itself, without noise.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, columns: Columns, hyper: Hyper,
                 exact: np.ndarray | None = None) -> None:
        self.X, self.y, self.columns, self.hyper = X, y, columns, hyper
        self.exact = np.zeros(len(y), dtype=bool) if exact is None else exact
        self._factor = columns.scale(hyper.lengthscales)
        self._Xp = columns.place(X, hyper.blend)
        self._Xs = self._Xp * self._factor
        if columns.groups:
            self._group = columns.group_of(X)
            self._specific_factor = columns.specific_scale(
                hyper.specific_lengthscales.reshape(columns.n_groups, -1))
        K = self._cross(X)
        K[np.diag_indices_from(K)] += np.where(self.exact, EXACT_JITTER * hyper.variance,
                                               hyper.noise + JITTER)
        self._chol = linalg.cho_factor(K, lower=True, check_finite=False)
        self._alpha = linalg.cho_solve(self._chol, y, check_finite=False)

    @staticmethod
    def default_hyper(columns: Columns) -> Hyper:
        """Unit lengthscales and signal, little noise, blends halfway, a small
        group-specific term: where a fit starts without a guess."""
        p, m = columns.n_params, len(columns.blends)
        specific = ([0.0] * (columns.n_theta - p - m - 3) + [math.log(0.1)]
                    if columns.groups else [])
        return Hyper(np.concatenate([np.zeros(p), [0.0, -5.0], np.zeros(m), specific]), p, m)

    @classmethod
    def fit(
        cls, X: np.ndarray, y: np.ndarray, columns: Columns, start: Hyper | None = None
    ) -> "GaussianProcess":
        """MAP hyperparameters, searched from ``start`` (a previous fit: few steps are needed
        when a trial or two were added) or else from ``default_hyper``."""
        p, m = columns.n_params, len(columns.blends)
        default = cls.default_hyper(columns).theta
        theta0 = (start.theta if start is not None and len(start.theta) == columns.n_theta
                  else default)
        length = (math.log(0.01), math.log(20.0))
        bounds = [length] * p + [(math.log(0.05), math.log(20.0)),
                                 (math.log(MIN_NOISE), math.log(2.0))] + [(-6.0, 6.0)] * m
        if columns.groups:
            bounds += [length] * (columns.n_theta - len(bounds) - 1) + [
                (math.log(1e-3), math.log(20.0))]
        result = optimize.minimize(
            _Posterior(X, y, columns), np.clip(theta0, *np.array(bounds).T),
            jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200},
        )
        theta = result.x if np.all(np.isfinite(result.x)) else default
        return cls(X, y, columns, Hyper(theta, p, m))

    def condition(self, X_new: np.ndarray, f_new: np.ndarray) -> "GaussianProcess":
        """The same model, told that f is ``f_new`` at ``X_new`` exactly (no noise): what a
        kriging believer assumes of pending points, so that it looks elsewhere even when the
        objective is noisy."""
        return GaussianProcess(np.vstack([self.X, X_new]), np.concatenate([self.y, f_new]),
                               self.columns, self.hyper,
                               np.concatenate([self.exact, np.ones(len(f_new), dtype=bool)]))

    def _cross(self, Xq: np.ndarray) -> np.ndarray:
        """Prior covariances of f between the rows of ``Xq`` and the training rows."""
        Xp = self.columns.place(Xq, self.hyper.blend)
        K = self.hyper.signal * matern52(_sq_dist(Xp * self._factor, self._Xs))
        if self.columns.groups:
            K += self._specific(Xp, self.columns.group_of(Xq), self._Xp, self._group)
        return K

    def _specific(self, A: np.ndarray, group_a: np.ndarray, B: np.ndarray,
                  group_b: np.ndarray) -> np.ndarray:
        """The group-specific term between the (placed) rows of A and B."""
        out = np.zeros((len(A), len(B)))
        for g in np.intersect1d(group_a, group_b):
            ia, ib = np.flatnonzero(group_a == g), np.flatnonzero(group_b == g)
            f = self._specific_factor[g]
            out[np.ix_(ia, ib)] = self.hyper.specific * matern52(_sq_dist(A[ia] * f, B[ib] * f))
        return out

    def _cross_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The covariances of f at one point with the training rows, and their gradients
        (n, columns) in the point's columns (its group held)."""
        xp = self.columns.place(x[None, :], self.hyper.blend)[0]
        scaled = (xp[None, :] - self._Xp) * self._factor
        r2 = (scaled**2).sum(1)
        k = self.hyper.signal * matern52(r2)
        dk = 2.0 * self.hyper.signal * matern52_grad(r2)[:, None] * scaled * self._factor
        if self.columns.groups:
            g = int(self.columns.group_of(x[None, :])[0])
            same = np.flatnonzero(self._group == g)
            f = self._specific_factor[g]
            scaled = (xp[None, :] - self._Xp[same]) * f
            r2 = (scaled**2).sum(1)
            k[same] += self.hyper.specific * matern52(r2)
            dk[same] += 2.0 * self.hyper.specific * matern52_grad(r2)[:, None] * scaled * f
        if self.columns.blends:
            dk *= self.columns.place_slope(x, self.hyper.blend)
        return k, dk

    def mean(self, Xq: np.ndarray) -> np.ndarray:
        """Posterior mean of f at the rows of ``Xq``."""
        return self._cross(Xq) @ self._alpha

    def mean_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Posterior mean at one point and its gradient with respect to the columns."""
        k, dk = self._cross_grad(x)
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

    def predict(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of f at the rows of ``Xq``."""
        k = self._cross(Xq)
        mean = k @ self._alpha
        v = linalg.solve_triangular(self._chol[0], k.T, lower=True, check_finite=False)
        var = np.maximum(self.hyper.variance - (v * v).sum(0), 0.0)
        return mean, var

    def sample(self, Xq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """DEV: one joint posterior draw of f at the rows of ``Xq``."""
        k = self._cross(Xq)
        v = linalg.solve_triangular(self._chol[0], k.T, lower=True, check_finite=False)
        Xp = self.columns.place(Xq, self.hyper.blend)
        cov = self.hyper.signal * matern52(_sq_dist(Xp * self._factor, Xp * self._factor))
        if self.columns.groups:
            group = self.columns.group_of(Xq)
            cov += self._specific(Xp, group, Xp, group)
        cov -= v.T @ v
        cov[np.diag_indices_from(cov)] += 1e-8 * self.hyper.variance
        w, U = np.linalg.eigh(cov)
        z = rng.standard_normal(len(Xq))
        return k @ self._alpha + U @ (np.sqrt(np.maximum(w, 0.0)) * z)

    def predict_grad(
        self, x: np.ndarray
    ) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients with respect to the columns of one point."""
        k, dk = self._cross_grad(x)
        kinv_k = linalg.cho_solve(self._chol, k, check_finite=False)
        mean = float(k @ self._alpha)
        var = float(self.hyper.variance - k @ kinv_k)
        return mean, max(var, 0.0), dk.T @ self._alpha, -2.0 * dk.T @ kinv_k


def _column_sq_diffs(X: np.ndarray, columns: Columns) -> np.ndarray:
    """(n, n, params) squared differences per parameter, one-hot columns halved."""
    diff2 = (X[:, None, :] - X[None, :, :]) ** 2 * columns.weight
    out = np.zeros(X.shape[:1] * 2 + (columns.n_params,))
    np.add.at(out, (slice(None), slice(None), columns.owner), diff2)
    return out


class _Posterior:
    """Minus (log marginal likelihood + log prior) of theta, with its gradient, for one
    training set: what ``GaussianProcess.fit`` minimises."""

    def __init__(self, X: np.ndarray, y: np.ndarray, columns: Columns) -> None:
        self.y, self.columns = y, columns
        self.p, self.m = columns.n_params, len(columns.blends)
        self.diffs = _column_sq_diffs(X, columns)
        # a blended parameter's squared difference at t is
        # (1 - t)^2 du^2 + 2 t (1 - t) du dr + t^2 dr^2, of its value u and rank r
        self.blend_parts = []
        for b in columns.blends:
            u = X[:, b.column]
            du, dr = u[:, None] - u[None, :], (b.rank(u)[:, None] - b.rank(u)[None, :])
            weight = columns.weight[b.column]
            self.blend_parts.append((int(columns.owner[b.column]),
                                     weight * du**2, weight * du * dr, weight * dr**2))
        self.blocks = []
        if columns.groups:
            group = columns.group_of(X)
            self.blocks = [(int(g), np.flatnonzero(group == g)) for g in np.unique(group)]
            self.numeric = columns.numeric

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        y, p, m = self.y, self.p, self.m
        n = len(y)
        inv_ls2 = np.exp(-2.0 * theta[:p])
        signal, noise = math.exp(theta[p]), math.exp(theta[p + 1])
        diffs, d_diffs = self.diffs, []
        if m:
            diffs = diffs.copy()
            for (param, a, b, c), s in zip(self.blend_parts, theta[p + 2 : p + 2 + m]):
                t = float(special.expit(s))
                diffs[..., param] = (1 - t) ** 2 * a + 2 * t * (1 - t) * b + t**2 * c
                # d diffs / d logit t
                d_diffs.append((-2 * (1 - t) * a + 2 * (1 - 2 * t) * b + 2 * t * c)
                               * t * (1 - t))
        r2 = diffs @ inv_ls2
        M = matern52(r2)
        K = signal * M
        parts = []
        if self.blocks:
            q = len(self.numeric)
            specific = math.exp(theta[-1])
            inv_specific = np.exp(-2.0 * theta[p + 2 + m : -1]).reshape(-1, q)
            for g, rows in self.blocks:
                sub = diffs[np.ix_(rows, rows, self.numeric)]
                r2_b = sub @ inv_specific[g]
                M_b = matern52(r2_b)
                K[np.ix_(rows, rows)] += specific * M_b
                parts.append((sub, r2_b, M_b))
        K[np.diag_indices(n)] += noise + JITTER
        try:
            chol = linalg.cho_factor(K, lower=True, check_finite=False)
        except linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = linalg.cho_solve(chol, y, check_finite=False)
        log_lik = -0.5 * y @ alpha - np.log(np.diag(chol[0])).sum()
        W = np.outer(alpha, alpha) - linalg.cho_solve(chol, np.eye(n), check_finite=False)
        WdM = W * matern52_grad(r2)
        grad = np.zeros(len(theta))
        grad[:p] = -signal * inv_ls2 * (WdM.reshape(-1) @ diffs.reshape(n * n, p))
        grad[p] = 0.5 * signal * np.sum(W * M)
        grad[p + 1] = 0.5 * noise * np.trace(W)
        for j, ((param, *_), d) in enumerate(zip(self.blend_parts, d_diffs)):
            grad[p + 2 + j] = 0.5 * signal * inv_ls2[param] * np.sum(WdM * d)
        if self.blocks:
            position = {param: i for i, param in enumerate(self.numeric)}
            grad_specific = np.zeros_like(inv_specific)
            for (g, rows), (sub, r2_b, M_b) in zip(self.blocks, parts):
                WdM_b = W[np.ix_(rows, rows)] * matern52_grad(r2_b)
                k = len(rows)
                grad_specific[g] = -specific * inv_specific[g] * (
                    WdM_b.reshape(-1) @ sub.reshape(k * k, q))
                grad[-1] += 0.5 * specific * np.sum(W[np.ix_(rows, rows)] * M_b)
                for j, ((param, *_), d) in enumerate(zip(self.blend_parts, d_diffs)):
                    if param in position:
                        grad[p + 2 + j] += (0.5 * specific * inv_specific[g, position[param]]
                                            * np.sum(WdM_b * d[np.ix_(rows, rows)]))
            grad[p + 2 + m : -1] = grad_specific.reshape(-1)
        prior, prior_grad = self._log_prior(theta)
        return -(log_lik + prior), -(grad + prior_grad)

    def _log_prior(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Weak priors and their gradient in theta: -0.1 (l^2 + 1/l^2) for each lengthscale
        (as Optuna's GPSampler: flat between about 0.3 and 3, against extremes), log-normal
        variances around 1 (the shared and the group-specific term's), Gamma(1.1, 30)-like
        noise variance (small unless the data say so), and a normal logit of each blend."""
        p, m = self.p, self.m
        kind = np.full(len(theta), "l")
        kind[p], kind[p + 1], kind[p + 2 : p + 2 + m] = "v", "n", "b"
        if self.blocks:
            kind[-1] = "v"
        ls, var, blend, noise = (theta[kind == "l"], theta[kind == "v"], theta[kind == "b"],
                                 theta[p + 1])
        value = (-0.1 * np.sum(np.exp(2 * ls) + np.exp(-2 * ls)) - 0.5 * np.sum(var**2)
                 - 0.5 * np.sum((blend / BLEND_PRIOR_SD) ** 2))
        value += 0.1 * noise - 30.0 * math.exp(noise)
        grad = np.zeros(len(theta))
        grad[kind == "l"] = -0.2 * (np.exp(2 * ls) - np.exp(-2 * ls))
        grad[kind == "v"] = -var
        grad[kind == "b"] = -blend / BLEND_PRIOR_SD**2
        grad[p + 1] = 0.1 - 30.0 * math.exp(noise)
        return float(value), grad


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
