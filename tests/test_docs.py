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


def _resolve(dotted: str) -> object:
    """The object a dotted name stands for: the longest importable module, then attributes."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def architecture_commands() -> dict[str, tuple[str, str, list[str]]]:
    """docs/architecture.md's command table: command -> (module, function, library names called)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    out = {}
    for command, module, function, calls in _table_rows(text, "## Commands"):
        out[command.strip("`")] = (module.strip("`"), function.strip("`"),
                                   re.findall(r"`(supportlab\.[\w.]+)`", calls))
    return out


def test_architecture_lists_every_command_with_its_module_and_function() -> None:
    import click

    from supportlab.cli import cli

    ctx = click.Context(cli)
    documented = architecture_commands()
    assert sorted(documented) == sorted(cli.list_commands(ctx))
    for name, (module, function, calls) in documented.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert _resolve(f"{module}.{function}") is command, f"{name}: not {module}.{function}"
        assert calls, f"{name}: no library function named"
        for dotted in calls:
            assert callable(_resolve(dotted)), f"{name}: {dotted} is not callable"


def test_architecture_names_every_subpackage() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    layout = text.split("## The package by stage", 1)[1].split("## The layer contract", 1)[0]
    package = ROOT / "src" / "supportlab"
    for sub in sorted(p.name for p in package.iterdir() if (p / "__init__.py").exists()):
        assert f"`{sub}/`" in layout, sub
    for base in ("errors.py", "vocab.py", "results.py", "display.py"):
        assert f"`{base}`" in layout, base
