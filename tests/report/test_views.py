"""Roll-out targeting and support-score views: numbers from the library, en/ja, escaping,
save, charts when present, and both notebooks under papermill."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest

import supportlab as sl
from helpers import delivered_workspace
from supportlab.report import views
from supportlab.report.views import SupportScoreView, TargetingView

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<script>alert(1)</script>"
AS_OF = "2026-07-31"


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``piloting``: a delivered experiment without a decision; ``promoted``: the same world
    with the package promoted. Every partner's name and the package title are hostile."""
    base = tmp_path_factory.mktemp("views")
    piloting = base / "piloting"
    path = delivered_workspace(piloting, n_partners=300, title=HOSTILE)
    ws = sl.Workspace.open(piloting)
    try:
        with ws.transaction():
            ws.con.execute("UPDATE partners SET name = ? || ' ' || partner_id", [HOSTILE])
    finally:
        ws.close()
    promoted = base / "promoted"
    shutil.copytree(piloting, promoted)
    ws = sl.Workspace.open(promoted)
    try:
        exp = sl.load_experiment(promoted / "experiments" / path.name,
                                 promoted / "experiments" / "packages")
        ev = sl.evaluate(ws, exp, permutations=0)
        sl.record_decision(ws, ev, decision="promote", reason="roll-out test")
    finally:
        ws.close()
    return {"piloting": piloting, "promoted": promoted}


@pytest.fixture(scope="module")
def targeting(worlds: dict[str, Path]) -> TargetingView:
    return views.targeting_view(worlds["promoted"], lang="en", as_of=AS_OF, top=5)


@pytest.fixture(scope="module")
def score(worlds: dict[str, Path]) -> SupportScoreView:
    return views.support_score_view(worlds["promoted"], lang="en", as_of=AS_OF, top=5)


# -- targeting --------------------------------------------------------------------------------------


def test_targeting_numbers_come_from_the_library(worlds: dict[str, Path],
                                                 targeting: TargetingView) -> None:
    assert len(targeting.rollouts) == 1 and not targeting.skipped
    r = targeting.rollouts[0]
    assert r.ref == "launch-kit@1" and r.status == "promoted"
    ws = sl.Workspace.open(worlds["promoted"], read_only=True)
    try:
        reg = sl.packages(ws, worlds["promoted"] / "experiments" / "packages")
        _, ledger = sl.read_ledger(ws, "kit-2026q2")
    finally:
        ws.close()
    row = reg.frame.set_index("ref").loc["launch-kit@1"]
    assert r.effect == pytest.approx(row["shrunk_effect"])
    assert (r.ci_lower, r.ci_upper) == pytest.approx((row["shrunk_ci_lower"],
                                                      row["shrunk_ci_upper"]))
    assert r.pooled_effect == pytest.approx(row["pooled_effect"])
    # those the package treated are left out; control partners still need it
    treated = set(ledger.index[ledger["arm"] != "control"])
    assert r.n_treated == len(treated) > 0
    assert r.n_need == r.n_eligible - r.n_treated
    assert not set(r.top.index) & treated
    assert r.total == pytest.approx(r.effect * r.n_need)
    assert r.total_interval[0] == pytest.approx(r.ci_lower * r.n_need)
    assert int(r.strata["n"].sum()) == r.n_need
    assert r.holdout_share is not None and 0.05 <= r.holdout_share <= 0.5
    assert r.holdout_n == round(r.holdout_share * r.n_need)
    assert "rollout_holdout" in r.holdout_note
    assert len(r.top) == 5 and list(r.top["priority_rank"]) == [1, 2, 3, 4, 5]
    assert list(r.top["support_score"]) == sorted(r.top["support_score"])


def test_targeting_piloting_has_no_estimate(worlds: dict[str, Path]) -> None:
    v = views.targeting_view(worlds["piloting"], "packages", lang="en", as_of=AS_OF)
    r = v.rollouts[0]
    assert r.status == "piloting" and r.effect is None and r.total is None
    assert "no estimate yet" in v.summary_markdown()
    assert "–" in v.uplift_section().html


def test_targeting_outputs(targeting: TargetingView, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    d = json.loads(targeting.to_json())
    assert d["view"] == "targeting" and d["as_of"] == AS_OF and d["n_rollouts"] == 1
    assert d["rollouts"][0]["total"] == pytest.approx(targeting.rollouts[0].total)
    assert len(d["rollouts"][0]["top"]) == 5
    bullets = targeting.summary_markdown().strip().splitlines()
    assert 2 <= len(bullets) <= 5 and all(b.startswith("- ") for b in bullets)
    assert set(targeting.tables()) == {"rollouts", "strata", "top_partners"}
    monkeypatch.chdir(tmp_path)
    targeting.save("")
    assert list(tmp_path.iterdir()) == []
    targeting.save(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))["view"] \
        == "targeting"
    top = pd.read_csv(tmp_path / "out" / "tables" / "top_partners.csv")
    assert len(top) == 5 and "why" in top.columns
    assert (tmp_path / "out" / "summary.md").read_text(encoding="utf-8").startswith("- ")


def test_targeting_sections_escaped_in_both_languages(worlds: dict[str, Path],
                                                      targeting: TargetingView) -> None:
    ja = views.targeting_view(worlds["promoted"], lang="ja", as_of=AS_OF, top=5)
    for v in (targeting, ja):
        names = [s.name for s in v.sections()]
        assert names == ["overview", "packages", "uplift", "strata", "holdout", "top_partners",
                         "notes"]
        page = v._repr_html_()
        assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert page.count('class="sl-section"') == len(names)
    assert "展開先の判定" in ja.overview_section().html and "縮小" in ja.uplift_section().html
    assert "Roll-out targeting" in targeting.overview_section().html
    assert 'class="num"' in targeting.packages_section().html


def test_charts(targeting: TargetingView, score: SupportScoreView) -> None:
    bar = targeting.overview_section().html
    assert '<figure class="sl-figure">' in bar and "<svg" in bar
    r = targeting.rollouts[0]
    assert f"launch-kit@1 {r.n_need:,}" in bar  # the alt text carries the numbers
    forest = targeting.uplift_section().html
    assert forest.count("<svg") == 1 and "shrunk" in forest
    hist = score.distribution_section().html
    assert "<svg" in hist and f"n = {len(score.scores):,}" in hist
    assert "<svg" in score.components_section().html


# -- support score ----------------------------------------------------------------------------------


def test_score_view_matches_the_library(worlds: dict[str, Path], score: SupportScoreView) -> None:
    ws = sl.Workspace.open(worlds["promoted"], read_only=True)
    try:
        eng = sl.connect(ws)
        cur = sl.support_score(eng, AS_OF)
        prev = sl.support_score(eng, "2026-07-03")
    finally:
        ws.close()
    assert score.previous is not None and score.previous.isoformat() == "2026-07-03"
    pd.testing.assert_series_equal(score.scores["support_score"], cur["support_score"],
                                   check_names=False)
    change = (cur["support_score"] - prev["support_score"].reindex(cur.index))
    pd.testing.assert_series_equal(score.scores["change"], change, check_names=False)
    c = score.components()
    assert c["mean_points"].sum() == pytest.approx(cur["support_score"].mean())
    assert c["max_points"].sum() == pytest.approx(100)
    d = score.distribution()
    assert int(d["partners"].sum()) == len(cur) and d["share"].sum() == pytest.approx(1)
    rise, fall = score.movers()
    assert len(rise) == 5 and (rise["change"] > 0).all()
    assert list(rise["change"]) == sorted(rise["change"], reverse=True)
    assert (fall["change"] < 0).all() and list(fall["change"]) == sorted(fall["change"])
    assert rise["change"].iloc[0] == pytest.approx(change.max())


def test_score_outputs_and_languages(worlds: dict[str, Path], score: SupportScoreView,
                                     tmp_path: Path) -> None:
    d = json.loads(score.to_json())
    assert d["view"] == "support_score" and d["n_partners"] == len(score.scores)
    assert len(d["rises"]) == 5 and len(d["top"]) == 5 and len(d["distribution"]) == 10
    bullets = score.summary_markdown().strip().splitlines()
    assert 3 <= len(bullets) <= 5
    score.save(tmp_path)
    assert {p.name for p in (tmp_path / "tables").iterdir()} == {
        "scores.csv", "components.csv", "distribution.csv", "movers.csv"}
    ja = views.support_score_view(worlds["promoted"], lang="ja", as_of=AS_OF, top=5)
    for v in (score, ja):
        assert [s.name for s in v.sections()] == ["overview", "distribution", "components",
                                                  "movers", "top_partners", "notes"]
        page = v._repr_html_()
        assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "支援スコア" in ja.overview_section().html and "変化" in ja.movers_section().html
    assert "Largest falls" in score.movers_section().html


def test_score_without_an_earlier_date(worlds: dict[str, Path]) -> None:
    ws = sl.Workspace.open(worlds["promoted"], read_only=True)
    try:
        first = ws.query("SELECT min(joined_at) AS j FROM partners")["j"].iloc[0]
    finally:
        ws.close()
    day = (pd.Timestamp(first) + pd.Timedelta(days=5)).date()  # 28 days earlier: no partner yet
    v = views.support_score_view(worlds["promoted"], lang="en", as_of=day)
    assert v.previous is None and len(v.scores) >= 1
    assert "could not be computed" in v.movers_section().html
    assert "no movers" in v.notes_section().html
    assert json.loads(v.to_json())["rises"] == []
    assert len(v.summary_markdown().strip().splitlines()) == 3


def test_bad_language(worlds: dict[str, Path]) -> None:
    with pytest.raises(sl.ConfigError):
        views.support_score_view(worlds["promoted"], lang="fr", as_of=AS_OF)


# -- notebooks --------------------------------------------------------------------------------------


def _run(name: str, tmp_path: Path, parameters: dict[str, Any]) -> str:
    import papermill

    nb = papermill.execute_notebook(
        str(ROOT / "notebooks" / name), str(tmp_path / f"run-{name}"), parameters=parameters,
        kernel_name="python3", progress_bar=False, log_output=False, cwd=str(tmp_path),
        execution_timeout=300)
    return "".join(o.get("data", {}).get("text/html", "")
                   for c in nbformat.from_dict(nb).cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def test_targeting_notebook(worlds: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    html = _run("targeting.ipynb", tmp_path, {
        "workspace": str(worlds["promoted"]), "as_of": AS_OF, "lang": "ja", "top": 3,
        "output_dir": str(out)})
    assert html.count('class="sl-section"') == 7 and "<script>" not in html
    d = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert d["view"] == "targeting" and d["lang"] == "ja" and len(d["rollouts"][0]["top"]) == 3


def test_support_score_notebook(worlds: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    html = _run("support_score.ipynb", tmp_path, {
        "workspace": str(worlds["promoted"]), "as_of": AS_OF, "output_dir": str(out)})
    assert html.count('class="sl-section"') == 6 and "sl-kpis" in html
    d = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert d["view"] == "support_score" and d["as_of"] == AS_OF
