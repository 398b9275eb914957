"""The layout keeps its promises (docs/architecture.md): no hidden import cycle, algorithms that
know no store or stopping rule, a CLI that only parses and prints, a tuner side without
TensorFlow."""
from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "tf_hptune"
TRIAL_SIDE = {"tf_hptune.estimator", "tf_hptune.keras"}  # they import TensorFlow
EXTRAS = {"tf_hptune.launch.ray": "ray"}  # a module of an optional extra: checked where installed


def tuner_side_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "pythonpath" in parts:  # the trial's sitecustomize: loaded by path, not imported
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not any(name == t or name.startswith(t + ".") for t in TRIAL_SIDE):
            names.append(name)
    return names


@pytest.fixture(scope="module")
def bare_package(tmp_path_factory) -> Path:
    """A copy of the package whose root ``__init__.py`` is empty."""
    root = tmp_path_factory.mktemp("bare")
    shutil.copytree(PACKAGE, root / "tf_hptune", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tf_hptune" / "__init__.py").write_text("")
    return root


def test_each_module_imports_first_in_a_fresh_interpreter(bare_package):
    modules = [m for m in tuner_side_modules()
               if m not in EXTRAS or importlib.util.find_spec(EXTRAS[m]) is not None]
    assert "tf_hptune.space" in modules and "tf_hptune.spec.loader" in modules
    script = (
        "import importlib, subprocess, sys\n"
        "failed = []\n"
        f"for name in {modules!r}:\n"
        "    r = subprocess.run([sys.executable, '-c', f'import {name}'], capture_output=True,"
        " text=True)\n"
        "    if r.returncode:\n"
        "        failed.append((name, r.stderr.strip().splitlines()[-1]))\n"
        "print(failed)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=bare_package, capture_output=True,
                         text=True, check=True, timeout=600)
    assert out.stdout.strip() == "[]"


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


def test_algorithms_import_neither_the_store_nor_stopping_rules():
    loaded = imported_after("tf_hptune.algorithms")
    assert not {m for m in loaded if m.startswith(("tf_hptune.store", "tf_hptune.stopping",
                                                    "tf_hptune.history", "tf_hptune.launch"))}


def test_stopping_rules_import_no_algorithm_or_store():
    loaded = imported_after("tf_hptune.stopping")
    assert not {m for m in loaded if m.startswith(("tf_hptune.store", "tf_hptune.algorithms"))}


def test_the_tuner_side_never_imports_tensorflow():
    loaded = imported_after("tf_hptune.cli") | imported_after("tf_hptune.jobs")
    assert not {m for m in loaded if m == "tensorflow" or m.startswith("tensorflow.")}


def test_the_cli_starts_signals_and_inspects_no_process():
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"os", "signal", "subprocess", "multiprocessing", "pathlib"}
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not names & {"kill", "killpg", "Popen", "pid_alive", "tuner_alive", "LocalLauncher"}
    assert "/proc" not in (PACKAGE / "cli.py").read_text()
