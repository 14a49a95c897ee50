"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

import supportlab as sl
from helpers import CONTENTS, PARTNERS


@pytest.fixture
def ws(tmp_path: Path):
    """An empty workspace with three partners and two contents."""
    sl.init_workspace(tmp_path)
    w = sl.Workspace.open(tmp_path)
    w.append("partners", PARTNERS)
    w.append("contents", CONTENTS)
    yield w
    w.close()
