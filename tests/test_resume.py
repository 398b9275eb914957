"""resumePreviousJobId: a new job continues an ended one."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import FAKE_PACKAGE, ROOT, make_spec
from tf_hptune.errors import SpecError
from tf_hptune.store import State, open_store
from tf_hptune.study import Study

GRID = [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 3},
        {"parameterName": "b", "type": "CATEGORICAL", "categoricalValues": ["x", "y"]}]


def finished_job(store, name="first", n=4, **hp):
    spec = make_spec(GRID, goal="MINIMIZE", hyperparameterMetricTag="loss", maxTrials=n, **hp)
    study = Study.create(spec, store=store, name=name, seed=0)
    for t in study.suggest(n):
        study.complete(t.id, float(t.params["a"]), step=10)
    study.finish(State.SUCCEEDED)
    return study


def resume_spec(previous="first", **hp):
    return {"hyperparameters": {"maxTrials": 2, "maxParallelTrials": 1,
                                "resumePreviousJobId": previous, **hp}}


def test_resumed_job_reuses_spec_continues_numbering_and_counts_new_trials(tmp_path):
    store = open_store(tmp_path / "s.db")
    first = finished_job(store)
    second = Study.create(resume_spec(), store=store, name="second", seed=1)
    assert second.spec.params == first.spec.params
    assert second.spec.goal is first.spec.goal and second.spec.metric_tag == "loss"
    new = second.suggest(5)
    assert [t.id for t in new] == ["5", "6"]  # maxTrials counts the new trials only
    assert [v.trial_id for v in second.designer.completed] == ["1", "2", "3", "4"]
    assert [t.id for t in store.list_trials("first")] == ["1", "2", "3", "4"]  # untouched
    stored = store.get_job("second").config["trainingInput"]["hyperparameters"]
    assert stored["resumePreviousJobId"] == "first"


def test_grid_search_resumed_never_repeats_explored_points(tmp_path):
    store = open_store(tmp_path / "s.db")
    first = finished_job(store, algorithm="GRID_SEARCH")
    second = Study.create(resume_spec(maxTrials=10, algorithm="GRID_SEARCH"), store=store,
                   name="second")
    new = second.suggest(10)
    before = {(t.params["a"], t.params["b"]) for t in first.trials}
    after = {(t.params["a"], t.params["b"]) for t in new}
    assert len(new) == 2 and not before & after and len(before | after) == 6


def test_chained_resumes_see_every_earlier_trial(tmp_path):
    store = open_store(tmp_path / "s.db")
    finished_job(store)
    second = Study.create(resume_spec(), store=store, name="second")
    for t in second.suggest(2):
        second.complete(t.id, 1.0)
    second.finish(State.SUCCEEDED)
    third = Study.create(resume_spec("second"), store=store, name="third")
    assert [t.id for t in third.suggest(2)] == ["7", "8"]
    assert len(third.designer.completed) == 6


@pytest.mark.parametrize("rule", ["curve", "median", "calibrated"])
def test_a_resumed_jobs_stopping_rule_knows_the_curves_it_continues(tmp_path, rule):
    """The resumed job is the same search: its first trial is judged against the finished
    curves of the job it resumes, with no warm-up of its own; without resuming, the same
    trial waits for the job's own trials to finish."""
    store = open_store(tmp_path / "s.db")
    early = {"enableTrialEarlyStopping": True, "earlyStoppingRule": rule}
    first = Study.create(make_spec(GRID, goal="MINIMIZE", hyperparameterMetricTag="loss",
                                   maxTrials=6, **early), store=store, name="first", seed=0)
    for i, t in enumerate(first.suggest(6)):
        for step in range(100, 1100, 100):
            first.report(t.id, step, 1.0 + 0.01 * i + 1.0 / step)
        first.complete(t.id)
    first.finish(State.SUCCEEDED)

    def first_trial(study: Study, value: float) -> bool:
        (t,) = study.suggest(1)
        for step in range(100, 600, 100):
            study.report(t.id, step, value)
        return study.should_stop(t.id)

    resumed = Study.create(resume_spec(**early), store=store, name="second", seed=1)
    assert first_trial(resumed, 50.0)  # far worse than every curve it continues: stopped
    assert not first_trial(resumed, 0.5)  # better than them all: never stopped
    alone = Study.create(make_spec(GRID, goal="MINIMIZE", hyperparameterMetricTag="loss",
                                   maxTrials=2, **early), store=store, name="alone", seed=1)
    assert not first_trial(alone, 50.0)  # its own warm-up: nothing has finished yet


@pytest.mark.parametrize(("hp", "path", "message"), [
    ({"resumePreviousJobId": "nope"}, "resumePreviousJobId", "no such job"),
    ({"goal": "MAXIMIZE"}, None, None),  # the default: taken from the resumed job
    ({"goal": "MINIMIZE", "hyperparameterMetricTag": "acc"}, "hyperparameterMetricTag",
     "conflicts with 'loss'"),
    ({"params": [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 9}]},
     "params", "conflict with the params of resumed job 'first'"),
])
def test_resume_errors(tmp_path, hp, path, message):
    store = open_store(tmp_path / "s.db")
    finished_job(store)
    if path is None:
        second = Study.create(resume_spec(**hp), store=store, name="second")
        assert second.spec.goal.value == "MINIMIZE"
        return
    with pytest.raises(SpecError, match=message) as err:
        Study.create(resume_spec(**hp), store=store, name="second")
    assert path in err.value.path
    assert [j.name for j in store.list_jobs()] == ["first"]  # nothing recorded


def test_resuming_a_running_job_is_refused(tmp_path):
    store = open_store(tmp_path / "s.db")
    running = Study.create(make_spec(GRID, maxTrials=3), store=store, name="first")
    running.suggest(1)
    with pytest.raises(SpecError, match="still RUNNING"):
        Study.create(resume_spec(), store=store, name="second")


def test_resume_through_the_cli(tmp_path):
    store = str(tmp_path / "s.db")
    finished_job(open_store(store))
    cfg = tmp_path / "resume.yaml"
    cfg.write_text(yaml.safe_dump({"trainingInput": resume_spec()}))
    proc = subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "submit", "training", "second",
         "--config", str(cfg), "--module-name", "trainer.task", "--package-path",
         str(FAKE_PACKAGE), "--job-dir", str(tmp_path / "out"), "--store", store,
         "--poll-interval", "0.05", "--stream-logs", "--", "--steps", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    described = yaml.safe_load(subprocess.run(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "describe", "second", "--store", store],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    assert described["trainingInput"]["hyperparameters"]["resumePreviousJobId"] == "first"
    assert sorted(t["trialId"] for t in described["trainingOutput"]["trials"]) == ["5", "6"]
    assert (tmp_path / "out" / "5").is_dir() and not (tmp_path / "out" / "1").exists()
