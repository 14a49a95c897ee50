"""The experiment report: first screen, trust gate, result.json, save, and its notebook."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import nbformat
import pytest

import supportlab as sl
from helpers import delivered_workspace
from supportlab.report.experiment import ExperimentReport, experiment_report, trust_gate
from supportlab.report.text import metric_label

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
    # the heading names the section; the title is the page header's (a notebook shows it
    # in a meta line the page hides)
    assert "<h2>Decision</h2>" in html and 'class="sl-meta sl-notebook-only"' in html


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


def test_experiment_path_relative_to_the_workspace(world: tuple[Path, Path]) -> None:
    """In JupyterLab the kernel runs in notebooks/: the notebook's default, a path relative to
    the workspace's root, still finds the file and the workspace's packages."""
    root, path = world
    here = root / "notebooks"
    here.mkdir(exist_ok=True)
    cwd = Path.cwd()
    try:
        os.chdir(here)
        rep = experiment_report(root, path.relative_to(root), lang="en", permutations=0)
    finally:
        os.chdir(cwd)
    assert rep.evaluation.experiment_id == sl.load_experiment(path).id


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
    html = report.guardrails_section().html
    for g in report.evaluation.guardrails:
        assert metric_label(g.metric, report.lang) in html
        # raw counts next to every mean
        assert g.n_control > 0 and g.n_treatment > 0
        assert f"(n={g.n_control:,})" in html and f"(n={g.n_treatment:,})" in html
        assert g.n_control + g.n_treatment == report.evaluation.primary.n_control \
            + report.evaluation.primary.n_treatment
        if g.relative:  # a relative margin and change read as percentages
            assert f"{100 * g.margin:.0f}% (rel.)" in html
            assert f"{100 * g.effect:+.1f}%" in html


def test_flow_reads_stored_assignment(report: ExperimentReport,
                                      report_ja: ExperimentReport) -> None:
    fl = report.flow
    assert fl.eligible is not None
    assert fl.eligible - sum(n for *_, n in fl.excluded) == sum(a.counts[0] for a in fl.arms)
    assert f"{fl.eligible:,}" in report.flow_section().html
    # the tasks made for the PRM: every treatment partner, no control partner
    for a in fl.arms:
        assert a.stages[1] == "tasks delivered"
        assert a.counts[1] == (0 if a.arm == "control" else a.counts[0])
    assert "tasks delivered <b>" in report.flow_section().html
    assert "タスク配信 <b>" in report_ja.flow_section().html


def test_heavy_tail_and_appendix(report: ExperimentReport) -> None:
    p = report.evaluation.primary
    html = report.heavy_tail_section().html
    assert f"{p.raw_mean_control:,.3f}" in html and "randomization p-value" in html
    assert f"{p.raw_mean_treatment:,.3f}" in html and "median" in html
    rand_p = (p.details or {}).get("randomization_p_value")
    if isinstance(rand_p, float):
        assert f"{rand_p:,.4f}" in html
    app = report.appendix().html
    assert "HC2" in app and "pandas" in app and "decision:" in app
    # the data and the code: fingerprint, revision (none: not a git checkout), quality
    pv = report.to_dict()["provenance"]
    assert pv["data_quality"]["source"] == "simulated"
    assert pv["data_quality"]["tables"]["events"] > 0
    assert f"data fingerprint: {pv['data_fingerprint'][:16]}" in app
    assert "git revision: –" in app and "simulated" in app and "rows in quarantine: 0" in app


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
    bare = dataclasses.replace(report, outcomes=None)
    assert "sl-figure" not in bare.heavy_tail_section().html
    assert bare.distribution_figure() is None and bare.tail() is None
    assert "Per-partner outcomes are not available" in bare.heavy_tail_section().html
    with_y = dataclasses.replace(report, outcomes={"control": [0.0, 1.0, 2.0, 40.0],
                                                   "treatment": [1.0, 3.0, 5.0, 7.0]})
    alt = _alt(with_y.heavy_tail_section().html)
    assert "n = 8" in alt and "control mean 10.75" in alt and "treatment mean 4.00" in alt
    assert "cap (99th pct.)" in alt


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


# -- the heavy-tail panel -----------------------------------------------------------------------


def test_outcomes_filled_from_the_evaluation(report: ExperimentReport) -> None:
    p = report.evaluation.primary
    y = report.outcomes
    assert y is not None and next(iter(y)) == "control"
    assert len(y["control"]) == p.n_control and len(y["treatment"]) == p.n_treatment
    assert sum(y["control"]) / len(y["control"]) == pytest.approx(p.raw_mean_control)
    assert sum(y["treatment"]) / len(y["treatment"]) == pytest.approx(p.raw_mean_treatment)
    assert "sl-figure" in report.heavy_tail_section().html  # the distribution chart
    d = json.loads(report.to_json())
    assert d["heavy_tail"]["treatment"]["n"] == p.n_treatment
    assert "partner_outcomes" not in d


def test_heavy_tail_numbers_match_numpy(report: ExperimentReport) -> None:
    import numpy as np

    from supportlab.report.text import fmt_num

    y = report.outcomes
    assert y is not None
    yc, yt = np.asarray(y["control"]), np.asarray(y["treatment"])
    cap = float(np.quantile(np.concatenate([yc, yt]), 0.99))
    t = report.tail()
    assert t is not None and t.cap == pytest.approx(cap)
    assert t.control.median == pytest.approx(float(np.median(yc)))
    assert t.treatment.winsorized_mean == pytest.approx(float(np.minimum(yt, cap).mean()))
    assert t.treatment.n_capped == int((yt > cap).sum())
    assert t.difference_in_sums == pytest.approx(len(yt) * (yt.mean() - yc.mean()))
    html = report.heavy_tail_section().html
    for v in (t.control.median, t.treatment.winsorized_mean, t.cap):
        assert fmt_num(v, 3) in html or fmt_num(v, 2) in html
    assert f"winsorized mean (cap {fmt_num(cap, 2)})" in html
    assert "Hyndman &amp; Fan" in html
    assert t.top == 0 or f"({t.top:,}: {t.treatment.n_top:,} treatment" in html


def test_heavy_tail_top_share() -> None:
    from supportlab.report.tails import heavy_tail

    # one treatment partner carries the difference, and more: the others pull the other way
    t = heavy_tail({"control": [0, 1, 1, 2], "treatment": [0, 1, 2, 41]}, "control",
                   "treatment", top_fraction=0.1)
    assert t is not None and t.top == 1 and t.treatment.n_top == 1
    assert t.difference_in_sums == 40 and t.top_share == pytest.approx(41 / 40)
    assert t.difference_without_top == pytest.approx(0.0)
    # unequal arms: control scaled to the treatment arm's size
    t = heavy_tail({"control": [9, 1], "treatment": [5, 2, 2, 0]}, "control", "treatment",
                   top_fraction=0.1)
    assert t is not None and t.top == 1 and (t.control.n_top, t.treatment.n_top) == (1, 0)
    d = 9 - 2 * 10
    assert t.difference_in_sums == pytest.approx(d)
    assert t.top_share == pytest.approx((0 - 2 * 9) / d)
    assert t.difference_without_top == pytest.approx(9 / 4 - 1)
    # a tie at the cut is never split: no top partner then
    t = heavy_tail({"control": [5, 1], "treatment": [5, 2, 2, 0]}, "control", "treatment",
                   top_fraction=0.1)
    assert t is not None and t.top == 0 and t.top_share == 0
    # zeros are never top partners; no difference in sums: no share
    t = heavy_tail({"control": [0, 0, 0], "treatment": [0, 0, 0]}, "control", "treatment")
    assert t is not None and t.top == 0 and t.difference_in_sums == 0
    assert t.top_share != t.top_share  # NaN
    assert heavy_tail({"control": [1.0]}, "control", "treatment") is None


def test_heavy_tail_words(report: ExperimentReport, report_ja: ExperimentReport) -> None:
    y = {"control": [0.0, 1.0, 1.0, 2.0] * 30, "treatment": [0.0, 1.0, 2.0, 1.0] * 29 + [
        0.0, 1.0, 2.0, 400.0]}
    en = dataclasses.replace(report, outcomes=y).heavy_tail_section().html
    assert "more than all of it" in en and "account for" in en
    ja = dataclasses.replace(report_ja, outcomes=y).heavy_tail_section().html
    assert "差のすべてを超えて" in ja and "上位1%（以内）のパートナー" in ja and "中央値" in ja
    flat = {"control": [1.0, 2.0] * 20 + [6.0, 6.0], "treatment": [1.0, 2.0] * 20 + [12.0, 0.0]}
    assert "do not differ" in dataclasses.replace(report, outcomes=flat).heavy_tail_section().html
    tied = {"control": [1.0, 2.0] * 20, "treatment": [1.0, 2.0] * 20}
    assert "No partner stands apart" in dataclasses.replace(
        report, outcomes=tied).heavy_tail_section().html


# -- segments: pre-declared or exploratory ------------------------------------------------------


def test_segments_labelled_pre_declared(report: ExperimentReport) -> None:
    seg = _segmented(report)
    html = seg.segments_section().html
    assert "pre-declared" in html and "none is exploratory" in html and "exploratory</td>" \
        not in html
    f = seg.forest_figure()
    assert f is not None and "pre-declared" in f.title and "[exploratory]" not in f.alt
    assert not seg.tables()["segments"]["exploratory"].any()


def test_exploratory_segments_marked(report: ExperimentReport,
                                     report_ja: ExperimentReport) -> None:
    seg = dataclasses.replace(_segmented(report), exploratory=("rank",))
    html = seg.segments_section().html
    assert "<td>exploratory</td>" in html and "ideas to test" in html
    f = seg.forest_figure()
    assert f is not None and "rank: A (n=" in f.alt and "[exploratory]" in f.alt
    assert "exploratory where marked" in f.title
    assert seg.tables()["segments"]["exploratory"].all()
    assert json.loads(seg.to_json())["exploratory_segments"] == ["rank"]
    ja = dataclasses.replace(_segmented(report_ja), exploratory=("rank",))
    assert "<td>探索的</td>" in ja.segments_section().html
    assert "[探索的]" in ja.forest_figure().alt  # type: ignore[union-attr]


def test_explore_estimates_and_marks_a_segment(world: tuple[Path, Path]) -> None:
    root, path = world
    r = experiment_report(root, path, lang="en", permutations=0, explore=("rank", "rank"))
    assert r.exploratory == ("rank",)
    assert [s.segment for s in r.evaluation.segments] == ["rank"]
    assert "<td>exploratory</td>" in r.segments_section().html


# -- the Japanese page --------------------------------------------------------------------------


def test_ja_page_has_no_english_caveats(report_ja: ExperimentReport) -> None:
    from supportlab.report.sections import escape
    from supportlab.report.text import has_japanese, translate

    ev = report_ja.evaluation
    page = report_ja._repr_html_()
    for w in ev.primary.warnings:
        assert has_japanese(w), w
        assert escape(translate(w, "ja")) in page and escape(w) not in page
    for n in ev.primary.notes:
        assert escape(translate(n, "ja")) in page and escape(n) not in page
    for t in report_ja.evidence.texts("ja")[:2]:
        assert escape(t) in report_ja.first_screen().html
    assert all(has_japanese(t) for _, t in report_ja.evidence.reasons)
    app = report_ja.appendix().html
    assert "推定量" in app and "標準誤差" in app and "estimator:" not in app
    assert escape(translate(ev.design, "ja")) in app and "randomization" not in app.split(
        "<pre>")[0]
    assert "対照群" in report_ja.flow_section().html
    assert "エビデンス" in report_ja.summary_markdown()


def test_the_evaluation_s_own_warnings_and_notes_are_in_the_appendix(
        report: ExperimentReport, report_ja: ExperimentReport) -> None:
    from html import escape

    from supportlab.design.evaluate import PLACEBO, SHARED_NOTE
    from supportlab.report.text import has_japanese, translate

    warns = ("sample-ratio mismatch: 90 control and 120 'treatment' partners against the "
             "design's 50% control (p=0.039); the ledger or the data lost partners",
             "pre-period imbalance in deals_registered_pre (|SMD| > 0.1); the regression "
             "adjustment corrects for it", PLACEBO["en"])
    notes = ("the logs end on 2026-07-30: evaluated as of 2026-07-31", SHARED_NOTE)
    for r in (report, report_ja):
        ev = dataclasses.replace(r.evaluation, warnings=warns, notes=notes)
        app = dataclasses.replace(r, evaluation=ev).appendix().html
        for text in (*warns[:2], *notes):
            shown = escape(translate(text, r.lang))
            assert shown in app, text
            if r.lang == "ja":
                assert has_japanese(text) and escape(text) not in app
        assert escape(PLACEBO["en"]) not in app  # said at the top of the page
        assert app.count('class="sl-warn"') == 2
    ja = translate(warns[0], "ja")
    assert "90社" in ja and "120社" in ja and "p=0.039" in ja and "処置群" in ja


# -- effects: ITT beside the complier effect ----------------------------------------------------


def _complier(r: ExperimentReport, **kw: float) -> ExperimentReport:
    c = r.evaluation.complier
    assert c is not None
    return dataclasses.replace(r, evaluation=dataclasses.replace(
        r.evaluation, complier=dataclasses.replace(c, **kw)))


def test_complier_row_interval_or_why_not(report: ExperimentReport,
                                          report_ja: ExperimentReport) -> None:
    p = report.evaluation.primary
    unbounded = _complier(report, effect=8.42, ci_lower=-math.inf, ci_upper=math.inf,
                          first_stage_f=0.4).effects_section().html
    assert "8.42" in unbounded and "no finite interval" in unbounded
    assert "– – –" not in unbounded and "first-stage F = 0.4" in unbounded
    assert "cannot bound it" in unbounded
    ja = _complier(report_ja, ci_lower=-math.inf, ci_upper=math.inf).effects_section().html
    assert "有限の区間なし" in ja and "区間がありません" in ja
    bounded = _complier(report, effect=2.5, ci_lower=0.7, ci_upper=4.1).effects_section().html
    assert "2.50" in bounded and "0.70 – 4.10" in bounded and "The two agree" in bounded
    assert bounded.count(f"{p.n_control:,} / {p.n_treatment:,}") == 2
    apart = _complier(report, effect=-2.5, ci_lower=-4.1, ci_upper=-0.7).effects_section().html
    assert "disagree in sign" in apart


def test_uptake_with_counts(report: ExperimentReport, report_ja: ExperimentReport) -> None:
    from supportlab.report.text import fmt_pct

    html = report.effects_section().html
    for r in report.evaluation.uptake.itertuples():
        assert (f"{r.arm} {int(r.n_opened):,} of {int(r.n_assigned):,} "
                f"({fmt_pct(r.uptake_share, 0)})") in html
    assert "percentage points" in html
    assert "社中" in report_ja.effects_section().html
    flow = report.flow_section().html
    a = report.flow.arms[0]
    k = a.stages.index("opened")
    assert f"opened <b>{a.counts[k]:,}</b> ({fmt_pct(a.counts[k] / a.counts[0], 0)})" in flow


def test_exclusions_in_the_page_language(report: ExperimentReport,
                                         report_ja: ExperimentReport) -> None:
    ex = (("running", "in running experiment kit-q1 (of the same package)", 3),
          ("small_stratum", "stratum too small to split (policy exclude, needs 2)", 1))
    ja = dataclasses.replace(report_ja, flow=dataclasses.replace(report_ja.flow, excluded=ex))
    html = ja.flow_section().html
    assert "実施中の実験: 同じパッケージの実施中の実験 kit-q1 に参加中: 3" in html
    assert "小さな層" in html and "in running" not in html
    en = dataclasses.replace(report, flow=dataclasses.replace(report.flow, excluded=ex))
    assert "running experiment: in running experiment kit-q1" in en.flow_section().html
