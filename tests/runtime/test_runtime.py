"""The tuner side of the runtime mode (no TensorFlow): the trial environment, the gs:// job dir,
the hint for trials that fail like TensorFlow 1.x code, and how they reach the trial."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import FAKE_PACKAGE, make_spec
from tf_hptune import runtime
from tf_hptune.launch import LaunchConfig, build_request
from tf_hptune.store import State
from tf_hptune.study import Study

TF1_FAILURES = {
    "AttributeError: module 'tensorflow' has no attribute 'logging'":
        "module 'tensorflow' has no attribute 'logging'",
    "AttributeError: module 'tensorflow._api.v2.train' has no attribute 'AdamOptimizer'":
        "module 'tensorflow._api.v2.train' has no attribute 'AdamOptimizer'",
    "ModuleNotFoundError: No module named 'tensorflow.contrib'":
        "No module named 'tensorflow.contrib'",
    "RuntimeError: tf.placeholder() is not compatible with eager execution.":
        "tf.placeholder() is not compatible with eager execution",
    "AttributeError: '_BatchDataset' object has no attribute 'make_one_shot_iterator'":
        "'_BatchDataset' object has no attribute 'make_one_shot_iterator'",
}


@pytest.mark.parametrize("version, env", [
    (None, {}), ("2.11", {}), ("2.1", {}), ("latest", {}),
    ("1.15", {"TF_HPTUNE_RUNTIME_VERSION": "1.15"}), ("1.4", {"TF_HPTUNE_RUNTIME_VERSION": "1.4"}),
])
def test_only_a_1x_version_asks_for_the_mode(version, env):
    assert runtime.trial_env(version, None) == env


def test_the_gcs_root_reaches_the_trial_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runtime.trial_env(None, "gcs") == {"TF_HPTUNE_GCS_ROOT": str(tmp_path / "gcs")}


def test_a_gs_job_dir_maps_under_the_root_and_needs_one():
    assert runtime.local_job_dir("/local/out", None) == "/local/out"
    assert runtime.local_job_dir("gs://b/jobs/j1", "/gcs") == "/gcs/b/jobs/j1"
    with pytest.raises(runtime.GcsPathError, match="--gcs-root"):
        runtime.local_job_dir("gs://b/jobs/j1", None)


@pytest.mark.parametrize("error", sorted(TF1_FAILURES))
def test_a_failure_like_1x_code_names_the_setting(error):
    tail = f'Traceback (most recent call last):\n  File "task.py", line 3\n{error}\n'
    hint = runtime.failure_hint(tail)
    assert hint == (f"The trainer looks like TensorFlow 1.x code ({TF1_FAILURES[error]}): run "
                    "it in the TensorFlow 1.x runtime mode with --runtime-version 1.15 "
                    "(trainingInput.runtimeVersion: '1.15').")


@pytest.mark.parametrize("tail", [
    "ValueError: Argument `labels` must not be None.",
    "AttributeError: module 'numpy' has no attribute 'float'",
    "ModuleNotFoundError: No module named 'trainer'",
    # a trial that had the mode says so in its last line
    "AttributeError: module 'tensorflow' has no attribute 'foo'\n"
    "tf_hptune: this trial ran in the TensorFlow 1.x runtime mode (runtimeVersion 1.15)",
])
def test_other_failures_get_no_hint(tail):
    assert runtime.failure_hint(tail) is None


def test_a_failed_trial_with_such_a_log_gets_the_hint_in_its_error_message():
    study = Study.create(make_spec([{"parameterName": "a", "type": "INTEGER", "minValue": 1,
                              "maxValue": 3}], maxTrials=3, maxParallelTrials=3))
    one, two, three = study.suggest(3)
    tail = "AttributeError: module 'tensorflow' has no attribute 'logging'"
    assert study.fail(one.trial_id, "exited with code 1", log_tail=tail).reason == (
        f"exited with code 1. {runtime.failure_hint(tail)}")
    assert study.fail(two.trial_id, "exited with code 1", log_tail="other").reason == (
        "exited with code 1")
    cancelled = study.fail(three.trial_id, "cancelled by the user", log_tail=tail,
                           state=State.CANCELLED)
    assert cancelled.reason == "cancelled by the user"


def test_the_launch_config_carries_the_mode_to_each_trial(tmp_path):
    spec = make_spec([{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 2}])
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path),
                          runtime_version="1.15", gcs_root=str(tmp_path / "gcs"))
    assert LaunchConfig.from_dict(launch.to_dict()) == launch
    env = build_request("job", "1", {"a": 1}, spec, launch).env
    assert env["TF_HPTUNE_RUNTIME_VERSION"] == "1.15"
    assert env["TF_HPTUNE_GCS_ROOT"] == str(tmp_path / "gcs")
    plain = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path))
    plain_env = build_request("job", "1", {"a": 1}, spec, plain).env
    assert not {"TF_HPTUNE_RUNTIME_VERSION", "TF_HPTUNE_GCS_ROOT"} & set(plain_env)


def test_the_tuner_side_imports_neither_tensorflow_nor_the_trial_side():
    code = ("import sys, tf_hptune.runtime, tf_hptune.launch, tf_hptune.study; "
            "print([m for m in sys.modules if m.split('.')[0] == 'tensorflow' "
            "or m.startswith('tf_hptune.runtime.trial')])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
