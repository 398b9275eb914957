"""The trial side of tune(): the function's way into a fresh process, the context it gets, and
what its return value becomes."""
from __future__ import annotations

import pickle
import sys
import threading

import pytest

from tests.fixtures import train_fns
from tests.fixtures.tftrial.tftrial.testing import trial_env
from tf_hptune.channel import TrialChannel
from tf_hptune.context import trial_context
from tf_hptune.errors import UsageError
from tf_hptune.train_fn import (
    TrainContext,
    dump_function,
    load_function,
    register_local,
    run,
)


def write(tmp_path, payload: bytes):
    path = tmp_path / "train_fn.pkl"
    path.write_bytes(payload)
    return str(path)


def test_an_importable_function_travels_by_name(tmp_path):
    payload = pickle.loads(dump_function(train_fns.quadratic))
    assert (payload["module"], payload["qualname"]) == ("tests.fixtures.train_fns", "quadratic")
    assert "pickled" not in payload
    assert load_function(write(tmp_path, dump_function(train_fns.quadratic))) is \
        train_fns.quadratic


def test_a_notebook_function_without_cloudpickle_is_refused_saying_why(monkeypatch):
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # import fails

    def train(params, context):
        return 1.0

    with pytest.raises(UsageError, match=r"'test_a_notebook.*<locals>.train' is defined "
                       "inside another function, which a fresh trial process cannot import, "
                       "and cloudpickle.*is not installed.*in_process=True"):
        dump_function(train)
    train.__module__ = "__main__"
    train.__qualname__ = "train"
    with pytest.raises(UsageError, match=r"defined in the notebook or script \(__main__\)"):
        dump_function(train)
    with pytest.raises(UsageError, match="must be a function train_fn.params, context., got int"):
        dump_function(3)


def test_a_closure_travels_by_value_and_one_that_holds_a_lock_is_refused(tmp_path):
    pytest.importorskip("cloudpickle")
    offset = 0.5

    def train(params, context):
        return params["x"] + offset

    loaded = load_function(write(tmp_path, dump_function(train)))
    assert loaded is not train and loaded({"x": 1.0}, None) == 1.5
    lock = threading.Lock()

    def locked(params, context):
        with lock:
            return 1.0

    with pytest.raises(UsageError, match="cannot be pickled for a fresh trial process: "
                       "TypeError: .*lock.*build those inside train_fn, or pass in_process"):
        dump_function(locked)


def test_a_local_key_works_only_in_its_process():
    def train(params, context):
        return 2.0

    assert load_function(register_local(train)) is train
    with pytest.raises(UsageError, match="belongs to the process that ran tune"):
        load_function("local:1")


def test_reports_and_the_returned_value_become_the_trials_measurements(tmp_path, monkeypatch):
    paths = trial_env(monkeypatch, tmp_path, "loss", params='{"x": 0.5, "n": 3}')
    seen = {}

    def train(params, context: TrainContext):
        seen.update(params=params, trial=context.trial_id, tag=context.metric_tag)
        context.report(3.0)  # step 1
        context.report(2.0)  # step 2
        context.report(1.5, step=40)
        assert not context.should_stop()
        return 1.25

    run(train, trial_context())
    assert seen == {"params": {"x": 0.5, "n": 3}, "trial": "1", "tag": "loss"}
    # the returned value replaces the value at the last step reported
    assert TrialChannel(paths, "loss").measurements() == [(1, 3.0), (2, 2.0), (40, 1.25)]
    assert (paths.control_dir / "LISTENING").exists()  # should_stop() said it listens


def test_a_returned_value_alone_is_the_metric_at_step_0_and_a_non_number_is_an_error(
        tmp_path, monkeypatch):
    paths = trial_env(monkeypatch, tmp_path, "loss", params='{"x": 0.5}')
    run(lambda params, context: params["x"] * 2, trial_context())
    assert TrialChannel(paths, "loss").measurements() == [(0, 1.0)]
    with pytest.raises(TypeError, match="train_fn returned str .'not a number'.; return the "
                       "final metric as a number, or None"):
        run(train_fns.returns_text, trial_context())
