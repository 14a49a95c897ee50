"""The leadership portfolio: KPIs, cards (escaping, links only to existing reports, evidence from
result.json), lineage and reproduction, credits, overrides, the run log, both languages, save,
and its notebook under papermill."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from supportlab.config.workspace import init_workspace
from supportlab.data.workspace import Workspace
from supportlab.design.registry import record_decision
from supportlab.report.portfolio import PortfolioReport, portfolio_report, read_runs

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<script>alert(1)</script>"
UTC = dt.UTC
STEPS = "steps:\n  - week: 1\n    items: [{content: video-a-intro, done_when: video_complete}]\n"


def _evaluation(eid: str, ref: str, decision: str, effect: float, se: float,
                cohort: str) -> SimpleNamespace:
    """A stand-in for the evaluation (record_decision reads it by its attributes)."""
    pid, _, ver = ref.partition("@")
    primary = SimpleNamespace(effect=effect, se=se, ci_lower=effect - 1.959964 * se,
                              ci_upper=effect + 1.959964 * se)
    return SimpleNamespace(experiment_id=eid, package_id=pid, version=int(ver), decision=decision,
                           reasons=(f"computed: {decision}",), primary=primary,
                           metric="deals_registered", cohort=cohort, placebo=False, final=True)


def _at(month: int, day: int = 1) -> dt.datetime:
    return dt.datetime(2026, month, day, 9, tzinfo=UTC)


RUNS = [
    {"kind": "report", "id": "k2a", "lang": "ja", "status": "ok", "started": "2026-07-10T09:00:00+09:00",
     "finished": "2026-07-10T09:00:30+09:00", "seconds": 30.2, "error": None, "path": "reports/k2a"},
    {"kind": "report", "id": "l1", "lang": "ja", "status": "failed",
     "started": "2026-07-11T09:00:00+09:00", "finished": "2026-07-11T09:00:05+09:00",
     "seconds": 5.0, "error": "EvaluationError: <b>no outcomes</b>", "path": None},
    {"kind": "portfolio", "id": "portfolio", "lang": "ja", "status": "ok",
     "started": "2026-07-11T09:01:00+09:00", "finished": "2026-07-11T09:01:10+09:00",
     "seconds": 10.0, "error": None, "path": "reports/index.html"},
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kit@1 (hostile title) revised into kit@2, promoted in k2a and reproduced in k2b by
    others; lite@1 with an override; frozen reports for k2a (page and result) and k2b (result
    only); a run log with a failed run and an unreadable line."""
    root = tmp_path_factory.mktemp("portfolio") / "ws"
    init_workspace(root)  # language ja
    pkgs = root / "experiments" / "packages"
    for pid, ver, owner, title in (("kit", 1, "tanaka", HOSTILE), ("kit", 2, "tanaka", "Kit v2"),
                                   ("lite", 1, "suzuki", "Lite")):
        (pkgs / f"{pid}-{ver}.yaml").write_text(
            f"id: {pid}\nversion: {ver}\nowner: {owner}\ntitle: {json.dumps(title)}\n"
            f"segment: {{product: A}}\n{STEPS}", encoding="utf-8")
    ws = Workspace.open(root)
    try:
        ws.ensure_tables()
        with ws.transaction() as con:
            for eid, pid, ver, start in (("k1", "kit", 1, dt.date(2026, 1, 5)),
                                         ("k2a", "kit", 2, dt.date(2026, 3, 2)),
                                         ("k2b", "kit", 2, dt.date(2026, 5, 4)),
                                         ("l1", "lite", 1, dt.date(2026, 4, 6))):
                con.execute("INSERT INTO designs VALUES (?, 1, ?, ?, 'stratified', 'h', 'e', '{}', "
                            "false, 200, ?, ?, ?)",
                            [eid, pid, ver, start, start + dt.timedelta(days=60),
                             dt.datetime(2026, 1, 1, tzinfo=UTC)])
            for i, (eid, owner) in enumerate((("k2a", "tanaka"), ("k2b", "sato"))):
                con.execute("INSERT INTO tasks (task_id, experiment_id, partner_id, week, "
                            "content_id, status, owner) VALUES (?, ?, ?, 1, 'video-a-intro', "
                            "'done', ?)", [f"t{i}", eid, f"P{i}", owner])
        record_decision(ws, _evaluation("k1", "kit@1", "revise", 0.05, 0.1, "cohort 0"),
                        at=_at(3, 10))
        record_decision(ws, _evaluation("k2a", "kit@2", "promote", 0.6, 0.15, "cohort 1"),
                        at=_at(5, 10))
        record_decision(ws, _evaluation("k2b", "kit@2", "promote", 0.45, 0.12, "cohort 2"),
                        at=_at(7, 10))
        record_decision(ws, _evaluation("l1", "lite@1", "continue", 0.1, 0.1, "cohort 3"),
                        decision="stop", reason="channel conflict", decided_by="mori",
                        at=_at(7, 12))
    finally:
        ws.close()
    reports = root / "reports"
    for eid, page, score in (("k2a", True, 4), ("k2b", False, 3)):
        (reports / eid).mkdir(parents=True, exist_ok=True)
        (reports / eid / "result.json").write_text(json.dumps(
            {"experiment": eid, "decision": "promote", "evidence": {"score": score, "reasons": []},
             "sentence": f"{eid} raised deals", "lang": "en"}), encoding="utf-8")
        if page:
            (reports / eid / "index.html").write_text("<html></html>", encoding="utf-8")
    (reports / "runs.jsonl").write_text(
        "\n".join([json.dumps(RUNS[0]), "not json", *map(json.dumps, RUNS[1:])]) + "\n",
        encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def en(world: Path) -> PortfolioReport:
    return portfolio_report(world, lang="en", as_of="2026-07-15")


@pytest.fixture(scope="module")
def ja(world: Path) -> PortfolioReport:
    return portfolio_report(world, as_of=dt.date(2026, 7, 15))


def test_kpis_count_the_registry(en: PortfolioReport) -> None:
    k = en.kpis()
    assert (k["packages"], k["experiments"], k["promoted"], k["revised"], k["reproduced"]) == \
        (3, 4, 1, 1, 1)
    assert k["last_run"] == "2026-07-11T09:01:10+09:00" and k["failed_runs"] == 1


def test_overview_highlights_the_failed_run_escaped(en: PortfolioReport) -> None:
    html = en.overview().html
    assert 'class="sl-kpis"' in html and 'class="sl-fail"' in html
    assert "l1" in html and "&lt;b&gt;no outcomes&lt;/b&gt;" in html and "<b>no outcomes" not in html
    assert "11 Jul 2026 09:01 +09:00" in html  # last run in the workspace's timezone
    assert "As of 15 Jul 2026" in html


def test_a_later_success_clears_the_failure(world: Path, tmp_path: Path) -> None:
    fixed = {**RUNS[1], "status": "ok", "error": None, "finished": "2026-07-12T09:00:00+09:00"}
    log = tmp_path / "runs.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [*RUNS, fixed]), encoding="utf-8")
    rep = portfolio_report(world, lang="en", reports_dir=tmp_path)
    assert rep.failed_runs() == [] and "sl-ok" in rep.overview().html
    assert "sl-fail" in rep.runs().html  # the old failure stays highlighted in the log


def test_cards_escape_link_only_existing_reports_and_show_evidence(en: PortfolioReport) -> None:
    html = en.cards().html
    assert html.count('<article class="sl-card">') == 3 and 'class="sl-cards"' in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="k2a/index.html"' in html
    assert "k2b/index.html" not in html  # result.json only: no page, no link
    cards = {c.ref: c for c in en.package_cards()}
    kit2 = cards["kit@2"]
    assert (kit2.status, kit2.decision, kit2.experiment_id) == ("promoted", "promote", "k2b")
    assert kit2.evidence == 3 and kit2.link == "k2a/index.html"
    assert kit2.effect == pytest.approx(0.45) and kit2.pooled_effect is not None
    assert kit2.reproduced == (1, 1) and kit2.takeaway == "k2b raised deals"
    assert "sl-badge sl-promote" in html and "★★★☆☆ 3/5" in html
    assert cards["kit@1"].status == "revise" and "Revised as kit@2" in cards["kit@1"].takeaway
    assert cards["lite@1"].decision == "stop" and cards["lite@1"].owner == "suzuki"


def test_japanese_by_the_workspace_default(ja: PortfolioReport) -> None:
    assert ja.lang == "ja"
    html = ja._repr_html_()
    for word in ("支援パッケージのポートフォリオ", "テンプレート化", "1件中1件で再現", "改訂の系譜",
                 "人による判定の変更", "実行履歴", "失敗", "0を含まないこと", "2026年7月15日時点"):
        assert word in html, word
    assert "Overrides" not in html and "promoted in" not in html and "interval excludes" not in html
    # the frozen reports are English: their sentence is not used on a Japanese page
    kit2 = next(c for c in ja.package_cards() if c.ref == "kit@2")
    assert kit2.takeaway.startswith("k2aでテンプレート化")
    assert "<script>" not in html


def test_lineage_and_reproduction(en: PortfolioReport) -> None:
    assert [[x["ref"] for x in ch] for ch in en.chains()] == [["kit@1", "kit@2"]]
    html = en.lineage().html
    assert "kit@1" in html and "kit@2" in html and "reproduced in 1 of 1" in html
    assert "<script>" not in html
    fo = {f["ref"]: f for f in en.forests()}
    assert set(fo) == {"kit@2"}
    assert [e["experiment_id"] for e in fo["kit@2"]["experiments"]] == ["k2a", "k2b"]
    lo, hi = fo["kit@2"]["pooled_ci_lower"], fo["kit@2"]["pooled_ci_upper"]
    assert lo < fo["kit@2"]["pooled_effect"] < hi
    assert "pooled (random effects)" in html
    # each experiment's cohort, listed under the forest plot (not squeezed into its labels)
    assert "<b>k2a</b>: cohort 1" in html and "<b>k2b</b>: cohort 2" in html


def test_charts_and_their_html_fallback(en: PortfolioReport, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    import supportlab.report.portfolio as portfolio

    if portfolio._charts() is not None:
        assert 'class="sl-figure"' in en.timeline().html and "<svg" in en.lineage().html
    monkeypatch.setattr(portfolio, "_charts", lambda: None)
    html = en.lineage().html
    assert "<svg" not in html and '<tr class="sl-emphasis">' in html
    assert "pooled (random effects)" in html
    t = en.timeline().html
    assert "<svg" not in t and "sl-badge sl-promote" in t and "sl-badge sl-revise" in t


def test_credits_and_overrides(en: PortfolioReport) -> None:
    html = en.credits_section().html
    assert "tanaka" in html and "sato" in html
    row = en.credits.frame.set_index("owner").loc["tanaka"]
    assert (row["designed"], row["promoted"], row["reproduced"]) == (2, 1, 1)
    o = en.overrides().html
    assert "channel conflict" in o and "mori" in o and "l1" in o


def test_timeline_lists_every_experiment_by_decision(en: PortfolioReport) -> None:
    items = {i["experiment_id"]: i for i in en.timeline_items()}
    assert set(items) == {"k1", "k2a", "k2b", "l1"}
    assert {i["state"] for i in items.values()} == {"ended"}
    early = {i["experiment_id"]: i["state"]
             for i in dataclasses.replace(en, as_of=dt.date(2026, 4, 1)).timeline_items()}
    assert (early["k1"], early["k2a"], early["k2b"]) == ("ended", "running", "planned")
    html = en.timeline().html
    assert "sl-section" in html and all(e in html for e in items)


def test_runs_section_and_a_missing_log(en: PortfolioReport, world: Path, tmp_path: Path) -> None:
    html = en.runs().html
    assert html.count('<tr class="sl-fail">') == 1 and "could not be read" in html
    assert en.runs_unreadable == 1 and len(en.run_log) == 3
    empty = portfolio_report(world, lang="en", reports_dir=tmp_path)
    assert "No runs recorded yet." in empty.runs().html
    assert "href=" not in empty.cards().html  # no reports there: no links
    assert read_runs(tmp_path / "none.jsonl") == ((), 0)


def test_to_dict_tables_summary_and_save(en: PortfolioReport, tmp_path: Path) -> None:
    d = json.loads(en.to_json())
    for k in ("kpis", "failed_runs", "cards", "timeline", "lineage", "reproduction", "credits",
              "overrides", "runs"):
        assert k in d, k
    assert d["cards"][0]["title"] == HOSTILE  # data is kept as is; the HTML escapes it
    assert {c["ref"]: c["link"] for c in d["cards"]}["kit@2"] == "k2a/index.html"
    assert set(en.tables()) == {"packages", "experiments", "credits", "overrides", "runs"}
    md = en.summary_markdown()
    assert 3 <= md.count("\n- ") + 1 <= 5 and "failed run" in md
    assert "<script>" not in md and "&lt;script&gt;" in md
    en.save("")  # a no-op
    en.save(tmp_path / "out")
    out = tmp_path / "out"
    assert json.loads((out / "result.json").read_text(encoding="utf-8"))["kind"] == "portfolio"
    assert (out / "tables" / "packages.csv").exists() and (out / "summary.md").exists()


def test_bad_arguments(world: Path) -> None:
    with pytest.raises(ValueError, match="lang"):
        portfolio_report(world, lang="fr")
    with pytest.raises(ValueError, match="as_of"):
        portfolio_report(world, as_of="July")


def test_notebook_runs_under_papermill(world: Path, tmp_path: Path) -> None:
    import papermill

    out = tmp_path / "out"
    nb = papermill.execute_notebook(
        str(ROOT / "notebooks" / "portfolio.ipynb"), str(tmp_path / "run.ipynb"),
        parameters={"workspace": str(world), "lang": "en", "as_of": "2026-07-15",
                    "output_dir": str(out)},
        kernel_name="python3", progress_bar=False, log_output=False, cwd=str(tmp_path),
        execution_timeout=300)
    html = "".join(o.get("data", {}).get("text/html", "")
                   for c in nbformat.from_dict(nb).cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    for cls in ("sl-kpis", "sl-cards", "sl-fail", "Lineage and reproduction", "Credits",
                "Overrides", "Runs"):
        assert cls in html, cls
    assert "<script>alert" not in html
    assert json.loads((out / "result.json").read_text(encoding="utf-8"))["lang"] == "en"


def test_a_delivered_experiment_and_its_frozen_report(tmp_path: Path) -> None:
    """The real loop: evaluate, record, freeze the experiment report; the portfolio reads its
    result.json (evidence, sentence) and links its page."""
    from helpers import delivered_workspace
    from supportlab.config.experiment import load_experiment
    from supportlab.design.evaluate import evaluate
    from supportlab.report.experiment import experiment_report

    root = tmp_path / "ws"
    path = delivered_workspace(root, n_partners=300, title=HOSTILE)
    exp = load_experiment(path, root / "experiments" / "packages")
    with Workspace.open(root) as ws:
        record_decision(ws, evaluate(ws, exp, permutations=0), experiment=exp)
    rep = experiment_report(root, path, lang="en", permutations=0)
    rep.save(root / "reports" / exp.id)
    (root / "reports" / exp.id / "index.html").write_text("<html></html>", encoding="utf-8")
    pf = portfolio_report(root, lang="en")  # packages: experiments/packages
    card = next(c for c in pf.package_cards() if c.ref == "launch-kit@1")
    assert card.evidence == rep.evidence.score and card.decision == rep.evaluation.decision
    assert card.takeaway == rep.sentence and card.link == f"{exp.id}/index.html"
    assert card.effect == pytest.approx(rep.evaluation.primary.effect)
    html = pf._repr_html_()
    assert "<script>" not in html and f'href="{exp.id}/index.html"' in html
    assert "No runs recorded yet." in html


def test_a_fresh_workspace_shows_drafts(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    init_workspace(root, language="en")
    (root / "experiments" / "packages" / "a.yaml").write_text(
        f"id: a\nversion: 1\nowner: mori\ntitle: A\n{STEPS}", encoding="utf-8")
    pf = portfolio_report(root)
    assert pf.lang == "en" and pf.kpis()["experiments"] == 0
    assert "sl-fail" not in pf.overview().html
    assert "○ draft" in pf.cards().html and "not tested in an experiment" in pf.cards().html
    for s in pf.sections():
        assert s.html.startswith('<section class="sl-section">'), s.name
    assert "No experiments yet." in pf.timeline().html
    assert "No runs recorded yet." in pf.runs().html
    json.loads(pf.to_json())
