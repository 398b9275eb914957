from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import MIXED_PARAMS, make_spec
from tf_hptune.space import SearchSpace, format_value
from tf_hptune.spec import ParameterSpec, ParamType, ScaleType


def dim(**kw):
    return SearchSpace([ParameterSpec(name="p", **kw)]).dimensions[0]


@pytest.mark.parametrize("scale", [None, *ScaleType])
def test_double_round_trip_and_edges(scale):
    d = dim(type=ParamType.DOUBLE, min_value=1e-3, max_value=10.0, scale_type=scale)
    assert d.decode([0.0]) == pytest.approx(1e-3)
    assert d.decode([1.0]) == pytest.approx(10.0)
    for v in (1e-3, 0.01, 0.5, 3.3, 9.99, 10.0):
        assert d.decode(d.encode(v)) == pytest.approx(v, rel=1e-9)
    # outside the unit interval clips to the bounds
    assert d.decode([-0.5]) == pytest.approx(1e-3)
    assert d.decode([1.7]) == pytest.approx(10.0)


def test_scales_spread_values_where_they_should():
    lin = dim(type=ParamType.DOUBLE, min_value=1.0, max_value=1000.0)
    log = dim(type=ParamType.DOUBLE, min_value=1.0, max_value=1000.0,
              scale_type=ScaleType.UNIT_LOG_SCALE)
    rev = dim(type=ParamType.DOUBLE, min_value=1.0, max_value=1000.0,
              scale_type=ScaleType.UNIT_REVERSE_LOG_SCALE)
    assert lin.decode([0.5]) == pytest.approx(500.5)
    assert log.decode([0.5]) == pytest.approx(math.sqrt(1000.0))
    # reverse log mirrors log: the middle of the unit interval is near the top
    assert rev.decode([0.5]) == pytest.approx(1001.0 - math.sqrt(1000.0))
    # and steps near the top of the range are resolved finely
    def spread(d):
        return d.encode(999.0)[0] - d.encode(990.0)[0]

    assert spread(rev) > spread(lin)


@pytest.mark.parametrize("scale", [None, *ScaleType])
def test_integer_rounds_to_feasible_and_cells_are_equal(scale):
    d = dim(type=ParamType.INTEGER, min_value=1.0, max_value=8.0, scale_type=scale)
    for v in range(1, 9):
        assert d.decode(d.encode(v)) == v
        assert isinstance(d.decode(d.encode(v)), int)
    values = {d.decode([u]) for u in np.linspace(0, 1, 1001)}
    assert values == set(range(1, 9))
    if scale in (None, ScaleType.UNIT_LINEAR_SCALE):
        counts = np.bincount([d.decode([u]) for u in np.linspace(0, 1, 8001)])[1:]
        assert counts.min() > 0.9 * counts.max()


def test_discrete_snaps_to_nearest_and_keeps_ints():
    d = dim(type=ParamType.DISCRETE, discrete_values=(4.0, 16.0, 32.0, 64.0, 128.0))
    assert [d.decode(d.encode(v)) for v in (4, 16, 32, 64, 128)] == [4, 16, 32, 64, 128]
    assert all(isinstance(d.decode([u]), int) for u in np.linspace(0, 1, 11))
    assert d.decode([0.1]) == 16  # 0.1 * 124 + 4 = 16.4
    f = dim(type=ParamType.DISCRETE, discrete_values=(0.1, 0.25, 0.5))
    assert f.decode(f.encode(0.25)) == 0.25 and isinstance(f.decode([0.0]), float)


def test_discrete_log_scale_and_single_value():
    d = dim(type=ParamType.DISCRETE, discrete_values=(1.0, 10.0, 100.0, 1000.0),
            scale_type=ScaleType.UNIT_LOG_SCALE)
    assert d.encode(10)[0] == pytest.approx(1 / 3)
    assert d.decode([0.5]) in (10, 100)
    one = dim(type=ParamType.DISCRETE, discrete_values=(7.0,))
    assert one.decode(one.encode(7)) == 7


def test_categorical_one_hot():
    d = dim(type=ParamType.CATEGORICAL, categorical_values=("a", "b c", "d"))
    assert d.width == 3
    assert list(d.encode("b c")) == [0.0, 1.0, 0.0]
    assert d.decode([0.2, 0.1, 0.9]) == "d"


def test_space_encode_decode_sample_and_args(mixed_spec):
    space = SearchSpace.from_spec(mixed_spec)
    assert space.width == 4 + 3
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = space.sample(rng)
        assert space.decode(space.encode(p)) == pytest.approx(p)
        x = space.encode(p)
        assert np.all((x >= 0) & (x <= 1))
        assert 3 <= p["nembeds"] <= 30 and p["nnsize"] in (4, 16, 32, 64, 128)
        assert 1e-4 <= p["learning-rate"] <= 0.1 and 0.5 <= p["momentum"] <= 0.999
        assert p["optimizer"] in ("adam", "sgd", "256 128 64")
    with pytest.raises(ValueError, match="length 7"):
        space.decode([0.5] * 3)


def test_encoding_many_points_at_once_equals_encoding_each(mixed_spec):
    space = SearchSpace.from_spec(mixed_spec)
    rng = np.random.default_rng(1)
    points = [space.sample(rng) for _ in range(50)]
    assert np.array_equal(space.encode_rows(points), np.array([space.encode(p) for p in points]))
    assert space.encode_rows([]).shape == (0, space.width)


def test_sampling_is_uniform_on_log_scale_and_over_discrete_values():
    space = SearchSpace.from_spec(make_spec(MIXED_PARAMS))
    rng = np.random.default_rng(1)
    samples = [space.sample(rng) for _ in range(4000)]
    lr = np.log10([s["learning-rate"] for s in samples])
    assert abs(np.mean(lr) - (-2.5)) < 0.05  # log-uniform on [1e-4, 1e-1]
    counts = {v: sum(s["nnsize"] == v for s in samples) for v in (4, 16, 32, 64, 128)}
    assert min(counts.values()) > 0.8 * 4000 / 5


def test_format_value():
    assert format_value(64) == "64"
    assert format_value(0.1) == "0.10000000000000001"
    assert float(format_value(1 / 3)) == 1 / 3
    assert format_value("a b") == "a b"
    with pytest.raises(TypeError):
        format_value(True)


def test_grid_enumerates_every_point_once():
    space = SearchSpace.from_spec(make_spec([
        {"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 3},
        {"parameterName": "b", "type": "CATEGORICAL", "categoricalValues": ["x", "y"]},
        {"parameterName": "c", "type": "DISCRETE", "discreteValues": [0.5, 1.5]},
    ]))
    grid = list(space.grid())
    assert space.grid_size == 12 == len(grid)
    assert len({space.key(p) for p in grid}) == 12
    assert grid[0] == {"a": 1, "b": "x", "c": 0.5} and grid[-1] == {"a": 3, "b": "y", "c": 1.5}
