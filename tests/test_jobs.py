"""tf_hptune.jobs: what submit refuses before anything is recorded, how a job's trials start."""
from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import FAKE_PACKAGE
from tf_hptune import jobs
from tf_hptune.errors import JobNotFoundError, SpecError, UsageError
from tf_hptune.launch import LaunchConfig
from tf_hptune.spec import load_spec
from tf_hptune.store import open_store

PARAM = {"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 9}


def hyperparameters(params=(PARAM,)):
    return {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "params": list(params)}


@pytest.mark.parametrize(("training_input", "field"), [
    ({"scaleTier": "x" * 200_000}, "trainingInput.scaleTier"),
    ({"packageUris": [f"gs://b/p{i}.tar.gz" for i in range(900_000)]},
     "trainingInput.packageUris"),
    ({"hyperparameters": hyperparameters(
        [{**PARAM, "parameterName": f"p{i}"} for i in range(3000)])},
     "trainingInput.hyperparameters.params"),
    ({"args": ["--data=" + "y" * 140_000]},
     "the trainer args (after --, or trainingInput.args)"),
])
def test_configs_whose_trials_cannot_start_are_refused_at_submit(tmp_path, training_input,
                                                                  field):
    spec = load_spec({"trainingInput": {"hyperparameters": hyperparameters(), **training_input}})
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"),
                          user_args=tuple(training_input.get("args", ())))
    store = open_store(tmp_path / "s.db")
    with pytest.raises(SpecError, match="Argument list too long") as e:
        jobs.submit(spec, store, "job", launch)
    assert e.value.path == field
    with pytest.raises(JobNotFoundError):
        store.get_job("job")
    assert not (tmp_path / "out").exists()


def test_the_ray_executor_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else find_spec(name, *a))
    needs = r"--executor ray needs Ray: pip install 'tf-hptune\[ray\]'"
    with pytest.raises(UsageError, match=needs):
        jobs.launch_config("trainer.task", str(FAKE_PACKAGE), str(tmp_path), [],
                           {"executor": "ray"})
    # the local executor does not need it
    local = jobs.launch_config("trainer.task", str(FAKE_PACKAGE), str(tmp_path), [], {})
    assert local.package_path == str(FAKE_PACKAGE.resolve())
