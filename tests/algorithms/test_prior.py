"""Which earlier jobs a new job learns from, and how that is recorded."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from tests.conftest import FAKE_PACKAGE, ROOT, make_spec
from tf_hptune.errors import SpecError
from tf_hptune.history import similar_names
from tf_hptune.spec import load_spec
from tf_hptune.store import State, open_store
from tf_hptune.study import Study
from tf_hptune.trial import estimates

A = {"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 9}
B = {"parameterName": "b", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0}


def ended(store, name, params=(A,), goal="MINIMIZE", tag="loss", results=True, **hp):
    study = Study.create(make_spec(list(params), goal=goal, hyperparameterMetricTag=tag,
                                   maxTrials=2, **hp), store=store, name=name, seed=0)
    for t in study.suggest(2):
        if results:
            study.complete(t.id, 1.0)
        else:
            study.fail(t.id, "crashed")
    study.finish(State.SUCCEEDED)
    return study


@pytest.mark.parametrize(("new", "earlier", "related"), [
    ("babyweight_regression_20181201", "babyweight_regression_20181130", True),
    ("abcdef", "abcxyz", False),  # exactly half is not enough
    ("abcdefg", "abcdxyz", True),  # 4 of 7
    ("job_1", "job_2", True),
    ("census", "babyweight", False),
])
def test_the_naming_rule(new, earlier, related):
    assert similar_names(new, earlier) is related


def test_transfer_picks_exactly_the_jobs_the_rule_names(tmp_path):
    store = open_store(tmp_path / "s.db")
    ended(store, "babyweight_regression_1")                      # related
    ended(store, "babyweight_regression_2", params=(A, B))       # related: shares a
    ended(store, "babyweight_classif_3")                         # prefix 11 of 23: no
    ended(store, "babyweight_regression_4", goal="MAXIMIZE")     # other goal
    ended(store, "babyweight_regression_5", tag="rmse")          # other tag
    ended(store, "babyweight_regression_6", params=(B,))         # no shared parameter
    ended(store, "babyweight_regression_7", results=False)       # no result to learn from
    running = Study.create(
        make_spec([A], goal="MINIMIZE", hyperparameterMetricTag="loss"),
        store=store, name="babyweight_regression_8")  # not ended
    running.suggest(1)
    new = Study.create(
        make_spec([A], goal="MINIMIZE", hyperparameterMetricTag="loss", maxTrials=3),
        store=store, name="babyweight_regression_9", seed=0)
    assert [p.job_name for p in new.priors] == ["babyweight_regression_1",
                                                "babyweight_regression_2"]
    assert [p.job_name for p in new.designer.priors] == [p.job_name for p in new.priors]
    assert all(len(p.trials) == 2 for p in new.priors)
    info = store.get_job("babyweight_regression_9").info
    assert info == {"learned_from": ["babyweight_regression_1", "babyweight_regression_2"]}
    # a later job of the same family does not change what this one learned from
    ended(store, "babyweight_regression_10")
    again = Study.load(store, "babyweight_regression_9")
    assert [p.job_name for p in again.priors] == info["learned_from"]


def test_an_earlier_jobs_stopped_trials_inform_at_their_forecast(tmp_path):
    store = open_store(tmp_path / "s.db")
    study = Study.create(
        make_spec([A], goal="MINIMIZE", hyperparameterMetricTag="loss", maxTrials=4),
        store=store, name="job_1", seed=0)
    a, b, d, c = study.suggest(4)
    for t, start in ((a, 2.0), (b, 3.0), (d, 2.5)):
        study.report_many(t.id, [(100, start), (200, 1.2), (300, 1.0)])
        study.complete(t.id)
    study.report(c.id, 100, 9.0)
    study.complete(c.id, stopped_early=True)
    study.finish(State.SUCCEEDED)
    new = Study.create(
        make_spec([A], goal="MINIMIZE", hyperparameterMetricTag="loss", maxTrials=3),
        store=store, name="job_2", seed=0)
    (prior,) = new.priors
    learned = dict(zip([t.trial_id for t in prior.trials], estimates(prior.trials)))
    view = {t.trial_id: t for t in prior.trials}[c.id]
    assert view.value == 9.0 and learned[c.id] == pytest.approx(1.0)


def test_a_resumed_job_does_not_count_as_a_prior(tmp_path):
    store = open_store(tmp_path / "s.db")
    ended(store, "job_1")
    resumed = Study.create({"hyperparameters": {"maxTrials": 2, "resumePreviousJobId": "job_1"}},
                           store=store, name="job_2")
    assert resumed.priors == [] and len(resumed.previous_trials) == 2


def test_the_config_field_turns_it_off(tmp_path):
    store = open_store(tmp_path / "s.db")
    ended(store, "job_1")
    off = Study.create(make_spec([A], goal="MINIMIZE", hyperparameterMetricTag="loss",
                          enableTransferLearning="false"), store=store, name="job_2")
    assert off.priors == [] and store.get_job("job_2").info == {"learned_from": []}
    with pytest.raises(SpecError, match="enableTransferLearning"):
        load_spec({"hyperparameters": {"params": [A], "enableTransferLearning": "maybe"}})


@pytest.mark.parametrize("flag", [[], ["--no-transfer-learning"]])
def test_describe_lists_the_jobs_learned_from_and_the_flag_turns_it_off(tmp_path, flag):
    store = str(tmp_path / "s.db")
    ended(open_store(store), "job_1", tag="loss")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": 1, "params": [A]}}))
    subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "submit", "training", "job_2",
         "--config", str(cfg), "--module-name", "trainer.task", "--package-path",
         str(FAKE_PACKAGE), "--job-dir", str(tmp_path / "out"), "--store", store,
         "--poll-interval", "0.05", "--stream-logs", *flag, "--", "--steps", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    described = yaml.safe_load(subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "describe", "job_2", "--store", store],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    expected = [] if flag else ["job_1"]
    assert described["trainingOutput"]["learnedFromJobs"] == expected


# -- what the designer makes of priors -----------------------------------------------------
def prior(name, params, points):
    """A PriorStudy from (params, value) pairs."""
    from tf_hptune.spec import load_spec as ls
    from tf_hptune.trial import PriorStudy, Trial

    spec = ls({"hyperparameters": {"params": params}})
    return PriorStudy(name, spec.params, tuple(
        Trial(str(i + 1), p, value=v) for i, (p, v) in enumerate(points)))


def test_prior_rows_map_by_name_clip_ranges_and_rank_within_each_job():
    from tf_hptune.algorithms.prior import prior_rows
    from tf_hptune.space import SearchSpace
    from tf_hptune.spec import Goal

    new = make_spec([{"parameterName": "a", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0},
                     {"parameterName": "c", "type": "CATEGORICAL",
                      "categoricalValues": ["x", "y"]},
                     {"parameterName": "added", "type": "INTEGER", "minValue": 1,
                      "maxValue": 4}])
    space = SearchSpace.from_spec(new)
    old = [{"parameterName": "a", "type": "DOUBLE", "minValue": 0.0, "maxValue": 5.0},
           {"parameterName": "c", "type": "CATEGORICAL", "categoricalValues": ["x", "z"]},
           {"parameterName": "gone", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0}]
    first = prior("p1", old, [({"a": 3.0, "c": "x", "gone": 0.5}, 10.0),
                              ({"a": 0.25, "c": "x", "gone": 0.1}, 1.0)])
    second = prior("p2", old, [({"a": 0.75, "c": "z", "gone": 0.2}, 100.0)])
    rows = prior_rows(space, [first, second], Goal.MINIMIZE, np.random.default_rng(0))
    points = [space.decode(r) for r in rows]
    # best of each job first (p1's value 1.0, then p2's only trial), then p1's worse trial
    assert [p["a"] for p in points] == pytest.approx([0.25, 0.75, 1.0])  # 3.0 clipped to 1.0
    assert points[0]["c"] == "x" and points[1]["c"] in ("x", "y")  # 'z' is gone: drawn
    assert all(1 <= p["added"] <= 4 for p in points)  # a new parameter: drawn
    assert all("gone" not in p for p in points)


def test_positions_keep_values_beyond_a_new_range_and_mark_the_unknown():
    from tf_hptune.algorithms.prior import positions
    from tf_hptune.space import SearchSpace

    space = SearchSpace.from_spec(make_spec([
        {"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1,
         "scaleType": "UNIT_LOG_SCALE"},
        {"parameterName": "c", "type": "CATEGORICAL", "categoricalValues": ["x", "y"]},
        {"parameterName": "added", "type": "INTEGER", "minValue": 1, "maxValue": 4}]))
    row = positions(space, {"lr": 1.0, "c": "z", "gone": 3})
    assert row[0] == pytest.approx(1.5)  # a decade above the range, on the log scale
    assert np.isnan(row[1:]).all()  # a category the new job lacks; a parameter it added
    assert positions(space, {"lr": 0.01, "c": "y", "added": 4})[:3] == pytest.approx(
        [0.5, 0.0, 1.0])


def test_the_earlier_jobs_model_is_flat_along_a_parameter_they_lacked():
    from tf_hptune.algorithms import make_designer
    from tf_hptune.space import SearchSpace

    spec = make_spec([B, {"parameterName": "added", "type": "DOUBLE", "minValue": 0.0,
                          "maxValue": 1.0}], goal="MINIMIZE")
    designer = make_designer(spec.algorithm, SearchSpace.from_spec(spec), spec.goal, seed=0)
    rng = np.random.default_rng(0)
    points = [({"b": float(b)}, float((b - 0.3) ** 2)) for b in rng.random(12)]
    designer.set_priors([prior("p", [B], points)])
    means = designer._prior.mean(np.array([[0.3, 0.0], [0.3, 1.0], [0.9, 0.5]]))
    assert means[0] == pytest.approx(means[1]) and means[2] > means[0]
    assert len(designer.suggest(3)) == 3


def branin(p):
    import math
    x0, x1 = p["x0"], p["x1"]
    return ((x1 - 5.1 / (4 * math.pi ** 2) * x0 ** 2 + 5 / math.pi * x0 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x0) + 10)


BRANIN = [{"parameterName": "x0", "type": "DOUBLE", "minValue": -5.0, "maxValue": 10.0},
          {"parameterName": "x1", "type": "DOUBLE", "minValue": 0.0, "maxValue": 15.0}]


def best_after(store, name, n, seed):
    study = Study.create(make_spec(BRANIN, goal="MINIMIZE", hyperparameterMetricTag="loss",
                            maxTrials=n), store=store, name=name, seed=seed)
    values = []
    for _ in range(n):
        (t,) = study.suggest(1)
        values.append(branin(t.params))
        study.complete(t.id, values[-1])
    return min(values), study


def earlier_job(store, seed, objective):
    study = Study.create(make_spec(BRANIN, goal="MINIMIZE", hyperparameterMetricTag="loss",
                            maxTrials=40, algorithm="RANDOM_SEARCH"),
                  store=store, name="branin_job_1", seed=seed)
    for t in study.suggest(40):
        study.complete(t.id, objective(t.params))
    study.finish(State.SUCCEEDED)


def test_a_prior_from_the_same_task_lowers_regret_over_seeds():
    wins = 0
    for seed in range(6):
        store = open_store(":memory:")
        earlier_job(store, seed + 100, branin)
        with_prior, study = best_after(store, "branin_job_2", 5, seed)
        assert study.priors and study.priors[0].job_name == "branin_job_1"
        without, _ = best_after(open_store(":memory:"), "branin_job_2", 5, seed)
        wins += with_prior < without
    assert wins >= 5


BRANIN_MIN = 0.397887
SEEDS = range(5)


@pytest.fixture(scope="module")
def no_prior_regret():
    """Regret after 12 trials without a prior, per seed (shared by the tests below)."""
    return [best_after(open_store(":memory:"), "branin_job_2", 12, s)[0] - BRANIN_MIN
            for s in SEEDS]


def regret_with_prior(objective):
    out = []
    for seed in SEEDS:
        store = open_store(":memory:")
        earlier_job(store, seed + 100, objective)
        out.append(best_after(store, "branin_job_2", 12, seed)[0] - BRANIN_MIN)
    return out


@pytest.mark.slow
def test_the_stacked_model_keeps_a_good_prior_useful_after_the_design(no_prior_regret):
    with_prior = regret_with_prior(branin)
    assert np.median(with_prior) < 0.5 * np.median(no_prior_regret)


@pytest.mark.slow
def test_a_misleading_prior_does_not_raise_regret_beyond_the_margin(no_prior_regret):
    misled = regret_with_prior(lambda p: -branin(p))
    assert np.median(misled) <= 1.1 * np.median(no_prior_regret)


def test_a_trusted_prior_keeps_the_design_out_of_the_earlier_jobs_worst_region():
    from tf_hptune.algorithms.bayes.optimizer import row_keys
    store = open_store(":memory:")
    earlier_job(store, 7, branin)
    _, study = best_after(store, "branin_job_2", 3, 0)
    designer = study.designer
    assert designer._prior_worst.any()
    taken = set(row_keys(designer._prior_rows))  # the prior's own points are used up
    first = int(np.argmax(designer._prior_worst))  # the first design row in the worst region
    taken |= set(row_keys(designer._design[:first]))
    worst = designer._design[first]
    assert designer._next_design(taken, False, False) == pytest.approx(worst)
    assert designer._next_design(taken, True, False) != pytest.approx(worst)


def test_a_misleading_prior_changes_nothing():
    store = open_store(":memory:")
    earlier_job(store, 7, lambda p: -branin(p))  # the opposite task: its best is our worst
    _, misled = best_after(store, "branin_job_2", 12, 0)
    _, clean = best_after(open_store(":memory:"), "branin_job_2", 12, 0)
    assert misled.priors  # it was offered, and its model ranks the first results backwards
    assert [t.params for t in misled.trials] == [t.params for t in clean.trials]


def verdict(designer, X, losses):
    """(trusted, strongly) for these results."""
    from tf_hptune.algorithms.bayes.designer import STRONG_Z
    trusted, agreement = designer._trust(X, losses)
    return trusted, trusted and agreement >= STRONG_Z


def test_a_good_prior_opens_once_four_results_agree_strongly():
    store = open_store(":memory:")
    earlier_job(store, 7, branin)
    _, study = best_after(store, "branin_job_2", 8, 0)
    _, clean = best_after(open_store(":memory:"), "branin_job_2", 8, 0)
    designer = study.designer
    prior_points = [t.params for t in designer.priors[0].trials]
    from_prior = [any(t.params == pytest.approx(p) for p in prior_points)
                  for t in study.trials[:designer.n_initial]]
    # the first results are the quasi-random design's, as without a prior, to test it on;
    # three agreeing results make it trusted, four make it strongly so
    first = study.trials[:4]
    assert [t.params for t in first] == [t.params for t in clean.trials[:4]]
    X = designer.space.encode_rows([t.params for t in first])
    losses = np.array([branin(t.params) for t in first])
    assert verdict(designer, X[:3], losses[:3]) == (True, False)
    assert verdict(designer, X, losses) == (True, True)
    assert not any(from_prior[:4]) and from_prior[4]
    best = min(designer.priors[0].trials, key=lambda t: t.value).params
    assert study.trials[4].params == pytest.approx(best)


class ColumnZero:
    """An earlier jobs' model that predicts a row's first unit column."""

    def mean(self, X: np.ndarray) -> np.ndarray:
        return X[:, 0]


def unit_designer(prior):
    from tf_hptune.algorithms.bayes.designer import BayesianDesigner
    from tf_hptune.space import SearchSpace
    spec = load_spec(make_spec([B, B | {"parameterName": "c"}], goal="MINIMIZE"))
    designer = BayesianDesigner(SearchSpace.from_spec(spec), spec.goal, 0)
    designer._prior = prior
    return designer


def test_a_failed_trust_test_is_reversed_only_by_strong_agreement():
    from tf_hptune.algorithms.bayes.designer import RECOVER_RESULTS, TRUST_RESULTS
    designer = unit_designer(ColumnZero())
    X = np.column_stack([np.linspace(0.05, 0.95, 30), np.full(30, 0.5)])
    agreeing = X[:, 0].copy()
    first = agreeing.copy()
    first[:TRUST_RESULTS] = first[:TRUST_RESULTS][::-1]  # the first three ranked backwards
    # (trusted, strongly): three results ranked right are trusted, but not strongly yet
    assert verdict(designer, X[:TRUST_RESULTS], agreeing[:TRUST_RESULTS]) == (True, False)
    assert verdict(designer, X[:4], agreeing[:4]) == (True, True)
    assert verdict(designer, X[:TRUST_RESULTS], first[:TRUST_RESULTS]) == (False, False)
    # 3 of 15 pairs discordant at 6 results: tau 0.6, under two standard deviations (0.71)
    assert RECOVER_RESULTS <= 6 and verdict(designer, X[:6], first[:6]) == (False, False)
    assert verdict(designer, X[:10], first[:10]) == (True, True)  # 3 of 45: tau 0.87 > 0.50
    # one that ranks the later results backwards is not trusted again
    backwards = -agreeing
    backwards[:TRUST_RESULTS] = first[:TRUST_RESULTS]
    assert not any(designer._trust(X[:n], backwards[:n])[0] for n in range(3, 31))
    # the verdict of the first 30 results stands: later ones do not reverse it
    more = np.vstack([X[:30], X])
    assert verdict(designer, more, np.concatenate([backwards[:30], agreeing])) == (False, False)


def test_the_stacked_model_is_used_only_where_it_predicts_clearly_better():
    from tests.algorithms.test_bayes_stacked import prior_model, task
    from tf_hptune.algorithms.bayes.gp import GaussianProcess
    from tf_hptune.algorithms.bayes.stacked import Stacked
    X = np.random.default_rng(1).random((8, 2))
    losses = 3.0 * task(X) + 5.0
    assert isinstance(unit_designer(prior_model())._fit(X, losses, True), Stacked)
    # an earlier task that shares a part of the shape: it keeps some weight, but predicts the
    # trials no better than the plain GP, which is then used
    partial = prior_model(lambda X: task(X) + 3.0 * np.cos(9.0 * X[:, 1]))
    designer = unit_designer(partial)
    plain = designer._fit(X, losses, False)
    stacked = Stacked.fit(X, plain.y, designer._columns, partial, plain.hyper, plain.warp)
    assert stacked.weight > 0.0
    assert type(designer._fit(X, losses, True)) is GaussianProcess


@pytest.mark.parametrize(("losses", "probed"), [
    ([0.4, 0.2, 0.6, 0.8], True),  # 1 of 6 pairs discordant: 1.4 sd, not yet strong
    ([0.4, 0.2, 0.8, 0.6], False),  # 2 of 6: 0.7 sd
])
def test_the_designs_last_slot_tries_the_earlier_jobs_best_point_on_weaker_agreement(
        losses, probed):
    from tf_hptune.algorithms.bayes.designer import PROBE_Z, STRONG_Z
    from tf_hptune.trial import Trial
    designer = unit_designer(ColumnZero())
    designer._prior_rows = np.array([[0.05, 0.3], [0.1, 0.9]])
    assert designer.n_initial == 5
    points = [{"b": b, "c": 0.5} for b in (0.2, 0.4, 0.6, 0.8)]
    X = designer.space.encode_rows(points)
    trusted, agreement = designer._trust(X, np.array(losses))
    # the first test failed (the first three rank at 0.5 sd): the probe needs no trust
    assert not trusted and agreement < STRONG_Z and (agreement >= PROBE_Z) == probed
    done = [Trial(str(i), p, value=v) for i, (p, v) in enumerate(zip(points, losses))]
    designer.update(done[:3], [])
    third = designer.space.encode(designer.suggest(1)[0])
    assert not np.allclose(third, designer._prior_rows[0])  # not the design's last slot
    designer.update(done, [])
    fifth = designer.space.encode(designer.suggest(1)[0])
    assert np.allclose(fifth, designer._prior_rows[0]) == probed
