"""Running a bundled example as the tuner would run trial 3 of a job."""
from __future__ import annotations

import json
import os


def trial_env(**extra: str) -> dict[str, str]:
    """This process's environment with a trial's ``TF_CONFIG`` (trial "3", one master)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["TF_CONFIG"] = json.dumps({
        "cluster": {"master": ["localhost:27182"]},
        "task": {"type": "master", "index": 0, "trial": "3"},
        "environment": "cloud",
    })
    env.update(extra)
    return env


def import_trainer(monkeypatch, example_dir: str, *modules: str) -> list[object]:
    """The example's ``trainer.<module>``s, imported fresh from ``example_dir`` (both examples
    name their package ``trainer``)."""
    import importlib
    import sys

    monkeypatch.syspath_prepend(example_dir)
    for name in [m for m in sys.modules if m == "trainer" or m.startswith("trainer.")]:
        monkeypatch.delitem(sys.modules, name)
    return [importlib.import_module(f"trainer.{m}") for m in modules]
