"""Test functions for the optimizer benchmark: each a search space in the service's YAML shape,
a noise-free objective to minimise, its global minimum, and the noise added in its noisy form.

Continuous classics (Branin, Hartmann-3/6, Ackley-5, Rosenbrock-4, Levy-5) and mixed problems
that look like tuning jobs: integer-rounded Levy, Hartmann-3 on a discrete grid, Hartmann-3
whose category permutes its inputs, a learning-rate-like loss over a log-scaled learning rate,
a discrete batch size, an integer depth, a dropout and a categorical optimizer; Hartmann-6 on
integers, uneven discrete grids, two doubles and a categorical switch that moves the best
doubles; and a conditional-like tuning loss whose optimizer choice decides which other
parameters matter and, with an unevenly listed batch size, where the best learning rate is.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Function:
    """``params``: the ``hyperparameters.params`` list; ``objective``: typed params -> value."""

    name: str
    params: list[dict[str, Any]]
    objective: Callable[[Params], float]
    optimum: float
    noise: float = 0.0  # standard deviation of the Gaussian noise of the noisy form

    def noisy(self, noise: float) -> "Function":
        return Function(f"{self.name}+noise", self.params, self.objective, self.optimum, noise)

    @cached_property
    def names(self) -> list[str]:
        return [p["parameterName"] for p in self.params]


def _double(name: str, low: float, high: float, log: bool = False) -> dict[str, Any]:
    spec = {"parameterName": name, "type": "DOUBLE", "minValue": low, "maxValue": high}
    return {**spec, "scaleType": "UNIT_LOG_SCALE"} if log else spec


def _box(prefix: str, dims: int, low: float, high: float) -> list[dict[str, Any]]:
    return [_double(f"{prefix}{i}", low, high) for i in range(dims)]


def _vector(params: Params, names: list[str]) -> np.ndarray:
    return np.array([float(params[n]) for n in names])


def branin(x: np.ndarray) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s)


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547],
                         [381, 5743, 8828]])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886],
                         [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650],
                         [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_MIN, _H6_MIN = -3.8627797869493365, -3.322368011391339


def hartmann(x: np.ndarray, A: np.ndarray, P: np.ndarray) -> float:
    return float(-_H_ALPHA @ np.exp(-(A * (x - P) ** 2).sum(1)))


def ackley(x: np.ndarray) -> float:
    d = len(x)
    return float(-20 * math.exp(-0.2 * math.sqrt((x**2).sum() / d))
                 - math.exp(np.cos(2 * math.pi * x).sum() / d) + 20 + math.e)


def rosenbrock(x: np.ndarray) -> float:
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


def levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    mid = ((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2)).sum()
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def _on(f: Callable[[np.ndarray], float], names: list[str]) -> Callable[[Params], float]:
    return lambda p: f(_vector(p, names))


def _continuous(name: str, f: Callable[[np.ndarray], float], dims: int, low: float,
                high: float, optimum: float) -> Function:
    params = _box("x", dims, low, high)
    return Function(name, params, _on(f, [p["parameterName"] for p in params]), optimum)


# -- mixed problems ----------------------------------------------------------------------------

_GRID = [round(v, 1) for v in np.linspace(0.0, 1.0, 11)]


def _hartmann3_discrete() -> Function:
    params = [{"parameterName": f"x{i}", "type": "DISCRETE", "discreteValues": _GRID}
              for i in range(3)]
    best = min(hartmann(np.array(x), _H3_A, _H3_P) for x in itertools.product(_GRID, repeat=3))
    names = [p["parameterName"] for p in params]
    return Function("hartmann3-discrete", params,
                    _on(lambda x: hartmann(x, _H3_A, _H3_P), names), best)


_PERMUTATIONS = {"a": ([2, 0, 1], 0.6), "b": ([0, 1, 2], 0.0), "c": ([1, 2, 0], 1.2),
                 "d": ([2, 1, 0], 0.3)}


def _hartmann3_categorical() -> Function:
    params = [*_box("x", 3, 0.0, 1.0),
              {"parameterName": "kind", "type": "CATEGORICAL", "categoricalValues": list("abcd")}]

    def objective(p: Params) -> float:
        order, offset = _PERMUTATIONS[p["kind"]]
        return hartmann(_vector(p, ["x0", "x1", "x2"])[order], _H3_A, _H3_P) + offset

    return Function("hartmann3-categorical", params, objective, _H3_MIN)


def _levy_integer() -> Function:
    params = [{"parameterName": f"x{i}", "type": "INTEGER", "minValue": -10, "maxValue": 10}
              for i in range(4)]
    return Function("levy4-integer", params, _on(levy, [p["parameterName"] for p in params]),
                    0.0)


_OPTIMIZERS = {"sgd": (-1.0, 0.3), "adam": (-3.0, 0.0), "rmsprop": (-2.5, 0.1)}


def _training_like() -> Function:
    """A validation-loss-like surface: the best learning rate depends on the optimizer and
    the batch size, depth and dropout interact; minimum 0 (adam, lr 1e-3, batch 128, ...)."""
    params = [
        _double("learning_rate", 1e-5, 1.0, log=True),
        {"parameterName": "batch_size", "type": "DISCRETE",
         "discreteValues": [16, 32, 64, 128, 256, 512], "scaleType": "UNIT_LOG_SCALE"},
        {"parameterName": "layers", "type": "INTEGER", "minValue": 1, "maxValue": 8},
        _double("dropout", 0.0, 0.7),
        {"parameterName": "optimizer", "type": "CATEGORICAL",
         "categoricalValues": list(_OPTIMIZERS)},
    ]

    def objective(p: Params) -> float:
        centre, offset = _OPTIMIZERS[p["optimizer"]]
        batch = math.log2(p["batch_size"] / 128)
        lr = math.log10(p["learning_rate"]) - centre - 0.25 * batch
        depth = p["layers"] - 5
        return (0.5 * lr**2 + 0.05 * batch**2 + 0.04 * depth**2
                + 2.0 * (p["dropout"] - 0.2 - 0.02 * depth) ** 2 + offset)

    return Function("training-like", params, objective, 0.0)


# Integer and uneven-grid inputs placed so that Hartmann-6's minimiser is on the grid.
_H6_OPT = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
_H6_GRID2 = [0.0, 0.1, 0.25, 0.45, 0.5, 0.7, 1.0]
_H6_GRID3 = [0.0, 0.15, 0.25, 0.4, 0.6, 0.8, 1.0]
# the switch: how each category reads the two doubles (mirror or swap them), and its offset
_H6_SWITCH = {"p": (lambda u: u, 0.0), "q": (lambda u: 1.0 - u, 0.1),
              "r": (lambda u: u[::-1], 0.2)}


def _hartmann6_mixed() -> Function:
    """Hartmann-6: x0, x1 INTEGER 0..20 (read as i/20), x2, x3 on uneven DISCRETE grids, x4, x5
    DOUBLE, and a 3-way CATEGORICAL that mirrors or swaps x4, x5 and adds an offset; minimum
    Hartmann-6's (switch p, x0 = 4, x1 = 3, x2 = 0.45, x3 = 0.25)."""
    params = [
        {"parameterName": "x0", "type": "INTEGER", "minValue": 0, "maxValue": 20},
        {"parameterName": "x1", "type": "INTEGER", "minValue": 0, "maxValue": 20},
        {"parameterName": "x2", "type": "DISCRETE", "discreteValues": _H6_GRID2},
        {"parameterName": "x3", "type": "DISCRETE", "discreteValues": _H6_GRID3},
        _double("x4", 0.0, 1.0), _double("x5", 0.0, 1.0),
        {"parameterName": "switch", "type": "CATEGORICAL", "categoricalValues": list(_H6_SWITCH)},
    ]
    shift = _H6_OPT - np.array([0.2, 0.15, 0.45, 0.25, 0.0, 0.0])

    def objective(p: Params) -> float:
        read, offset = _H6_SWITCH[p["switch"]]
        x = np.array([p["x0"] / 20, p["x1"] / 20, p["x2"], p["x3"], 0.0, 0.0]) + shift
        x[4:] = read(np.array([p["x4"], p["x5"]], dtype=float))
        return hartmann(x, _H6_A, _H6_P) + offset

    return Function("hartmann6-mixed", params, objective, _H6_MIN)


# optimizer: (base loss, best log10 lr at batch 64, log10 lr per doubling of the batch,
# best batch size); momentum matters only for "momentum", weight decay only for "adamw"
_HPO_OPTIMIZERS = {"sgd": (0.15, -1.0, 0.3, 256), "momentum": (0.05, -2.0, 0.3, 128),
                   "adam": (0.08, -3.0, 0.15, 64), "adamw": (0.0, -3.0, 0.15, 64)}
_BATCHES = [8, 16, 32, 48, 64, 96, 128, 256, 512, 1024]


def _hpo_conditional() -> Function:
    """A tuning-like loss with conditional structure: the optimizer decides the best learning
    rate (with the batch size, listed unevenly and on a linear scale, as users list them) and
    whether momentum or weight decay matter at all; minimum 0 (adamw, batch 64, lr 1e-3,
    weight decay 1e-2, 256 units)."""
    params = [
        {"parameterName": "optimizer", "type": "CATEGORICAL",
         "categoricalValues": list(_HPO_OPTIMIZERS)},
        _double("learning_rate", 1e-5, 1.0, log=True),
        _double("momentum", 0.0, 0.99),
        _double("weight_decay", 1e-6, 0.1, log=True),
        {"parameterName": "batch_size", "type": "DISCRETE", "discreteValues": _BATCHES},
        {"parameterName": "units", "type": "INTEGER", "minValue": 16, "maxValue": 1024,
         "scaleType": "UNIT_LOG_SCALE"},
    ]

    def objective(p: Params) -> float:
        base, centre, slope, best_batch = _HPO_OPTIMIZERS[p["optimizer"]]
        doublings = math.log2(p["batch_size"] / 64)
        lr = math.log10(p["learning_rate"])
        loss = base + 0.04 * math.log2(p["batch_size"] / best_batch) ** 2
        loss += 0.03 * math.log2(p["units"] / 256) ** 2
        if p["optimizer"] == "momentum":  # the effective rate is lr / (1 - momentum)
            lr -= math.log10(1.0 - p["momentum"])
            loss += 0.5 * (p["momentum"] - 0.9) ** 2
        if p["optimizer"] == "adamw":
            loss += 0.1 * (math.log10(p["weight_decay"]) + 2.0) ** 2
        return loss + 0.5 * (lr - centre - slope * doublings) ** 2

    return Function("hpo-conditional", params, objective, 0.0)


def suite() -> list[Function]:
    """The benchmark's functions, noise-free then noisy."""
    functions = [
        Function("branin", [_double("x0", -5.0, 10.0), _double("x1", 0.0, 15.0)],
                 _on(branin, ["x0", "x1"]), 0.39788735772973816),
        _continuous("hartmann3", lambda x: hartmann(x, _H3_A, _H3_P), 3, 0.0, 1.0, _H3_MIN),
        _continuous("hartmann6", lambda x: hartmann(x, _H6_A, _H6_P), 6, 0.0, 1.0, _H6_MIN),
        _continuous("ackley5", ackley, 5, -32.768, 32.768, 0.0),
        _continuous("rosenbrock4", rosenbrock, 4, -5.0, 10.0, 0.0),
        _continuous("levy5", levy, 5, -10.0, 10.0, 0.0),
        _levy_integer(),
        _hartmann3_discrete(),
        _hartmann3_categorical(),
        _training_like(),
        _hartmann6_mixed(),
        _hpo_conditional(),
    ]
    by_name = {f.name: f for f in functions}
    return functions + [by_name["branin"].noisy(2.0), by_name["hartmann6"].noisy(0.1),
                        by_name["training-like"].noisy(0.1)]
