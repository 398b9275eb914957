"""A local Ray cluster of 2 CPUs for the Ray launcher's tests, started once per session."""
from __future__ import annotations

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
