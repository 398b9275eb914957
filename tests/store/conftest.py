"""Store fixtures: the conformance suite runs once per backend listed in ``BACKENDS``."""
from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest

from tf_hptune.store import SqliteStore, Store

# To run the conformance suite on another backend, add one line: name -> factory(tmp_path).
BACKENDS: dict[str, Callable[[pathlib.Path], Store]] = {
    "sqlite": lambda tmp: SqliteStore(tmp / "store.db"),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Store]:
    """A fresh, empty store of each backend."""
    s = BACKENDS[request.param](tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def sqlite_path(tmp_path: pathlib.Path) -> pathlib.Path:
    """Where a test's SQLite store lives (not created yet)."""
    return tmp_path / "home" / "store.db"
