"""The experiment report: first screen, trust gate, result.json, save, and its notebook."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pytest

from helpers import delivered_workspace
from supportlab.report.experiment import ExperimentReport, experiment_report, trust_gate

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<script>alert("x")</script> Kit'


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("exp")
    return root, delivered_workspace(root, n_partners=300, title=HOSTILE)


@pytest.fixture(scope="module")
def report(world: tuple[Path, Path]) -> ExperimentReport:
    root, path = world
    return experiment_report(root, path, lang="en", permutations=20)


def test_dict_starts_with_design_fields(report: ExperimentReport) -> None:
    keys = list(report.to_dict())
    assert keys[:8] == ["experiment", "package", "decision", "reasons", "primary",
                        "srm_p_value", "n_control", "n_treatment"]
    d = json.loads(report.to_json())
    for k in ("evidence", "flow", "trust", "sentence", "scaled", "caveats", "lang",
              "reasons_en", "reasons_ja"):
        assert k in d
    assert d["primary"]["effect"] == pytest.approx(report.evaluation.primary.effect)


def test_first_screen(report: ExperimentReport) -> None:
    html = report.first_screen().html
    d = report.evaluation.decision
    assert f"sl-badge sl-{d}" in html and "sl-sentence" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert f"{report.evaluation.n_control:,}" in html
    assert 1 <= len(report.caveats()) <= 3


def test_sentence_uses_min_effect_and_language(world: tuple[Path, Path],
                                               report: ExperimentReport) -> None:
    assert "0.2" in report.sentence and "95% CI" in report.sentence
    ja = experiment_report(world[0], world[1], lang="ja", permutations=0)
    assert "信頼区間" in ja.sentence
    assert ja.lang == "ja"


def test_trust_gate_replaces_badge(report: ExperimentReport) -> None:
    ev = report.evaluation
    bad = dataclasses.replace(ev, srm=dataclasses.replace(ev.srm, mismatch=True, p_value=1e-7))
    gate = trust_gate(bad)
    assert not gate.passed and gate.failures[0]["check"] == "sample-ratio"
    r = dataclasses.replace(report, evaluation=bad, trust=gate)
    html = r.first_screen().html
    assert "sl-gate" in html and "sl-untrusted" in html and "sl-muted" in html
    assert f"sl-badge sl-{ev.decision}" not in html
    assert trust_gate(ev).passed


def test_scaled_per_quarter(report: ExperimentReport) -> None:
    s = report.scaled()
    assert s["per_partner_per_quarter"] == pytest.approx(
        report.evaluation.primary.effect * 90 / report.horizon_days)
    assert s["program_per_quarter"] == pytest.approx(s["per_partner_per_quarter"] * s["partners"])


def test_save(report: ExperimentReport, tmp_path: Path) -> None:
    report.save("")
    report.save(tmp_path)
    assert json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))["experiment"]
    for name in ("estimates", "uptake", "flow"):
        assert (tmp_path / "tables" / f"{name}.csv").exists()
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert 3 <= summary.count("\n- ") + 1 <= 5


@pytest.mark.slow
def test_notebook_runs_under_papermill(world: tuple[Path, Path], tmp_path: Path) -> None:
    import papermill

    root, path = world
    out = tmp_path / "out"
    nb = papermill.execute_notebook(
        str(ROOT / "notebooks" / "experiment_report.ipynb"), str(tmp_path / "run.ipynb"),
        parameters={"workspace": str(root), "experiment": str(path), "permutations": 20,
                    "output_dir": str(out)},
        kernel_name="python3", progress_bar=False, log_output=False, execution_timeout=300)
    html = "".join(o.get("data", {}).get("text/html", "")
                   for c in nbformat.from_dict(nb).cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    for cls in ("sl-sentence", "sl-kpis", "sl-table", "sl-callout", "sl-appendix", "Guardrails"):
        assert cls in html
    assert (out / "result.json").exists()


def test_sections_in_order_and_escaped(report: ExperimentReport) -> None:
    names = [s.name for s in report.sections()]
    assert names[:7] == ["first_screen", "flow", "effects", "segments", "guardrails", "looks",
                         "heavy_tail"]
    assert names[-2:] == ["how_to_read", "appendix"]
    assert ("diagnosis" in names) == (report.evaluation.decision == "revise")
    page = report._repr_html_()
    assert "<script>" not in page
    assert "effect of being offered the package" in report.effects_section().html
    assert "sl-appendix" in report.appendix().html


def test_guardrail_and_segment_tables(report: ExperimentReport) -> None:
    t = report.tables()
    assert len(t["guardrails"]) == len(report.evaluation.guardrails)
    assert {"estimates", "uptake", "flow", "guardrails", "segments"} <= set(t)
    for g in report.evaluation.guardrails:
        assert g.metric in report.guardrails_section().html


def test_flow_reads_stored_assignment(report: ExperimentReport) -> None:
    fl = report.flow
    assert fl.eligible is not None
    assert fl.eligible - sum(n for *_, n in fl.excluded) == sum(a.counts[0] for a in fl.arms)
    assert f"{fl.eligible:,}" in report.flow_section().html


def test_heavy_tail_and_appendix(report: ExperimentReport) -> None:
    p = report.evaluation.primary
    html = report.heavy_tail_section().html
    assert f"{p.raw_mean_control:,.3f}" in html and "randomization p-value" in html
    rand_p = (p.details or {}).get("randomization_p_value")
    if isinstance(rand_p, float):
        assert f"{rand_p:,.4f}" in html
    app = report.appendix().html
    assert "HC2" in app and "pandas" in app and "decision:" in app


def test_money_metric_scaled_in_yen(report: ExperimentReport) -> None:
    assert not report.in_yen and report.scaled()["unit"] == report.evaluation.metric
    money = dataclasses.replace(report, evaluation=dataclasses.replace(
        report.evaluation, metric="pipeline_amount_post"))
    assert money.in_yen and money.scaled()["unit"] == "yen"
    assert "¥" in money.first_screen().html
