"""JSON Schemas of the file kinds, for editors (supportlab schema KIND)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from supportlab.cli.schema import schema
from supportlab.config.loader import json_schema, read_document
from supportlab.config.models import FILE_KINDS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", sorted(FILE_KINDS))
def test_every_kind_has_a_json_schema(kind):
    s = json_schema(kind)
    assert s["$schema"].startswith("https://json-schema.org/") and s["type"] == "object"
    assert s["additionalProperties"] is False
    json.dumps(s)


def test_the_experiment_schema_tells_editors_the_rules():
    s = json_schema("experiment")
    props = s["properties"]
    assert s["required"] == ["id", "package", "design", "metrics"]
    assert props["id"]["pattern"] == "^[a-z0-9][a-z0-9._-]{0,63}$"
    design = s["$defs"]["DesignSection"]["properties"]
    assert design["start"]["format"] == "date"
    assert design["control_share"]["exclusiveMinimum"] == 0
    lang = s["$defs"]["ReportSection"]["properties"]["lang"]
    assert {"type": "string", "enum": ["ja", "en"]} in lang["anyOf"]
    done = json_schema("package")["$defs"]["PackageItemSpec"]["properties"]["done_when"]
    assert "test_pass" in done["enum"]


def test_the_repositorys_files_match_their_schema():
    import jsonschema  # pinned with the notebook tools

    files = [*((f, "experiment") for f in (REPO / "experiments").glob("*.yaml")),
             *((f, "package") for f in (REPO / "experiments" / "packages").glob("*.yaml"))]
    assert files
    for f, kind in files:
        data = json.loads(json.dumps(read_document(f).data, default=str))
        jsonschema.validate(data, json_schema(kind))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "Bad Id", "package": "p@1", "design": {"start": "2026-10-01"},
                             "metrics": {"primary": "logins"}}, json_schema("experiment"))


def test_schema_command_prints_and_writes(tmp_path):
    runner = CliRunner()
    out = runner.invoke(schema, ["package"])
    assert out.exit_code == 0 and json.loads(out.output)["title"] == "supportlab package"
    target = tmp_path / "s" / "experiment.json"
    out = runner.invoke(schema, ["experiment", "--out", str(target)])
    assert out.exit_code == 0 and f"wrote the experiment schema to {target}" in out.output
    assert json.loads(target.read_text(encoding="utf-8")) == json_schema("experiment")
    bad = runner.invoke(schema, ["experimnt"])
    assert bad.exit_code == 2 and "experiment" in bad.output
