"""The tftrial fixture trainers are importable here; each test hears the 'not a trial' note."""
from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT
from tf_hptune import context

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tftrial"))


@pytest.fixture(autouse=True)
def fresh_notice(monkeypatch):
    monkeypatch.setattr(context, "_warned", set())
