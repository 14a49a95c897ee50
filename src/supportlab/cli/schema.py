"""``supportlab schema KIND``: the JSON Schema of a configuration file kind, for editors.

Editors that speak the YAML language server (VS Code's YAML extension, JetBrains IDEs, Neovim)
validate and complete a file against a schema named in its first line::

    supportlab schema experiment --out .schemas/experiment.json
    # then, at the top of experiments/product-a-launch-2026q4.yaml:
    # yaml-language-server: $schema=../.schemas/experiment.json
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from supportlab.config.models import FILE_KINDS


@click.command("schema")
@click.argument("kind", type=click.Choice(sorted(FILE_KINDS)), metavar="KIND")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the schema to FILE.")
def schema(kind: str, out: str | None) -> None:
    """Print the JSON Schema of a file KIND (experiment, package, metrics, ...).

    \b
    Editors validate and complete YAML with it: write it with --out, then put
      # yaml-language-server: $schema=PATH/TO/KIND.json
    as the first line of the YAML file.
    """
    from supportlab.config.loader import json_schema

    text = json.dumps(json_schema(kind), ensure_ascii=False, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    click.echo(f"wrote the {kind} schema to {p}")
