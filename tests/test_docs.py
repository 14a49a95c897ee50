"""The documents a newcomer reads first agree with the code, so that they cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table after ``heading``, as lists of cells."""
    section = text.split(heading, 1)[1]
    rows = []
    started = False
    for line in section.splitlines():
        if line.startswith("|"):
            started = True
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif started:
            break
    assert len(rows) > 2, f"no table after {heading!r}"
    return rows[2:]  # past the header and the |---| line


def readme_columns() -> dict[str, tuple[list[str], list[str], list[str]]]:
    """README's data model table: table -> (key, columns, required columns)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = {}
    for table, key, columns in _table_rows(text, "## Data model"):
        names = re.findall(r"(\*\*)?`(\w+)`", re.sub(r"\([^)]*\)", "", columns))
        out[table.strip("`")] = (re.findall(r"`(\w+)`", key), [n for _, n in names],
                                 [n for bold, n in names if bold])
    return out


def test_readme_lists_the_canonical_columns_of_every_table() -> None:
    from supportlab.data.schemas import TABLES

    documented = readme_columns()
    assert sorted(documented) == sorted(TABLES)
    for name, spec in TABLES.items():
        key, columns, required = documented[name]
        assert columns == [c.name for c in spec.columns], name
        assert required == [c.name for c in spec.columns if not c.nullable], name
        assert tuple(key) == spec.key, name


@pytest.mark.parametrize("section", ["### Analysing any experiment file", "### The engine",
                                     "### Editors: JSON Schemas"])
def test_readme_sections_exist(section: str) -> None:
    assert section in (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_names_every_schema_kind() -> None:
    from supportlab.config.models import FILE_KINDS

    text = (ROOT / "README.md").read_text(encoding="utf-8").split("### Editors: JSON Schemas", 1)[1]
    for kind in FILE_KINDS:
        assert f"`{kind}`" in text, kind


def test_readme_quick_start_is_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert block.split() == ["make", "demo", "make", "test"]
