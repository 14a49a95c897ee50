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


@pytest.fixture(scope="module")
def report_ja(world: tuple[Path, Path]) -> ExperimentReport:
    root, path = world
    return experiment_report(root, path, lang="ja", permutations=0)


def _segmented(r: ExperimentReport) -> ExperimentReport:
    from supportlab.stats.segments import SegmentEffects

    p = r.evaluation.primary
    wide = dataclasses.replace(p, effect=p.effect / 2, ci_lower=p.ci_lower - 1.25,
                               ci_upper=p.ci_upper + 0.75)
    seg = SegmentEffects(segment="rank", method=p.method, adjust="holm", confidence_level=0.95,
                         estimates=(p, wide), labels=("A", "B"), p_adjusted=(0.04, 0.5),
                         levels=(0.975, 0.975), heterogeneity_q=0.5, heterogeneity_df=1,
                         heterogeneity_p=0.48, expected_uplift=(0.1, 0.1),
                         expected_uplift_sd=(0.1, 0.1))
    return dataclasses.replace(r, evaluation=dataclasses.replace(r.evaluation, segments=(seg,)))


def _alt(html: str) -> str:
    import re

    m = re.search(r'<figure class="sl-figure"><div role="img" aria-label="([^"]*)"', html)
    assert m, "no chart"
    return m.group(1)


def test_effect_chart_on_first_screen(report: ExperimentReport, report_ja: ExperimentReport) -> None:
    from supportlab.report.text import fmt_num

    p = report.evaluation.primary
    alt = _alt(report.first_screen().html)
    assert fmt_num(p.effect) in alt and fmt_num(p.ci_lower) in alt and fmt_num(p.ci_upper) in alt
    assert "worth a template from 0.20" in alt
    assert "<svg" in report.first_screen().html
    ja = _alt(report_ja.first_screen().html)
    assert "95%信頼区間" in ja and "テンプレート化の基準は0.20以上" in ja


def test_funnel_chart_in_flow(report: ExperimentReport, report_ja: ExperimentReport) -> None:
    from supportlab.report.text import fmt_pct

    alt = _alt(report.flow_section().html)
    last = next(a for a in report.flow.arms if a.arm == "control")
    assert alt.startswith("Share reaching &#x27;") and "control " + fmt_pct(
        last.counts[-2] / last.counts[0], 0) in alt
    html = report_ja.flow_section().html
    assert "割付 <b>" in html and "分析対象" in html and "到達した割合" in _alt(html)


def test_forest_chart_in_segments(report: ExperimentReport, report_ja: ExperimentReport) -> None:
    assert not report.evaluation.segments  # the fixture declares none: no chart then
    assert report.forest_figure() is None and "sl-figure" not in report.segments_section().html
    seg = _segmented(report)
    html = seg.segments_section().html
    alt = _alt(html)
    e = seg.evaluation.segments[0].estimates[1]
    assert "rank: B" in alt and f"{e.ci_lower:,.2f}" in alt and "all partners" in alt
    assert "Holm" in html and "declared" in html
    ja = _segmented(report_ja).segments_section().html
    assert "全体" in _alt(ja) and "分析前に実験ファイル" in ja


def test_distribution_chart_only_with_outcomes(report: ExperimentReport) -> None:
    assert "sl-figure" not in report.heavy_tail_section().html
    assert report.distribution_figure() is None
    with_y = dataclasses.replace(report, outcomes={"control": [0.0, 1.0, 2.0, 40.0],
                                                   "treatment": [1.0, 3.0, 5.0, 7.0]})
    alt = _alt(with_y.heavy_tail_section().html)
    assert "n = 8" in alt and "control mean 10.75" in alt and "treatment mean 4.00" in alt


def test_japanese_page_words(report: ExperimentReport, report_ja: ExperimentReport) -> None:
    from supportlab.report.text import GUARDRAIL_WORDS

    ev = report_ja.evaluation
    bad = dataclasses.replace(ev, srm=dataclasses.replace(ev.srm, mismatch=True, p_value=1e-7))
    r = dataclasses.replace(report_ja, evaluation=bad, trust=trust_gate(bad))
    gate = r.first_screen().html
    assert "割付比率（SRM）" in gate and "sample-ratio" not in gate
    en = dataclasses.replace(report, evaluation=dataclasses.replace(
        report.evaluation, srm=dataclasses.replace(report.evaluation.srm, mismatch=True,
                                                   p_value=1e-7)))
    en = dataclasses.replace(en, trust=trust_gate(en.evaluation))
    assert "sample ratio (SRM)" in en.first_screen().html
    g = report_ja.guardrails_section().html
    for gr in ev.guardrails:
        assert GUARDRAIL_WORDS["ja"][gr.status] in g
        if gr.relative:
            assert "（相対）" in g
    assert "年" in report_ja.looks_section().html
