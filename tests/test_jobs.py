"""tf_hptune.jobs: how a job's trials start."""
from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import FAKE_PACKAGE
from tf_hptune import jobs
from tf_hptune.errors import UsageError


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
