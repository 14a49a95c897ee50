"""Helpers of the configuration tests: write a file, load it, collect its problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from supportlab.config.loader import load_file
from supportlab.config.problems import ConfigFileError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _problems_of(path: Path, kind: str) -> dict[str, str]:
    """Every problem of a file, as key path -> its one-line messages (file: key.path: ...)."""
    with pytest.raises(ConfigFileError) as info:
        load_file(path, kind)
    out: dict[str, str] = {}
    for p in info.value.problems:
        out[p.key_path] = f"{out[p.key_path]} | {p}" if p.key_path in out else str(p)
    for p in info.value.problems:
        assert str(p).startswith(f"{path}: {p.key_path}: ")
    return out


@pytest.fixture
def write() -> Callable[[Path, str], Path]:
    """Write a (dedented) configuration file."""
    return _write


@pytest.fixture
def problems_of() -> Callable[[Path, str], dict[str, str]]:
    """Load a file that must fail; its problems by key path (each checked to read 'file: key')."""
    return _problems_of
