"""Conformance suite: every ``Store`` backend must pass these, through the interface only."""
from __future__ import annotations

import copy
import dataclasses
import math
import time

import pytest

from tf_hptune.errors import JobExistsError, JobNameError, JobNotFoundError, StoreError
from tf_hptune.store import JobRecord, Measurement, State, Store, TrialRecord

CONFIG = {"trainingInput": {"hyperparameters": {"goal": "MINIMIZE", "maxTrials": 4}}}
LAUNCH = {"module": "trainer.task", "package_path": "trainer", "args": ["--epochs", "2"]}


@pytest.fixture
def job(store: Store) -> JobRecord:
    """A store holding one job, ``job1``."""
    return store.create_job("job1", copy.deepcopy(CONFIG), copy.deepcopy(LAUNCH))


# --- jobs ---------------------------------------------------------------------------------


def test_create_job_is_queued_with_config(store: Store) -> None:
    before = time.time()
    record = store.create_job("job1", CONFIG, LAUNCH)
    assert record.name == "job1"
    assert record.state is State.QUEUED
    assert record.config == CONFIG
    assert record.launch == LAUNCH
    assert before <= record.create_time <= time.time()
    assert record.start_time is None and record.end_time is None
    assert record.error_message is None and record.tuner_pid is None
    assert store.get_job("job1") == record


def test_list_jobs_oldest_first(store: Store) -> None:
    assert store.list_jobs() == []
    for name in ("zeta", "alpha", "mid_1"):
        store.create_job(name, CONFIG, LAUNCH)
    assert [j.name for j in store.list_jobs()] == ["zeta", "alpha", "mid_1"]


def test_duplicate_job_name(store: Store, job: JobRecord) -> None:
    with pytest.raises(JobExistsError, match="job1.*already exists"):
        store.create_job("job1", {"other": True}, {})
    assert store.get_job("job1").config == CONFIG


@pytest.mark.parametrize(
    "name", ["", "1job", "_job", "job-1", "job 1", "jöb", "a" * 129, None, 7]
)
def test_bad_job_names(store: Store, name: object) -> None:
    with pytest.raises(JobNameError):
        store.create_job(name, CONFIG, LAUNCH)  # type: ignore[arg-type]
    assert store.list_jobs() == []


def test_longest_job_name_is_fine(store: Store) -> None:
    assert store.create_job("J" * 128, CONFIG, LAUNCH).name == "J" * 128


def test_missing_job(store: Store, job: JobRecord) -> None:
    with pytest.raises(JobNotFoundError, match="nope"):
        store.get_job("nope")
    with pytest.raises(JobNotFoundError, match="did you mean 'job1'"):
        store.get_job("job2")
    with pytest.raises(JobNotFoundError):
        store.update_job("nope", state=State.RUNNING)
    with pytest.raises(JobNotFoundError):
        store.list_trials("nope")
    with pytest.raises(JobNotFoundError):
        store.create_trial("nope", "1", {})


def test_missing_job_is_a_key_error_and_store_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.get_job("nope")
    with pytest.raises(StoreError):
        store.get_job("nope")


def test_update_job(store: Store, job: JobRecord) -> None:
    updated = store.update_job(
        "job1", state=State.RUNNING, start_time=10.5, tuner_pid=1234, tuner_host="box"
    )
    assert updated.state is State.RUNNING
    assert (updated.start_time, updated.tuner_pid, updated.tuner_host) == (10.5, 1234, "box")
    assert updated.create_time == job.create_time
    assert store.get_job("job1") == updated
    final = store.update_job(
        "job1", state="FAILED", end_time=20.0, error_message="boom", config={"x": 1},
        launch={"y": [1, 2]}, info={"learned_from": ["a", "b"]},
    )
    assert final.state is State.FAILED and final.state.is_final
    assert (final.end_time, final.error_message) == (20.0, "boom")
    assert final.config == {"x": 1} and final.launch == {"y": [1, 2]}
    assert final.info == {"learned_from": ["a", "b"]} and job.info == {}
    assert final.tuner_pid == 1234
    cleared = store.update_job("job1", error_message=None)
    assert cleared.error_message is None


def test_update_job_without_fields_returns_snapshot(store: Store, job: JobRecord) -> None:
    assert store.update_job("job1") == job


def test_update_job_rejects_unknown_field(store: Store, job: JobRecord) -> None:
    with pytest.raises((TypeError, ValueError), match="bogus"):
        store.update_job("job1", bogus=1)
    with pytest.raises((TypeError, ValueError), match="name"):
        store.update_job("job1", name="other")
    with pytest.raises(ValueError, match="SLEEPING"):
        store.update_job("job1", state="SLEEPING")
    assert store.get_job("job1") == job


# --- trials -------------------------------------------------------------------------------


def test_create_and_get_trial(store: Store, job: JobRecord) -> None:
    trial = store.create_trial("job1", "1", {"lr": 0.01})
    assert isinstance(trial, TrialRecord)
    assert (trial.job_name, trial.trial_id, trial.number) == ("job1", "1", 1)
    assert trial.state is State.QUEUED
    assert trial.params == {"lr": 0.01}
    assert trial.measurements == ()
    assert trial.stopped_early is False
    assert trial.final_value is None and trial.final_step is None
    assert store.get_trial("job1", "1") == trial


def test_duplicate_trial_id(store: Store, job: JobRecord) -> None:
    store.create_trial("job1", "1", {"lr": 0.01})
    with pytest.raises(StoreError, match="already exists"):
        store.create_trial("job1", "1", {"lr": 0.5})
    assert store.get_trial("job1", "1").params == {"lr": 0.01}


def test_same_trial_id_in_two_jobs(store: Store, job: JobRecord) -> None:
    store.create_job("job2", CONFIG, LAUNCH)
    store.create_trial("job1", "1", {"a": 1})
    store.create_trial("job2", "1", {"a": 2})
    assert store.get_trial("job2", "1").params == {"a": 2}
    assert [t.job_name for t in store.list_trials("job1")] == ["job1"]


def test_missing_trial(store: Store, job: JobRecord) -> None:
    with pytest.raises(StoreError):
        store.get_trial("job1", "1")
    with pytest.raises(StoreError):
        store.update_trial("job1", "1", state=State.RUNNING)
    with pytest.raises(StoreError):
        store.add_measurements("job1", "1", [Measurement(1, 0.5)])
    with pytest.raises(JobNotFoundError):
        store.get_trial("nope", "1")


def test_list_trials_in_numeric_id_order(store: Store, job: JobRecord) -> None:
    for number in (2, 10, 1, 9, 11, 3):
        store.create_trial("job1", str(number), {"n": number})
    trials = store.list_trials("job1")
    assert [t.trial_id for t in trials] == ["1", "2", "3", "9", "10", "11"]
    assert [t.params["n"] for t in trials] == [1, 2, 3, 9, 10, 11]


def test_update_trial(store: Store, job: JobRecord) -> None:
    store.create_trial("job1", "1", {"lr": 0.01})
    running = store.update_trial(
        "job1", "1", state=State.RUNNING, start_time=5.0, pid=42, trial_dir="/tmp/t1"
    )
    assert running.state is State.RUNNING
    assert (running.start_time, running.pid, running.trial_dir) == (5.0, 42, "/tmp/t1")
    done = store.update_trial(
        "job1", "1", state="SUCCEEDED", end_time=9.0, final_step=300, final_value=0.25,
        stopped_early=True, reason="median rule", log_tail="last line\n",
    )
    assert done.state is State.SUCCEEDED
    assert (done.end_time, done.final_step, done.final_value) == (9.0, 300, 0.25)
    assert done.stopped_early is True
    assert (done.reason, done.log_tail) == ("median rule", "last line\n")
    assert done.pid == 42
    assert store.get_trial("job1", "1") == done


def test_update_trial_rejects_unknown_field(store: Store, job: JobRecord) -> None:
    store.create_trial("job1", "1", {})
    with pytest.raises((TypeError, ValueError), match="params"):
        store.update_trial("job1", "1", params={"lr": 1.0})
    with pytest.raises((TypeError, ValueError), match="colour"):
        store.update_trial("job1", "1", colour="red")
    with pytest.raises(ValueError, match="DONE"):
        store.update_trial("job1", "1", state="DONE")


def test_final_value_may_be_nan(store: Store, job: JobRecord) -> None:
    store.create_trial("job1", "1", {})
    assert math.isnan(store.update_trial("job1", "1", final_value=float("nan")).final_value)
    assert math.isnan(store.get_trial("job1", "1").final_value)  # type: ignore[arg-type]
    assert store.update_trial("job1", "1", final_value=None).final_value is None


def test_params_round_trip_types(store: Store, job: JobRecord) -> None:
    params = {
        "learning_rate": 0.1, "batch_size": 64, "batch_str": "64", "hidden": 64.0,
        "tiny": 1e-300, "third": 1 / 3, "big": 2**53 + 1, "neg": -7, "optimizer": "adam",
        "unicode": "ümlaut ✓",
    }
    store.create_trial("job1", "1", params)
    for got in (store.get_trial("job1", "1").params, store.list_trials("job1")[0].params):
        assert got == params
        for key, value in params.items():
            assert type(got[key]) is type(value), key
            assert got[key] == value, key


# --- measurements -------------------------------------------------------------------------


def test_measurements_in_step_order_and_change_count(store: Store, job: JobRecord) -> None:
    store.create_trial("job1", "1", {})
    added = store.add_measurements(
        "job1", "1", [Measurement(300, 0.3, 3.0), Measurement(100, 0.5, 1.0),
                      Measurement(200, 0.4, 2.0)]
    )
    assert len(added) == 3
    assert [m.step for m in added] == [100, 200, 300]
    trial = store.get_trial("job1", "1")
    assert [(m.step, m.value, m.time) for m in trial.measurements] == [
        (100, 0.5, 1.0), (200, 0.4, 2.0), (300, 0.3, 3.0)
    ]
    same = [Measurement(100, 0.5, 1.0), Measurement(200, 0.4, 2.0)]
    assert store.add_measurements("job1", "1", same) == ()
    changed = [Measurement(200, 0.45, 2.5), Measurement(400, 0.2, 4.0), Measurement(300, 0.3)]
    assert [(m.step, m.value) for m in store.add_measurements("job1", "1", changed)] == [
        (200, 0.45), (400, 0.2)]
    values = [(m.step, m.value) for m in store.get_trial("job1", "1").measurements]
    assert values == [(100, 0.5), (200, 0.45), (300, 0.3), (400, 0.2)]
    assert store.add_measurements("job1", "1", []) == ()


def test_measurements_per_trial_in_list(store: Store, job: JobRecord) -> None:
    for number in range(1, 12):
        store.create_trial("job1", str(number), {"n": number})
        store.add_measurements(
            "job1", str(number), [Measurement(s, number + s / 1000) for s in (30, 10, 20)]
        )
    store.create_trial("job1", "12", {})
    trials = store.list_trials("job1")
    for trial in trials[:-1]:
        assert [m.step for m in trial.measurements] == [10, 20, 30]
        assert [m.value for m in trial.measurements] == [
            trial.number + s / 1000 for s in (10, 20, 30)
        ]
    assert trials[-1].measurements == ()
    assert trials == [store.get_trial("job1", t.trial_id) for t in trials]
    assert [t.measurements for t in trials] == [
        store.get_trial("job1", t.trial_id).measurements for t in trials
    ]


def test_nan_and_inf_round_trip(store: Store, job: JobRecord) -> None:
    store.create_trial("job1", "1", {})
    values = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e308, 5e-324]
    assert len(store.add_measurements(
        "job1", "1", [Measurement(i, v) for i, v in enumerate(values)]
    )) == len(values)
    got = [m.value for m in store.get_trial("job1", "1").measurements]
    assert math.isnan(got[0])
    assert got[1:] == values[1:]
    assert all(isinstance(v, float) for v in got)
    again = [Measurement(i, v) for i, v in enumerate(values)]
    assert store.add_measurements("job1", "1", again) == ()
    assert len(store.add_measurements("job1", "1", [Measurement(0, 1.0)])) == 1
    assert len(store.add_measurements("job1", "1", [Measurement(0, float("nan"))])) == 1
    assert math.isnan(store.list_trials("job1")[0].measurements[0].value)


@pytest.mark.parametrize("step", [2**63, -(2**63) - 1, 10**20, float("inf"), 1e20])
def test_a_step_beyond_64_bits_is_refused_and_nothing_is_written(store, job, step) -> None:
    store.create_trial("job1", "1", {})
    batch = [Measurement(1, 0.5), Measurement(step, 0.25)]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step"):
        store.add_measurements("job1", "1", batch)
    assert store.get_trial("job1", "1").measurements == ()
    edges = [Measurement(2**63 - 1, 1.0), Measurement(-(2**63), 2.0)]
    assert len(store.add_measurements("job1", "1", edges)) == 2


def test_a_boolean_is_not_a_measurement(store: Store, job: JobRecord) -> None:
    store.create_trial("job1", "1", {})
    with pytest.raises(TypeError, match="value a number"):
        store.add_measurements("job1", "1", [Measurement(1, True)])
    assert store.get_trial("job1", "1").measurements == ()


# --- snapshots ----------------------------------------------------------------------------


def test_snapshots_are_frozen(store: Store, job: JobRecord) -> None:
    trial = store.create_trial("job1", "1", {"lr": 0.1})
    store.add_measurements("job1", "1", [Measurement(1, 0.5)])
    trial = store.get_trial("job1", "1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.state = State.RUNNING  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        trial.state = State.RUNNING  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        trial.measurements[0].value = 1.0  # type: ignore[misc]
    assert isinstance(trial.measurements, tuple)


def test_snapshots_do_not_change_with_the_store(store: Store, job: JobRecord) -> None:
    trial = store.create_trial("job1", "1", {"lr": 0.1})
    store.update_job("job1", state=State.RUNNING)
    store.update_trial("job1", "1", state=State.RUNNING)
    store.add_measurements("job1", "1", [Measurement(1, 0.5)])
    assert job.state is State.QUEUED
    assert trial.state is State.QUEUED and trial.measurements == ()
    # Mutating what a snapshot holds never reaches the store.
    job.config["trainingInput"]["hyperparameters"]["maxTrials"] = 99  # type: ignore[index]
    trial.params["lr"] = 9.0  # type: ignore[index]
    assert store.get_job("job1").config == CONFIG
    assert store.get_trial("job1", "1").params == {"lr": 0.1}


def test_context_manager_closes(store: Store) -> None:
    with store as s:
        assert s is store
        s.create_job("job1", CONFIG, LAUNCH)
    with pytest.raises(StoreError):
        store.list_jobs()
