"""The Bayesian designer: feasibility, determinism, batches, failures, noise, and that it beats
random search. The GP and acquisition functions are tested in test_bayes_model.py."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import MIXED_PARAMS, make_spec
from tf_hptune.algorithms import BayesianDesigner, RandomDesigner, make_designer
from tf_hptune.algorithms.bayes import designer as designer_module
from tf_hptune.algorithms.bayes.designer import MAX_TRAINING, WIDE_BATCH, rank_options
from tf_hptune.algorithms.bayes.gp import standardise, training_subset, warp_outputs
from tf_hptune.algorithms.bayes.optimizer import AcquisitionOptimizer
from tf_hptune.space import SearchSpace
from tf_hptune.trial import Trial

ALL_KINDS = [
    *MIXED_PARAMS,  # INTEGER, DISCRETE, DOUBLE log, DOUBLE reverse log, CATEGORICAL
    {"parameterName": "nheads", "type": "INTEGER", "minValue": 3, "maxValue": 6},
    {"parameterName": "units", "type": "INTEGER", "minValue": 128, "maxValue": 512,
     "scaleType": "UNIT_LOG_SCALE"},
    {"parameterName": "decay", "type": "DISCRETE", "discreteValues": [0.1, 0.25, 0.5, 0.9],
     "scaleType": "UNIT_LOG_SCALE"},
]
CONSTRAINTS = ["units % nheads == 0", "optimizer != 'sgd' or learning_rate < 0.01"]
BRANIN = [
    {"parameterName": "x", "type": "DOUBLE", "minValue": -5, "maxValue": 10},
    {"parameterName": "y", "type": "DOUBLE", "minValue": 0, "maxValue": 15},
]
BRANIN_MIN = 0.39788735772973816


def branin(p: dict) -> float:
    x, y = p["x"], p["y"]
    return ((y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10)


def optimise(designer, objective, trials: int, batch: int = 1) -> list[Trial]:
    """The ask/tell loop; ``objective`` returns None for a failed trial."""
    done: list[Trial] = []
    while len(done) < trials:
        designer.update(done, [])
        for p in designer.suggest(min(batch, trials - len(done))):
            value = objective(p)
            done.append(Trial(str(len(done) + 1), p, value=value, failed=value is None))
    return done


def test_the_design_tries_every_listed_value_of_an_uneven_list():
    # a batch-size list on a linear scale: placed by value, 512 and 1024 (the widest gaps)
    # would take 63% of the design and 8 to 48 5%; placed by rank, 8 to 48 take 3.5 in 9
    spec = make_spec([
        {"parameterName": "batch", "type": "DISCRETE",
         "discreteValues": [8, 16, 32, 48, 64, 96, 128, 256, 512, 1024]},
        {"parameterName": "optimizer", "type": "CATEGORICAL",
         "categoricalValues": ["sgd", "momentum", "adam", "adamw"]},
        {"parameterName": "lr", "type": "DOUBLE", "minValue": 1e-5, "maxValue": 1.0,
         "scaleType": "UNIT_LOG_SCALE"}])
    space = SearchSpace.from_spec(spec)
    for seed in range(3):
        points = BayesianDesigner(space, spec.goal, seed=seed).suggest(40)
        batches = [p["batch"] for p in points]
        assert set(batches) == {8, 16, 32, 48, 64, 96, 128, 256, 512, 1024}
        assert sum(b <= 48 for b in batches) >= 12 and sum(b >= 512 for b in batches) <= 8


def test_is_the_default_algorithm():
    spec = make_spec(BRANIN)
    space = SearchSpace.from_spec(spec)
    assert isinstance(make_designer(spec.algorithm, space, spec.goal), BayesianDesigner)


def test_suggestions_are_typed_inside_the_space_and_feasible_for_every_kind():
    spec = make_spec(ALL_KINDS, goal="MINIMIZE", constraints=CONSTRAINTS)
    space = SearchSpace.from_spec(spec)
    designer = BayesianDesigner(space, spec.goal, seed=0)
    rng = np.random.default_rng(0)
    done = optimise(designer, lambda p: float(rng.random() + p["nembeds"] / 30), 24, batch=4)
    running = [Trial("r", done[0].params)]
    designer.update(done, running)
    for p in [t.params for t in done] + designer.suggest(6):
        assert space.decode(space.encode(p)) == pytest.approx(p)
        assert space.feasible(p)
        assert p["units"] % p["nheads"] == 0
        assert p["optimizer"] != "sgd" or p["learning-rate"] < 0.01
        assert isinstance(p["nembeds"], int) and isinstance(p["units"], int)
        assert isinstance(p["nnsize"], int) and isinstance(p["decay"], float)
        assert isinstance(p["learning-rate"], float) and isinstance(p["optimizer"], str)
        assert 1e-4 <= p["learning-rate"] <= 0.1 and 0.5 <= p["momentum"] <= 0.999


def test_same_seed_same_suggestions():
    spec = make_spec(MIXED_PARAMS, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)

    def run(seed: int) -> list[dict]:
        done = optimise(BayesianDesigner(space, spec.goal, seed=seed),
                        lambda p: p["nembeds"] + 10 * p["learning-rate"], 14, batch=3)
        return [t.params for t in done]

    first, again = run(3), run(3)
    # Floating-point sums may round differently between two runs (threaded BLAS), and the
    # local search can carry that last bit to about 1e-12: same choices, same values to 1e-9.
    assert len(first) == len(again) == 14
    for a, b in zip(first, again):
        assert a.keys() == b.keys()
        for name, value in a.items():
            if isinstance(value, float):
                assert value == pytest.approx(b[name], rel=1e-9), name
            else:
                assert value == b[name], name
    assert run(3) != run(4)


def test_beats_random_search_on_branin_over_seeds():
    spec = make_spec(BRANIN, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    ours, theirs = [], []
    for seed in range(5):
        for designer, out in ((BayesianDesigner, ours), (RandomDesigner, theirs)):
            done = optimise(designer(space, spec.goal, seed=seed), branin, 25)
            out.append(min(t.value for t in done) - BRANIN_MIN)
    # Random search's median regret after 25 trials is about 1; ours is below 0.05.
    assert np.median(ours) < np.median(theirs) / 20
    assert sum(a < b for a, b in zip(ours, theirs)) >= 4


def test_maximize_goal_is_respected():
    spec = make_spec(BRANIN, goal="MAXIMIZE")
    done = optimise(BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, seed=0),
                    lambda p: -branin(p), 25)
    assert max(t.value for t in done) > -BRANIN_MIN - 0.05


def test_batch_in_a_small_discrete_space_never_repeats_until_exhausted():
    params = [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 3},
              {"parameterName": "b", "type": "CATEGORICAL", "categoricalValues": ["x", "y"]}]
    spec = make_spec(params, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    designer = BayesianDesigner(space, spec.goal, seed=0)
    done = [Trial(str(i), p, value=float(p["a"])) for i, p in
            enumerate([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "x"}])]
    designer.update(done, [Trial("9", {"a": 1, "b": "y"})])
    batch = designer.suggest(2)
    keys = {space.key(p) for p in batch}
    assert len(keys) == 2
    assert keys == {space.key({"a": 2, "b": "x"}), space.key({"a": 3, "b": "y"})}
    # Once every point is taken, the designer repeats points rather than give up.
    designer.update(done + [Trial(str(9 + i), p, value=1.0) for i, p in enumerate(batch)],
                    [Trial("9", {"a": 1, "b": "y"})])
    assert len(designer.suggest(3)) == 3


def test_candidates_near_an_anchor_on_a_bound_do_not_pile_up_on_it():
    """The pool's perturbations of a best trial on a bound stay around it, inside the space:
    clipped, about half of them would sit on the bound, and local searches start there."""
    space = SearchSpace.from_spec(make_spec(BRANIN, goal="MINIMIZE"))
    anchor = np.array([[1.0, 0.5]])
    pool = AcquisitionOptimizer(space, np.random.default_rng(0)).pool(anchor)
    near = pool[np.abs(pool - anchor).max(axis=1) < 0.1]
    assert len(near) >= 24  # the perturbations at the smaller scales
    assert np.sum(pool[:, 0] == 1.0) <= 1
    assert np.all((pool >= 0.0) & (pool <= 1.0))


def test_batch_in_a_continuous_space_is_spread_out():
    spec = make_spec(BRANIN, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    designer = BayesianDesigner(space, spec.goal, seed=1)
    done = optimise(designer, branin, 15)
    running = [Trial("r1", designer.suggest(1)[0])]
    designer.update(done, running)
    batch = designer.suggest(5)
    rows = np.array([space.encode(p) for p in batch + [running[0].params]])
    gaps = np.sqrt(((rows[:, None] - rows[None]) ** 2).sum(-1))[np.triu_indices(len(rows), 1)]
    assert gaps.min() > 1e-3
    assert len({space.key(p) for p in batch}) == 5


def test_failed_trials_teach_the_model_to_avoid_their_region():
    spec = make_spec(BRANIN, goal="MINIMIZE")
    designer = BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, seed=0)
    # Trials fail where x < 0: a third of the space, with one of Branin's three minima.
    done = optimise(designer, lambda p: None if p["x"] < 0 else branin(p), 30)
    later = done[15:]
    assert sum(t.failed for t in later) <= 3
    assert min(t.value for t in done if not t.failed) - BRANIN_MIN < 0.05


def test_all_trials_failing_still_gives_suggestions():
    spec = make_spec(MIXED_PARAMS)
    designer = BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, seed=0)
    done = optimise(designer, lambda p: None, 15, batch=5)
    assert len({SearchSpace.from_spec(spec).key(t.params) for t in done}) == 15


def test_noisy_objective_does_not_collapse_onto_one_point():
    spec = make_spec(BRANIN, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    rng = np.random.default_rng(0)
    designer = BayesianDesigner(space, spec.goal, seed=0)
    done = optimise(designer, lambda p: branin(p) + 20.0 * rng.standard_normal(), 40)
    later = np.array([space.encode(t.params) for t in done[20:]])
    assert len({space.key(t.params) for t in done}) == 40
    assert later.std(0).max() > 0.02  # still looking around, not stuck on one point
    assert designer._hyper is not None and designer._hyper.noise > 0.01  # noise was learned


def test_noisy_objective_batches_stay_spread_out():
    # Pending points enter the model as exact values of f: with a noisy model, a batch would
    # otherwise pile onto one spot, since noise keeps the variance up next to each fantasy.
    # (Late in the run the batch keeps to where the model still sees a chance to improve,
    # near the optimum, so its points may be close: 0.003 apart at the closest, in unit space,
    # over four seeds; without that restriction 0.0065.)
    spec = make_spec(BRANIN, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    rng = np.random.default_rng(1)
    designer = BayesianDesigner(space, spec.goal, seed=0)
    done = optimise(designer, lambda p: branin(p) + 2.0 * rng.standard_normal(), 30, batch=5)
    for start in range(10, 30, 5):
        rows = np.array([space.encode(t.params) for t in done[start:start + 5]])
        gaps = np.sqrt(((rows[:, None] - rows[None]) ** 2).sum(-1))[np.triu_indices(5, 1)]
        assert gaps.min() > 0.002, (start, gaps.min())


def test_training_set_keeps_the_best_and_a_spread_of_the_rest():
    rng = np.random.default_rng(0)
    X, losses = rng.random((1000, 3)), rng.random(1000)
    keep = training_subset(X, losses, MAX_TRAINING)
    assert len(keep) == len(set(keep.tolist())) == MAX_TRAINING
    assert set(np.argsort(losses)[:100]) <= set(keep.tolist())
    assert np.array_equal(training_subset(X[:50], losses[:50], MAX_TRAINING), np.arange(50))


def test_a_thousand_trials_stay_tractable():
    spec = make_spec(BRANIN, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    rng = np.random.default_rng(0)
    done = [Trial(str(i), p, value=branin(p)) for i, p in
            enumerate(space.sample(rng) for _ in range(1000))]
    designer = BayesianDesigner(space, spec.goal, seed=0)
    designer.update(done, [])
    batch = designer.suggest(2)
    assert len(batch) == 2 and len(designer._hyper.theta) == 4


def test_when_no_new_point_can_improve_it_takes_the_best_expected_not_the_most_uncertain():
    # b = 1 tried everywhere but a = 10, b = 2 (far worse) at a few points: no new point can
    # beat a = 5, and the most uncertain ones are the untried b = 2 points
    params = [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 12},
              {"parameterName": "b", "type": "DISCRETE", "discreteValues": [1, 2]}]
    spec = make_spec(params, goal="MINIMIZE")
    designer = BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, seed=0)
    points = ([{"a": a, "b": 1} for a in range(1, 13) if a != 10]
              + [{"a": a, "b": 2} for a in (1, 4, 8, 12)])
    done = [Trial(str(i), p, value=float((p["a"] - 5) ** 2 + 200 * (p["b"] - 1)))
            for i, p in enumerate(points)]
    designer.update(done, [])
    assert designer.suggest(1) == [{"a": 10, "b": 1}]


def test_a_batch_does_not_spread_to_where_the_model_is_sure_of_worse_results():
    # flat, slightly noisy results for b = 1 and 2, worse ones by ten noise sd at b = 3: once
    # the batch's fantasies have used up the flat region's uncertainty, the untried b = 3
    # points are the most uncertain, but the model is sure they do worse (without the
    # restriction to points that may improve, 12 of these 20 suggestions had b = 3)
    params = [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 30},
              {"parameterName": "b", "type": "DISCRETE", "discreteValues": [1, 2, 3]}]
    spec = make_spec(params, goal="MINIMIZE")
    points = ([{"a": a, "b": b} for a in range(1, 31, 3) for b in (1, 2)]
              + [{"a": a, "b": 3} for a in (4, 15, 26)])
    running = [Trial(f"r{i}", {"a": a, "b": b})
               for i, (a, b) in enumerate([(5, 1), (12, 2), (20, 1), (27, 2)])]
    at_b3 = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        done = [Trial(str(i), p, value=1.0 + 0.01 * rng.standard_normal() + 0.1 * (p["b"] == 3))
                for i, p in enumerate(points)]
        designer = BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, seed=seed)
        designer.update(done, running)
        batch = designer.suggest(4)
        assert len(batch) == 4
        at_b3 += sum(p["b"] == 3 for p in batch)
    assert at_b3 <= 3


@pytest.mark.parametrize("at_the_end", [False, True], ids=["open-ended", "budget's end"])
def test_a_wide_batch_takes_the_pools_best_points_without_local_search(at_the_end, monkeypatch):
    spec = make_spec(BRANIN, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    searches = []
    local_search = AcquisitionOptimizer._local_search
    monkeypatch.setattr(AcquisitionOptimizer, "_local_search",
                        lambda self, *a: searches.append(1) or local_search(self, *a))
    rng = np.random.default_rng(0)
    done = [Trial(str(i), p, value=branin(p)) for i, p in
            enumerate(space.sample(rng) for _ in range(20))]
    for pending in (WIDE_BATCH - 3, WIDE_BATCH):
        designer = BayesianDesigner(space, spec.goal, seed=0)
        if at_the_end:  # the batch opens with the lowest expected point
            designer.set_budget(20 + pending + 6)
        running = [Trial(f"r{i}", space.sample(rng)) for i in range(pending)]
        designer.update(done, running)
        searches.clear()
        batch = designer.suggest(6)
        # local searches while fewer than WIDE_BATCH points are pending (the first 3 here)
        assert bool(searches) == (pending < WIDE_BATCH)
        keys = {space.key(p) for p in [*batch, *(t.params for t in [*done, *running])]}
        assert len(batch) == 6 and len(keys) == 20 + pending + 6
        rows = np.array([space.encode(p) for p in batch])
        assert np.sqrt(((rows[:, None] - rows[None]) ** 2).sum(-1))[np.triu_indices(6, 1)].min() \
            > 1e-3


BATCHES = [8, 16, 32, 64, 128, 256, 512, 1024]
BATCH_AND_RATE = [
    {"parameterName": "batch", "type": "DISCRETE", "discreteValues": BATCHES},
    {"parameterName": "rate", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0},
]


@pytest.mark.parametrize("by_rank", [True, False])
def test_an_uneven_discrete_parameter_is_placed_by_rank_only_where_the_data_say_so(by_rank):
    """Doubling batch sizes listed on a linear scale: when the best rate moves with the
    doublings, the model places the sizes by rank; when the loss is linear in the size
    itself, by value."""
    spec = make_spec(BATCH_AND_RATE, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    rng = np.random.default_rng(1)
    points = [space.sample(rng) for _ in range(30)]

    def loss(p: dict) -> float:
        if by_rank:
            return (p["rate"] - math.log2(p["batch"]) / 10) ** 2
        return (p["rate"] - p["batch"] / 1024) ** 2

    designer = BayesianDesigner(space, spec.goal, seed=0)
    designer.update([Trial(str(i), p, value=loss(p)) for i, p in enumerate(points)], [])
    X = space.encode_rows(points)
    losses = np.array([loss(p) for p in points])
    gp = designer._fit(X, losses, trusted=False)
    assert (gp.warp is not None) == by_rank
    if by_rank:  # the sizes are evenly spaced where the kernel sees them
        placed = gp.warp(space.encode_rows([{"batch": b, "rate": 0.5} for b in BATCHES]))
        assert np.allclose(np.diff(placed[:, 0]), 1 / 7)
    assert len(designer.suggest(3)) == 3


def test_evenly_spaced_discrete_values_are_never_tried_by_rank():
    def discrete(name: str, values: list, **scale: str) -> dict:
        return {"parameterName": name, "type": "DISCRETE", "discreteValues": values, **scale}

    spec = make_spec([
        {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["a", "b"]},
        discrete("even", [0.1, 0.2, 0.3, 0.4]),
        discrete("even_on_its_log_scale", [1, 10, 100, 1000], scaleType="UNIT_LOG_SCALE"),
        discrete("two", [1, 100]),
        discrete("uneven", [4, 16, 32, 64, 128]),
    ], goal="MINIMIZE")
    options = rank_options(SearchSpace.from_spec(spec))
    assert [column for column, _, _ in options] == [5]  # after two one-hot columns and three
    assert np.allclose(options[0][2], [0.0, 0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize("noise", [0.0, 2.0])
def test_noise_near_the_best_makes_the_model_keep_the_losses_scale(noise):
    """Branin: noise-free, the warp pulls in the tail of bad values; with noise and most
    results near the best (as a search that exploits has them), a warp fitted to them would
    stretch their noise over the scale, and the plain standardised losses win."""
    spec = make_spec(BRANIN, goal="MINIMIZE")
    space = SearchSpace.from_spec(spec)
    rng = np.random.default_rng(4)
    points = [space.sample(rng) for _ in range(15)]
    points += [{"x": float(np.clip(math.pi + rng.normal(0, 0.5), -5, 10)),
                "y": float(np.clip(2.275 + rng.normal(0, 0.5), 0, 15))} for _ in range(45)]
    losses = np.array([branin(p) for p in points]) + noise * rng.standard_normal(len(points))
    designer = BayesianDesigner(space, spec.goal, seed=0)
    gp = designer._fit(space.encode_rows(points), losses, trusted=False)
    warped, plain = warp_outputs(losses)[0], standardise(losses)[0]
    assert np.allclose(gp.y, plain if noise else warped)


BOWL = [{"parameterName": n, "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0}
        for n in ("x", "y")]


def bowl(p: dict) -> float:
    return (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2


def bowl_designer(budget: int | None, trials: int = 12) -> BayesianDesigner:
    spec = make_spec(BOWL, goal="MINIMIZE")
    rng = np.random.default_rng(4)
    done = [Trial(str(i), p, value=bowl(p))
            for i, p in enumerate({"x": float(x), "y": float(y)}
                                  for x, y in rng.random((trials, 2)))]
    designer = BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, seed=0)
    designer.set_budget(budget)
    designer.update(done, [])
    return designer


def test_the_budgets_last_tenth_opens_each_suggestion_with_the_lowest_expected_point():
    open_ended = bowl_designer(None).suggest(3)
    assert bowl_designer(100).suggest(3) == open_ended  # far from the end: as without a budget
    designer = bowl_designer(14)
    last = designer.suggest(3)  # 12 done + 3 reach past 90% of 14
    # its first point is where the model (refitted as the designer fits it) expects the least
    X = designer.space.encode_rows([t.params for t in designer.completed])
    gp = designer._fit(X, np.array([t.value for t in designer.completed]), False)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 101), np.linspace(0, 1, 101)), -1)
    lowest = gp.mean(grid.reshape(-1, 2)).min()
    first, free = (gp.mean(designer.space.encode_rows([p]))[0] for p in (last[0], open_ended[0]))
    assert first <= lowest + 1e-3 < free
    # the rest of the batch is chosen around it, not on it
    assert all(math.dist((p["x"], p["y"]), (last[0]["x"], last[0]["y"])) > 0.02
               for p in last[1:])


@pytest.mark.parametrize("guard", [True, False])
def test_a_refill_does_not_repeat_the_running_exploitation_point(guard, monkeypatch):
    if not guard:  # shows what the guard is for
        monkeypatch.setattr("tf_hptune.algorithms.bayes.designer.EXPLOIT_TAKEN", -1.0)
    designer = bowl_designer(14)
    (first,) = designer.suggest(1)
    designer.update(designer.completed, [Trial("r", first)])
    (refill,) = designer.suggest(1)
    gap = max(abs(refill["x"] - first["x"]), abs(refill["y"] - first["y"]))
    assert (gap > 0.01) is guard


def test_a_point_asked_alone_must_beat_the_best_result_a_batch_the_best_expected(monkeypatch):
    # With noise the best result is partly luck: the lowest posterior mean at the trials lies
    # above it. A sequential suggestion measures improvement against the best result, so it
    # keeps exploring; a batch, or a refill beside running trials, against the lowest mean.
    spec = make_spec(BRANIN, goal="MINIMIZE")
    rng = np.random.default_rng(3)
    done = [Trial(str(i), p, value=branin(p) + 20.0 * rng.standard_normal())
            for i, p in enumerate({"x": -5 + 15 * float(a), "y": 15 * float(b)}
                                  for a, b in rng.random((16, 2)))]
    designer = BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, seed=0)
    designer.update(done, [])
    measured: list[float] = []
    real = designer_module.LogEI

    def spy(gp, best):
        measured.append(best)
        return real(gp, best)

    monkeypatch.setattr(designer_module, "LogEI", spy)

    def first_bar(count: int, running: list[Trial]) -> tuple[float, float, float]:
        designer.update(done, running)
        measured.clear()
        designer.suggest(count)
        X = designer.space.encode_rows([t.params for t in done])
        gp = designer._fit(X, np.array([t.value for t in done]), False)
        return measured[0], float(gp.y.min()), float(gp.predict(gp.X)[0].min())

    bar, best_result, lowest_mean = first_bar(1, [])
    assert designer._hyper is not None and designer._hyper.noise > 0.01  # the model sees noise
    assert bar == pytest.approx(best_result, abs=1e-6) and lowest_mean > best_result + 0.05
    bar, _, lowest_mean = first_bar(3, [])
    assert bar == pytest.approx(lowest_mean, abs=1e-6)
    bar, _, lowest_mean = first_bar(1, [Trial("r", {"x": 0.0, "y": 5.0})])
    assert bar == pytest.approx(lowest_mean, abs=1e-6)
