"""Acquisition functions: pure functions of the posterior (mean, standard deviation).

Losses are minimised, so the improvement at a point is ``best - f``. ``log_ei`` is the
logarithm of expected improvement computed without underflow far from the incumbent (Ament et
al., 2023, "Unexpected improvements to expected improvement"), so that the acquisition
optimizer still sees a slope where plain EI would be exactly zero. ``LogEI`` applies it to a
fitted model's posterior, in the form the acquisition optimizer takes.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from tf_hptune.algorithms.bayes.believer import Believer
from tf_hptune.algorithms.bayes.stacked import Model

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_Z_FLOOR = -1e6  # below this, log h(z) ~ -z^2/2 - 3 log|z| is used instead


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """log E[max(best - f, 0)] for f ~ N(mean, std^2); where std is 0 the improvement is
    certain, ``max(best - mean, 0)``, and its log is -inf when no improvement is possible."""
    mean, std = np.broadcast_arrays(np.asarray(mean, float), np.asarray(std, float))
    out = np.empty(mean.shape)
    certain = std <= 0.0
    with np.errstate(divide="ignore"):
        out[certain] = np.log(np.maximum(best - mean[certain], 0.0))
    z = (best - mean[~certain]) / std[~certain]
    out[~certain] = _log_h(z) + np.log(std[~certain])
    return out


def log_expected_improvement_grad(
    mean: float, std: float, best: float
) -> tuple[float, float, float]:
    """log EI at one point with its derivatives in mean and std (std > 0)."""
    z = (best - mean) / std
    log_h = float(_log_h(np.array([z]))[0])
    # h(z) = phi(z) + z Phi(z); h'(z) = Phi(z); d log h / dz = Phi(z) / h(z)
    ratio = math.exp(special.log_ndtr(z) - log_h)
    d_mean = -ratio / std
    d_std = 1.0 / std - ratio * z / std
    return log_h + math.log(std), d_mean, d_std


def _log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)), stable for very negative z."""
    z = np.asarray(z, dtype=float)
    out = np.empty(z.shape)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu**2 - _LOG_SQRT_2PI) + zu * special.ndtr(zu))
    zl = np.maximum(z[~upper], _Z_FLOOR)
    # phi(z) + z Phi(z) = phi(z) (1 + z sqrt(pi/2) erfcx(-z / sqrt 2)) for z <= -1
    tail = np.log1p(zl * _SQRT_HALF_PI * special.erfcx(-zl / math.sqrt(2.0)))
    out[~upper] = -0.5 * zl**2 - _LOG_SQRT_2PI + tail
    return out


class LogEI:
    """log EI of a model's posterior over unit rows, with its gradient for one row;
    ``pool_values`` when the model is a ``Believer``, at its pool."""

    def __init__(self, gp: Model | Believer, best: float) -> None:
        self.gp, self.best = gp, best
        self.floor = 1e-12 * gp.hyper.signal  # variance below which the posterior is certain

    def score(self, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
        """``values`` from the posterior's mean and variance at the rows."""
        return log_expected_improvement(mean, np.sqrt(np.maximum(var, 0.0)), self.best)

    def values(self, rows: np.ndarray) -> np.ndarray:
        return self.score(*self.gp.predict(rows))

    def pool_values(self) -> np.ndarray:
        assert isinstance(self.gp, Believer)
        mean, _, var = self.gp.pool_predict()
        return self.score(mean, var)

    def value_grad(self, row: np.ndarray) -> tuple[float, np.ndarray]:
        return self.grad_from(*self.gp.predict_grad(row))

    def grad_from(self, mean: float, var: float, d_mean: np.ndarray,
                  d_var: np.ndarray) -> tuple[float, np.ndarray]:
        """``value_grad`` from the posterior's mean and variance with their gradients."""
        std = math.sqrt(max(var, self.floor))
        value, g_mean, g_std = log_expected_improvement_grad(mean, std, self.best)
        return value, g_mean * d_mean + g_std * d_var / (2.0 * std)


class Relevant:
    """A batch member's acquisition: ``inner`` (log EI under the ``believer``'s fantasies of
    the batch), but only where the real posterior (the believer's base model) leaves the point
    a chance to improve: its mean less ``kappa`` standard deviations at or below ``best``.
    Fantasies shrink the variance around the points already in the batch, so without this the
    later members go wherever the model is least sure, even where it is sure they do worse (the
    relevant region of batch GP-UCB-PE, Contal et al., 2013). Elsewhere the value is -inf."""

    def __init__(self, inner: LogEI, believer: Believer, best: float, kappa: float) -> None:
        self.inner, self.believer, self.best, self.kappa = inner, believer, best, kappa

    def _relevant(self, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
        return mean - self.kappa * np.sqrt(np.maximum(var, 0.0)) <= self.best

    def values(self, rows: np.ndarray) -> np.ndarray:
        mean, base_var, var = self.believer.predict_base(rows)
        return np.where(self._relevant(mean, base_var), self.inner.score(mean, var), -np.inf)

    def pool_values(self) -> np.ndarray:
        mean, var, _ = self.believer.pool_predict()
        return np.where(self._relevant(mean, var), self.inner.pool_values(), -np.inf)

    def value_grad(self, row: np.ndarray) -> tuple[float, np.ndarray]:
        mean, base_var, var, d_mean, d_var = self.believer.predict_grad_base(row)
        if not self._relevant(np.array([mean]), np.array([base_var]))[0]:
            return -np.inf, np.zeros(len(row))
        return self.inner.grad_from(mean, var, d_mean, d_var)


class LowMean:
    """Minus the posterior mean, in the form the acquisition optimizer takes: where the model
    expects the best result."""

    def __init__(self, gp: Model) -> None:
        self.gp = gp

    def values(self, rows: np.ndarray) -> np.ndarray:
        return -self.gp.mean(rows)

    def value_grad(self, row: np.ndarray) -> tuple[float, np.ndarray]:
        mean, grad = self.gp.mean_grad(row)
        return -mean, -grad
