"""``supportlab analyze``: DESIGN §6 on CSV and Parquet, one JSON object, short errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from supportlab.cli import cli
from supportlab.cli.analyze import detect_delimiter, read_table
from supportlab.errors import InputFileError
from supportlab.stats.estimation import analyze as analyze_api

FIELDS = ("method", "n_control", "n_treatment", "mean_control", "mean_treatment", "effect",
          "ci_lower", "ci_upper", "p_value", "rel_effect", "rel_ci_lower", "rel_ci_upper",
          "confidence_level")


@pytest.fixture(scope="module")
def group() -> click.Group:
    """The real ``supportlab`` group, so that its error handling is what is tested."""
    return cli


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"partner_id": [f"P{i:04d}" for i in range(n)],
                       "arm": rng.permutation(np.repeat(["control", "treatment"], n // 2)),
                       "deals_pre": rng.poisson(3, n), "rank": rng.choice(["A", "B", "C"], n)})
    t = df["arm"] == "treatment"
    df["opened"] = (t & (rng.random(n) < 0.6)).astype(int)
    df["deals"] = rng.poisson(1 + df["deals_pre"] / 2 + df["opened"])
    df["won"] = (df["deals"] > 3).astype(int)
    return df


@pytest.fixture
def files(tmp_path: Path, frame: pd.DataFrame) -> dict[str, Path]:
    out = {"csv": tmp_path / "exp.csv", "parquet": tmp_path / "exp.parquet"}
    frame.to_csv(out["csv"], index=False)
    frame.to_parquet(out["parquet"])
    return out


def run(group: click.Group, *args: str):
    return CliRunner().invoke(group, ["analyze", *map(str, args)])


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_json_is_one_object_with_the_estimate_fields(group, files, frame, kind):
    r = run(group, files[kind], "--arm", "arm", "--outcome", "deals", "--covariate", "deals_pre",
            "--strata", "rank", "--format", "json")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.output)
    assert isinstance(obj, dict) and r.output.count("\n") == 1
    for key in FIELDS:
        assert key in obj
    api = analyze_api(frame, arm="arm", outcome="deals", covariates=["deals_pre"],
                      strata="rank")
    assert obj["method"] == "regression"
    assert obj["effect"] == pytest.approx(api.effect, abs=1e-12)
    assert obj["ci_lower"] == pytest.approx(api.ci_lower, abs=1e-12)
    assert obj["n_control"] + obj["n_treatment"] == len(frame)


def test_table_output_and_extras(group, files):
    r = run(group, files["csv"], "--arm", "arm", "--outcome", "deals", "--control", "control",
            "--treatment", "treatment", "--control-share", "0.5", "--uptake", "opened",
            "--segment", "rank", "--adjust", "holm")
    assert r.exit_code == 0, r.output
    for text in ("effect", "relative", "Sample-ratio check: ok", "complier", "effects by rank",
                 "holm"):
        assert text in r.output


def test_json_extras_and_methods(group, files):
    r = run(group, files["parquet"], "--arm", "arm", "--outcome", "deals", "--method",
            "permutation", "--seed", "3", "--permutations", "999", "--control-share", "0.5",
            "--uptake", "opened", "--segment", "rank", "--format", "json")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.output)
    assert obj["method"] == "permutation" and obj["details"]["permutations"] == 999
    assert 0 <= obj["srm_p_value"] <= 1 and obj["srm"]["test"] == "exact binomial"
    assert obj["complier"]["uptake_control"] == 0
    assert len(obj["segments"]["table"]) == 3
    again = json.loads(run(group, files["parquet"], "--arm", "arm", "--outcome", "deals",
                           "--method", "permutation", "--seed", "3", "--permutations", "999",
                           "--format", "json").output)
    assert again["p_value"] == obj["p_value"]
    r = run(group, files["csv"], "--arm", "arm", "--outcome", "won", "--format", "json")
    assert json.loads(r.output)["method"] == "proportion"
    r = run(group, files["csv"], "--arm", "arm", "--outcome", "deals", "--winsorize", "0.95",
            "--method", "bootstrap", "--seed", "1", "--resamples", "500", "--format", "json")
    obj = json.loads(r.output)
    assert obj["method"] == "bootstrap" and "winsorize_cap" in obj["details"]


def test_shift_jis_csv_with_japanese_columns(group, tmp_path, frame):
    path = tmp_path / "実験.csv"
    jp = frame.rename(columns={"arm": "群", "deals": "商談数"}).replace(
        {"群": {"control": "対照", "treatment": "介入"}})
    jp.to_csv(path, index=False, encoding="cp932")
    r = run(group, path, "--arm", "群", "--outcome", "商談数", "--control", "対照",
            "--treatment", "介入", "--format", "json")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.output)
    assert obj["control"] == "対照" and obj["outcome"] == "商談数"


@pytest.mark.parametrize(("args", "message", "prefix"), [
    (["--arm", "rank", "--outcome", "deals"], "'rank' has 3 value", "error: exp.csv"),
    (["--arm", "arm", "--outcome", "nope"], "'nope' not found", "error: exp.csv"),
    (["--arm", "arm", "--outcome", "partner_id"], "line 2: 'P0000'", "error: exp.csv"),
    (["--arm", "arm", "--outcome", "deals", "--control", "placebo"], "'placebo' not found",
     "error: exp.csv"),
    (["--arm", "arm", "--outcome", "deals", "--method", "bootstrap", "--covariate",
      "deals_pre"], "does not use covariates", "error: analyze"),
])
def test_errors_are_one_paragraph_without_traceback(group, files, args, message, prefix):
    r = run(group, files["csv"], *args)
    assert r.exit_code != 0
    assert message in r.output
    assert "Traceback" not in r.output and "Fix:" in r.output
    assert r.output.startswith(prefix) and r.output.count("\n") == 1


def test_missing_and_unknown_files(group, tmp_path):
    r = run(group, tmp_path / "none.csv", "--arm", "a", "--outcome", "b")
    assert r.exit_code == 3 and "file not found" in r.output
    other = tmp_path / "data.xlsx"
    other.write_text("x")
    r = run(group, other, "--arm", "a", "--outcome", "b")
    assert r.exit_code == 3 and "unknown file type" in r.output
    empty = tmp_path / "empty.csv"
    empty.write_text("arm,y\n")
    r = run(group, empty, "--arm", "arm", "--outcome", "y")
    assert r.exit_code == 4 and "no rows" in r.output


def test_help_lists_the_interface(group):
    r = CliRunner().invoke(group, ["analyze", "--help"])
    for opt in ("--arm", "--outcome", "--control", "--treatment", "--covariate", "--strata",
                "--method", "--format"):
        assert opt in r.output


def test_semicolon_csv_with_decimal_commas_is_detected(group, tmp_path, frame):
    path = tmp_path / "export.csv"
    eu = frame.assign(revenue=frame["deals"] * 1.5)
    text = eu.to_csv(index=False, sep=";", decimal=",")
    assert ";" in text.splitlines()[0] and "," in text  # the file really is European
    path.write_text(text, encoding="utf-8")
    r = run(group, path, "--arm", "arm", "--outcome", "revenue", "--format", "json")
    assert r.exit_code == 0, r.output
    api = analyze_api(eu, arm="arm", outcome="revenue")
    assert json.loads(r.output)["effect"] == pytest.approx(api.effect, rel=1e-12)


@pytest.mark.parametrize(("delim", "option"), [("\t", "tab"), ("|", "|")])
def test_other_delimiters_detected_or_given(group, tmp_path, frame, delim, option):
    path = tmp_path / "export.txt"
    frame.to_csv(path, index=False, sep=delim)
    for extra in ([], ["--delimiter", option]):
        r = run(group, path, "--arm", "arm", "--outcome", "deals", "--format", "json", *extra)
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["n_control"] == (frame["arm"] == "control").sum()


def test_error_rows_are_file_lines_for_csv_and_positions_for_parquet(group, tmp_path):
    # a blank line and a quoted value spanning two lines: lines are counted as in an editor
    text = ('arm,deals,note\n'
            'control,1,a\n'
            '\n'
            'treatment,2,"two\nlines"\n'
            'control,x,b\n'
            'treatment,3,c\n'
            'control,2,d\n'
            'treatment,y,e\n')
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    r = run(group, path, "--arm", "arm", "--outcome", "deals")
    assert r.exit_code != 0
    assert "line 6: 'x'" in r.output and "line 9: 'y'" in r.output, r.output
    df = pd.read_csv(io.StringIO(text))
    pq = tmp_path / "bad.parquet"
    df.to_parquet(pq)
    r = run(group, pq, "--arm", "arm", "--outcome", "deals")
    assert "row 3: 'x'" in r.output and "row 6: 'y'" in r.output, r.output


def test_unknown_delimiter_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("arm,y\nc,1\n")
    with pytest.raises(InputFileError, match="unknown delimiter"):
        read_table(path, delimiter=":")
    assert detect_delimiter("") == "," and detect_delimiter("single\n1\n2\n") == ","
