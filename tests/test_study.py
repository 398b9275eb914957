"""The ask/tell Study, in memory and in a store."""
from __future__ import annotations

import math

import pytest

import tf_hptune
from tests.conftest import MIXED_PARAMS, make_spec
from tf_hptune.errors import JobExistsError, StoreError
from tf_hptune.store import State, open_store
from tf_hptune.trial import estimates


def spec(**hp):
    return make_spec(MIXED_PARAMS, goal="MINIMIZE", hyperparameterMetricTag="loss", **hp)


def test_suggest_report_complete_in_memory():
    study = tf_hptune.Study.create(spec(maxTrials=3), seed=0)
    trials = study.suggest(2)
    assert [t.id for t in trials] == ["1", "2"] and all(t.state is State.QUEUED for t in trials)
    study.report("1", 100, 3.0)
    study.report("1", 100, 3.0)  # reporting twice is harmless
    study.report("1", 200, 2.0)
    done = study.complete("1")
    assert done.state is State.SUCCEEDED and (done.final_step, done.final_value) == (200, 2.0)
    assert [(m.step, m.value) for m in done.measurements] == [(100, 3.0), (200, 2.0)]
    assert study.complete("2", 1.5).final_value == 1.5
    assert study.best_trial.id == "2"
    assert len(study.suggest(5)) == 1  # maxTrials counts every trial
    assert study.suggest(1) == []


def test_the_store_hears_only_new_or_changed_measurements(tmp_path):
    study = tf_hptune.Study.create(spec(maxTrials=2), store=tmp_path / "s.db", name="j", seed=0)
    (t,) = study.suggest(1)
    heard = []
    add = study.store.add_measurements
    study.store.add_measurements = lambda job, tid, ms: heard.append(
        [(m.step, m.value) for m in ms]) or add(job, tid, ms)
    assert study.report_many(t.id, [(1, 3.0), (2, math.nan)]) == 2
    assert study.report_many(t.id, [(1, 3.0), (2, math.nan)]) == 0  # a poll with no news
    assert study.report_many(t.id, []) == 0
    assert study.report_many(t.id, [(1, 3.0), (2, math.nan), (3, 1.0), (1, 2.5)]) == 2
    assert heard[0] == [(1, 3.0), (2, heard[0][1][1])] and len(heard) == 2
    assert heard[1] == [(3, 1.0), (1, 2.5)]
    assert [(m.step, m.value) for m in study.trial(t.id).measurements][::2] == [(1, 2.5), (3, 1.0)]


def test_failures_and_non_finite_values():
    study = tf_hptune.Study.create(spec(maxTrials=4), seed=0)
    a, b, c = study.suggest(3)
    assert study.fail(a.id, "out of memory").reason == "out of memory"
    failed = study.complete(b.id)
    assert failed.state is State.FAILED and "no value of metric 'loss'" in failed.reason
    nan = study.complete(c.id, math.inf, step=10)
    assert nan.state is State.FAILED and "is inf at step 10" in nan.reason
    assert study.best_trial is None


def test_a_study_in_a_store_is_continued_by_load(tmp_path):
    path = tmp_path / "s.db"
    study = tf_hptune.Study.create(spec(maxTrials=4), store=path, name="nb_job", seed=0)
    (t,) = study.suggest(1)
    study.complete(t.id, 0.5, step=7)
    again = tf_hptune.Study.load(path, "nb_job", seed=1)
    assert [x.params for x in again.trials] == [t.params]
    assert [x.id for x in again.suggest(2)] == ["2", "3"]
    assert open_store(path).get_trial("nb_job", "1").final_value == 0.5
    with pytest.raises(JobExistsError):
        tf_hptune.Study.create(spec(), store=path, name="nb_job")


def test_unknown_trial_is_a_clear_error():
    study = tf_hptune.Study.create(spec(), seed=0)
    with pytest.raises(StoreError, match="no trial '9'"):
        study.report("9", 1, 1.0)


def test_designer_sees_finished_and_running_trials():
    study = tf_hptune.Study.create(spec(maxTrials=5, algorithm="RANDOM_SEARCH"), seed=0)
    a, b = study.suggest(2)
    study.complete(a.id, 1.0)
    study.suggest(1)
    assert [v.trial_id for v in study.designer.completed] == ["1"]
    assert [v.trial_id for v in study.designer.running] == ["2"]
    assert study.designer.completed[0].value == 1.0


def test_the_designer_learns_a_stopped_trials_forecast_not_its_early_value():
    study = tf_hptune.Study.create(spec(maxTrials=6), seed=0)
    trials = study.suggest(4)
    # three trials end near 1.0 whatever their start; the fourth is stopped after one bad value
    for t, start in zip(trials[:3], (1.3, 1.6, 1.2)):
        for step, value in ((100, start), (200, 1.1), (300, 1.0)):
            study.report(t.id, step, value)
        study.complete(t.id)
    study.report(trials[3].id, 100, 5.0)
    stopped = study.complete(trials[3].id, stopped_early=True, reason="rule")
    assert stopped.final_value == 5.0  # the reported final metric stays the last value
    study.suggest(1)
    views = study.designer.completed
    learned = dict(zip([v.trial_id for v in views], estimates(views)))
    assert abs(learned[trials[3].id] - 1.0) < abs(5.0 - 1.0) / 4
    assert all(learned[v.trial_id] == v.value for v in views if not v.stopped_early)


def test_a_study_is_given_its_designer_and_its_stopping_rule_by_name(tmp_path):
    from tf_hptune.algorithms import RandomDesigner
    from tf_hptune.errors import SpecError
    from tf_hptune.stopping import MedianStopper

    s = spec(maxTrials=3, enableTrialEarlyStopping=True)
    study = tf_hptune.Study.create(s, designer=RandomDesigner, stopper="median", seed=0)
    assert isinstance(study.designer, RandomDesigner)
    assert isinstance(study.stopper, MedianStopper)
    by_config = tf_hptune.Study.create(
        spec(maxTrials=3, enableTrialEarlyStopping=True, earlyStoppingRule="median"),
        store=tmp_path / "s.db", name="ruled")
    assert isinstance(by_config.stopper, MedianStopper)
    assert isinstance(tf_hptune.Study.load(tmp_path / "s.db", "ruled").stopper, MedianStopper)
    with pytest.raises(SpecError, match=r"earlyStoppingRule.*unknown early-stopping rule"):
        tf_hptune.Study.create(spec(earlyStoppingRule="patience"), store=tmp_path / "s.db",
                               name="never")
    with pytest.raises(KeyError):  # nothing was recorded
        open_store(tmp_path / "s.db").get_job("never")


def test_a_study_job_ends_after_max_trials_and_is_learned_from(tmp_path):
    path = tmp_path / "s.db"
    study = tf_hptune.Study.create(spec(maxTrials=3), store=path, name="census_run_1", seed=0)
    for i, t in enumerate(study.suggest(3)):
        assert open_store(path).get_job("census_run_1").state is State.RUNNING
        study.complete(t.id, float(i))
    job = open_store(path).get_job("census_run_1")
    assert job.state is State.SUCCEEDED and job.end_time is not None
    later = tf_hptune.Study.create(spec(maxTrials=2), store=path, name="census_run_2")
    assert [p.job_name for p in later.priors] == ["census_run_1"]
    resumed = tf_hptune.Study.create({"hyperparameters": {
        "maxTrials": 1, "resumePreviousJobId": "census_run_1"}}, store=path, name="census_r3")
    assert len(resumed.previous_trials) == 3
    # the designer knows how many trials the search has in all, the resumed job's included
    assert (study.designer.budget, later.designer.budget, resumed.designer.budget) == (3, 2, 4)


def test_a_study_job_of_failed_trials_ends_failed_by_the_services_rule():
    study = tf_hptune.Study.create(spec(maxTrials=3), seed=0)
    a, b, c = study.suggest(3)
    study.fail(a.id, "out of memory")
    study.fail(b.id, "disk full")
    study.complete(c.id, 1.0)
    job = study.store.get_job(study.name)
    assert job.state is State.FAILED  # 2 of 3 failed: more than half
    assert job.error_message.endswith("trial 1: out of memory")  # the first failure


def test_a_study_as_a_context_manager_ends_its_job(tmp_path):
    path = tmp_path / "s.db"
    with tf_hptune.Study.create(spec(maxTrials=5), store=path, name="done_early") as study:
        (t, running) = study.suggest(2)
        study.complete(t.id, 0.5)
    job = open_store(path).get_job("done_early")
    assert job.state is State.SUCCEEDED  # fewer trials than maxTrials: ended by the block
    assert open_store(path).get_trial("done_early", running.id).state is State.CANCELLED
    with pytest.raises(KeyboardInterrupt):
        with tf_hptune.Study.create(spec(maxTrials=5), store=path, name="interrupted") as study:
            (t,) = study.suggest(1)
            study.report(t.id, 10, 2.0)
            raise KeyboardInterrupt
    interrupted = open_store(path).get_trial("interrupted", "1")
    assert open_store(path).get_job("interrupted").state is State.CANCELLED
    assert interrupted.state is State.CANCELLED and interrupted.final_value == 2.0
    with pytest.raises(RuntimeError):
        with tf_hptune.Study.create(spec(maxTrials=5), store=path, name="crashed") as study:
            study.suggest(1)
            raise RuntimeError("the notebook's code broke")
    crashed = open_store(path).get_job("crashed")
    assert crashed.state is State.FAILED
    assert crashed.error_message == "RuntimeError: the notebook's code broke"
