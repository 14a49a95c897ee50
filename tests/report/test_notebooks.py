"""Rules every notebook of notebooks/ keeps: thin, parameterised, no outputs, shipped as a copy."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SHIPPED = ROOT / "src" / "supportlab" / "report" / "notebooks"


def test_there_are_notebooks() -> None:
    assert (ROOT / "notebooks" / "experiment_report.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_rules(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    for c in code:
        assert c.outputs == [], f"{path.name}: committed with outputs"
        assert c.execution_count is None
        tree = ast.parse(c.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)), \
                f"{path.name}: a def/class in a notebook"
    first = code[0]
    assert "parameters" in first.metadata.get("tags", [])
    for stmt in ast.parse(first.source).body:
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant), \
            f"{path.name}: the parameters cell holds only scalar assignments"
    assert "save(output_dir)" in code[-1].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_shipped_copy_is_identical(path: Path) -> None:
    assert (SHIPPED / path.name).read_bytes() == path.read_bytes()
