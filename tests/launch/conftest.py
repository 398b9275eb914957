"""A local Ray cluster of 2 CPUs for the Ray launcher's tests, started once per session, and their
helpers (also used by ``tests/fixtures/ray_lost_node.py``)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tf-hptune[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def make_ray_launcher(request: pytest.FixtureRequest):
    """A RayLauncher on the session's cluster, its trials' node files under a fresh
    directory."""
    request.getfixturevalue("ray_cluster")
    from tf_hptune.launch.ray import RayLauncher

    return RayLauncher(node_root=str(request.getfixturevalue("tmp_path_factory").mktemp("node")))


def node_of(tmp_path: Path, trial_id: str, once: Path | None = None,
            timeout: float = 120.0) -> dict:
    """Where trial ``trial_id`` runs, once its node said so and, with ``once`` (the fake
    trainer's ``--hang-once`` directory), once the trainer is at its hang: the node says
    where as soon as the trainer is spawned, and a trial lost before its trainer left the
    marker would hang again when started once more."""
    path = tmp_path / "out" / "tf_hptune" / trial_id / "node.json"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            node = json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
            continue
        while once is not None and not (once / trial_id).exists():
            if time.monotonic() > end:
                raise AssertionError(f"trial {trial_id}'s trainer never reached its hang")
            time.sleep(0.05)
        return node
    raise AssertionError(f"trial {trial_id} never started on a node")
