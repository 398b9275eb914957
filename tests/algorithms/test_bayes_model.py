"""The GP model, the acquisition functions and the acquisition optimizer."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from tests.conftest import make_spec
from tf_hptune.algorithms.bayes.acquisition import (
    LogEI,
    Relevant,
    log_expected_improvement,
    log_expected_improvement_grad,
)
from tf_hptune.algorithms.bayes.believer import Believer
from tf_hptune.algorithms.bayes.gp import (
    Columns,
    GaussianProcess,
    InputWarp,
    _column_sq_diffs,
    _neg_log_posterior,
    standardise,
    warp_outputs,
    yeo_johnson,
    yeo_johnson_lambda,
    yeo_johnson_log_slope,
)
from tf_hptune.algorithms.bayes.optimizer import AcquisitionOptimizer, row_keys
from tf_hptune.space import SearchSpace

PLAIN = Columns(np.array([0, 1]), np.array([1.0, 1.0]))


def smooth(X: np.ndarray) -> np.ndarray:
    return np.sin(3 * X[:, 0]) + np.cos(2 * X[:, 1])


def fitted(n: int = 20, seed: int = 0) -> GaussianProcess:
    X = np.random.default_rng(seed).random((n, 2))
    y = smooth(X)
    return GaussianProcess.fit(X, (y - y.mean()) / y.std(), PLAIN)


def test_gp_interpolates_noise_free_data():
    gp = fitted()
    mean, var = gp.predict(gp.X)
    assert np.allclose(mean, gp.y, atol=1e-2)
    assert np.all(var < 1e-3 * gp.hyper.signal)
    assert gp.hyper.noise < 1e-3
    far = gp.predict(np.array([[50.0, 50.0]]))[1]  # far from the data: the prior's variance
    assert far[0] == pytest.approx(gp.hyper.signal, rel=1e-6)


def test_gp_predicts_held_out_points():
    gp = fitted(n=40)
    X = np.random.default_rng(1).random((200, 2))
    y = smooth(X)
    mean = gp.predict(X)[0]
    scale = smooth(gp.X).std()
    assert np.corrcoef(mean, y)[0, 1] > 0.98 and np.std(mean * scale - (y - y.mean())) < 0.1


def test_gp_learns_noise_and_does_not_interpolate_it():
    rng = np.random.default_rng(0)
    X = rng.random((60, 2))
    y = smooth(X) + 0.3 * rng.standard_normal(60)
    gp = GaussianProcess.fit(X, (y - y.mean()) / y.std(), PLAIN)
    assert gp.hyper.noise > 0.05
    assert np.all(gp.predict(gp.X)[1] > 1e-4)


def test_likelihood_gradient_is_exact():
    rng = np.random.default_rng(0)
    columns = Columns(np.array([0, 1, 1]), np.array([1.0, 0.5, 0.5]))  # one-hot pair
    X = np.column_stack([rng.random(25), np.eye(2)[rng.integers(2, size=25)]])
    y = rng.standard_normal(25)
    diffs = _column_sq_diffs(X, columns)
    theta = np.array([-0.7, 0.3, 0.2, -3.0])
    error = optimize.check_grad(lambda t: _neg_log_posterior(t, diffs, y)[0],
                                lambda t: _neg_log_posterior(t, diffs, y)[1], theta)
    assert error < 1e-4 * (1 + abs(_neg_log_posterior(theta, diffs, y)[0]))
    assert diffs[0, 1, 1] in (0.0, 1.0)  # two categories differ by exactly 1


RANK = InputWarp((1,), (np.array([0.0, 0.1, 0.3, 1.0]),), (np.linspace(0.0, 1.0, 4),))


def test_an_input_warp_moves_its_columns_through_its_points_and_beyond_them():
    assert np.allclose(RANK(np.array([[0.5, u] for u in RANK.knots[0]]))[:, 1],
                       RANK.targets[0])
    X = np.array([[0.2, 0.05], [0.7, 0.2], [0.5, 0.65], [0.5, -0.1], [0.5, 1.35]])
    moved = RANK(X)
    assert np.array_equal(moved[:, 0], X[:, 0])  # other columns unchanged
    assert np.allclose(moved[:, 1], [1 / 6, 1 / 2, 2 / 3 + 0.35 / 0.7 / 3, -1 / 3,
                                     1 + 0.35 / 0.7 / 3])
    assert np.allclose(RANK(X[2]), moved[2])  # one row as rows
    for x in X:
        numeric = [(RANK(x + h)[c] - RANK(x - h)[c]) / 2e-6
                   for c, h in enumerate(np.eye(2) * 1e-6)]
        assert np.allclose(RANK.slopes(x), numeric)


def test_a_warped_gp_is_the_plain_gp_of_the_warped_rows():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.random(15), RANK.knots[0][rng.integers(4, size=15)]])
    y = np.sin(3 * X[:, 0]) + RANK(X)[:, 1]
    warped = GaussianProcess.fit(X, y, PLAIN, warp=RANK)
    plain = GaussianProcess(RANK(X), y, PLAIN, warped.hyper)
    Xq = rng.random((6, 2))
    assert np.allclose(warped.predict(Xq), plain.predict(RANK(Xq)))
    assert warped.log_evidence() == pytest.approx(plain.log_evidence())
    # the evidence is what the fit maximised: the plain fit to the warped rows finds as much
    assert GaussianProcess.fit(RANK(X), y, PLAIN).log_evidence() == pytest.approx(
        warped.log_evidence(), abs=1e-3)
    for x in Xq:  # gradients through the warp (inside a segment: the map is linear there)
        d_mean = warped.predict_grad(x)[2]
        assert optimize.check_grad(lambda z: warped.predict(z[None])[0][0],
                                   lambda z: warped.predict_grad(z)[2], x) < 1e-5 * (
            1 + np.abs(d_mean).sum())


def test_prediction_and_acquisition_gradients_are_exact():
    gp = fitted(n=6)  # few points, so that log EI is moderate and finite differences work
    acquisition = LogEI(gp, best=float(gp.y.min()))
    for x in np.random.default_rng(2).random((5, 2)):
        _, _, d_mean, d_var = gp.predict_grad(x)
        assert optimize.check_grad(lambda z: gp.predict(z[None])[0][0],
                                   lambda z: gp.predict_grad(z)[2], x) < 1e-5 * (
            1 + np.abs(d_mean).sum())
        assert optimize.check_grad(lambda z: gp.predict(z[None])[1][0],
                                   lambda z: gp.predict_grad(z)[3], x) < 1e-5 * (
            1 + np.abs(d_var).sum())
        value, grad = acquisition.value_grad(x)
        assert value == pytest.approx(acquisition.values(x[None])[0])
        assert optimize.check_grad(lambda z: acquisition.values(z[None])[0],
                                   lambda z: acquisition.value_grad(z)[1], x) < 1e-4 * (
            1 + np.abs(grad).sum())


def test_relevant_keeps_the_acquisition_only_where_the_real_posterior_may_improve():
    gp = fitted(n=12)
    best = float(gp.y.min())
    rows = np.random.default_rng(3).random((200, 2))
    # fantasies: the same model conditioned on three pending points at their mean
    believer = Believer(gp, rows[:3], pool=rows)
    inner = LogEI(believer, best)
    relevant = Relevant(inner, believer, best, kappa=1.0)
    mean, var = gp.predict(rows)
    may_improve = mean - np.sqrt(var) <= best
    assert 0 < may_improve.sum() < len(rows)  # both kinds of point are there
    for got in (relevant.values(rows), relevant.pool_values()):
        assert np.allclose(got[may_improve], inner.values(rows)[may_improve], atol=1e-9)
        assert np.all(got[~may_improve] == -np.inf)
    for x, ok in zip(rows[:20], may_improve[:20]):
        value, grad = relevant.value_grad(x)
        assert value == (inner.value_grad(x)[0] if ok else -np.inf)
        assert np.array_equal(grad, inner.value_grad(x)[1] if ok else np.zeros(2))


def test_ei_is_zero_where_the_posterior_has_no_variance():
    mean = np.array([1.0, 2.0, 0.5])
    log_ei = log_expected_improvement(mean, np.zeros(3), best=1.0)
    assert np.exp(log_ei).tolist() == [0.0, 0.0, 0.5]  # a certain improvement of 0.5
    # At the data of a noise-free GP, EI vanishes, but at the incumbent, where the tiny noise
    # floor leaves a posterior sd of about 1e-3 and EI = 0.4 sd.
    gp = fitted()
    acquisition = LogEI(gp, best=float(gp.y.min()))
    at_data = np.exp(acquisition.values(gp.X))
    between = np.exp(acquisition.values(np.random.default_rng(3).random((500, 2))))
    incumbent = int(np.argmin(gp.y))
    assert np.delete(at_data, incumbent).max() < 1e-9 * between.max()
    assert at_data[incumbent] <= 0.4 * math.sqrt(gp.predict(gp.X[[incumbent]])[1][0]) + 1e-12


def test_log_ei_matches_the_closed_form_and_stays_finite_far_away():
    mean = np.linspace(-3, 3, 61)
    std = np.full_like(mean, 0.7)
    z = (0.2 - mean) / std
    exact = std * (z * stats.norm.cdf(z) + stats.norm.pdf(z))
    assert np.allclose(np.exp(log_expected_improvement(mean, std, 0.2)), exact, rtol=1e-10)
    far = log_expected_improvement(np.array([10.0, 100.0, 1e4]), np.ones(3), 0.0)
    assert np.all(np.isfinite(far)) and far[0] > far[1] > far[2]
    assert far[1] == pytest.approx(-0.5 * 100**2 - math.log(math.sqrt(2 * math.pi))
                                   - 2 * math.log(100), rel=1e-4)
    for m, s in ((0.3, 0.5), (5.0, 0.2), (-1.0, 2.0)):
        value, d_mean, d_std = log_expected_improvement_grad(m, s, 0.0)
        h = 1e-6
        assert value == pytest.approx(log_expected_improvement(m, s, 0.0))
        assert d_mean == pytest.approx((log_expected_improvement(m + h, s, 0.0)
                                        - log_expected_improvement(m - h, s, 0.0)) / (2 * h),
                                       rel=1e-4)
        assert d_std == pytest.approx((log_expected_improvement(m, s + h, 0.0)
                                       - log_expected_improvement(m, s - h, 0.0)) / (2 * h),
                                      rel=1e-4)


def test_output_warping_tames_heavy_tails_and_keeps_order():
    losses = np.concatenate([np.linspace(0, 1, 30), [50.0, 400.0, 3000.0]])
    warped = warp_outputs(losses)[0]
    assert np.all(np.diff(warped) > 0)
    assert warped.mean() == pytest.approx(0.0, abs=1e-9) and warped.std() == pytest.approx(1)
    assert warped[-1] < 4.0  # a standardised 3000 would sit about 5.5 sd out
    assert np.array_equal(warp_outputs(np.ones(4))[0], np.zeros(4))
    assert warp_outputs(np.ones(4))[1] == standardise(np.ones(4))[1] == 0.0


def test_the_warps_log_jacobian_is_the_sum_of_its_log_slopes():
    """The map, its mean, scale and lambda held fixed, is elementwise: the log Jacobian is
    the sum of the logs of each value's slope, here by finite differences."""
    losses = np.concatenate([np.linspace(0, 1, 20), [5.0, 40.0, 300.0]])
    _, jacobian = warp_outputs(losses)
    spread = losses.std()
    z = (losses - losses.mean()) / spread
    lam = yeo_johnson_lambda(z)
    h = 1e-6
    slopes = (yeo_johnson(z + h, lam) - yeo_johnson(z - h, lam)) / (2 * h)
    assert np.allclose(np.log(slopes), yeo_johnson_log_slope(z, lam), atol=1e-6)
    scale = spread * yeo_johnson(z, lam).std()
    assert jacobian == pytest.approx(np.log(slopes).sum() - len(losses) * np.log(scale))
    standardised, plain = standardise(losses)
    assert np.allclose(standardised * spread + losses.mean(), losses)
    assert plain == pytest.approx(-len(losses) * np.log(spread))


def test_yeo_johnson_lambda_and_transform_match_scipys():
    rng = np.random.default_rng(0)
    for z in (rng.standard_normal(50) ** 3, rng.exponential(size=300), -rng.lognormal(size=80),
              rng.random(20)):
        z = (z - z.mean()) / z.std()
        transformed, lam = stats.yeojohnson(z)
        assert yeo_johnson_lambda(z) == pytest.approx(lam, abs=1e-5)
        assert np.allclose(yeo_johnson(z, lam), transformed, atol=1e-9)
    assert np.allclose(yeo_johnson(z, [0.0, 2.0]), stats.yeojohnson(z, 0.0)[None, :] * [[1], [0]]
                       + stats.yeojohnson(z, 2.0)[None, :] * [[0], [1]])


def test_optimizer_finds_the_maximum_and_skips_taken_points():
    spec = make_spec([
        {"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1},
        {"parameterName": "n", "type": "INTEGER", "minValue": 1, "maxValue": 200},
        {"parameterName": "c", "type": "CATEGORICAL", "categoricalValues": ["a", "b", "c"]},
    ])
    space = SearchSpace.from_spec(spec)
    target = space.encode({"x": 0.37, "n": 150, "c": "b"})

    class Peak:
        def values(self, rows):
            return -((rows - target) ** 2).sum(1)

        def value_grad(self, row):
            return float(self.values(row[None])[0]), -2 * (row - target)

    optimizer = AcquisitionOptimizer(space, np.random.default_rng(0))
    anchors = space.sample_rows(np.random.default_rng(1), 3)
    best = space.decode(optimizer.maximize(Peak(), anchors, set()))
    assert best["n"] == 150 and best["c"] == "b" and best["x"] == pytest.approx(0.37, abs=1e-4)
    taken = set(row_keys(space.snap(target[None])))
    second = space.decode(optimizer.maximize(Peak(), anchors, taken))
    assert (second["n"], second["c"]) != (150, "b") or abs(second["x"] - 0.37) > 0


def test_optimizer_scans_a_small_finite_space_exhaustively():
    spec = make_spec([
        {"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 4},
        {"parameterName": "b", "type": "DISCRETE", "discreteValues": [1, 10, 100]},
    ], constraints=["a * b != 40"])
    space = SearchSpace.from_spec(spec)
    optimizer = AcquisitionOptimizer(space, np.random.default_rng(0))
    score = lambda rows: -np.abs(rows[:, 0] - 1.0) - np.abs(rows[:, 1] - 0.6)  # noqa: E731
    peak = type("Score", (), {"values": staticmethod(score)})()
    taken: set[bytes] = set()
    chosen = []
    for _ in range(11):  # 12 points, one infeasible
        row = optimizer.maximize(peak, space.sample_rows(np.random.default_rng(0), 1), taken)
        chosen.append(space.decode(row))
        taken.update(row_keys(row[None]))
    assert chosen[0] == {"a": 4, "b": 100}  # (4, 10) scores best but is infeasible
    assert len({space.key(p) for p in chosen}) == 11
    assert all(p["a"] * p["b"] != 40 for p in chosen)
    assert optimizer.maximize(peak, space.sample_rows(np.random.default_rng(0), 1), taken) is None
