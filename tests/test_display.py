"""Display widths, aligned tables with wide characters, labels, and the three renderers."""

from __future__ import annotations

import pytest

from supportlab.display import (
    Bullets,
    Field,
    Section,
    Table,
    check_lang,
    display_width,
    fmt,
    fmt_p,
    label,
    pad,
    render_html,
    render_markdown,
    render_text,
    text_table,
    truncate,
)


@pytest.mark.parametrize(("text", "width"), [
    ("abc", 3), ("関東", 4), ("代理店A", 7), ("ＡＢ", 4), ("ｱｲｳ", 3), ("e\u0301", 1), ("", 0),
    (123, 3),
])
def test_display_width_counts_cells(text, width):
    assert display_width(text) == width


def test_pad_and_truncate_use_display_cells():
    assert pad("関東", 6) == "関東  " and display_width(pad("関東", 6)) == 6
    assert pad("9", 3, "right") == "  9"
    assert pad("toolong", 3) == "toolong"  # pad never cuts
    cut = truncate("パートナー企業一覧", 10)
    assert cut.endswith("…") and display_width(cut) <= 10
    assert truncate("short", 10) == "short"


def _column_starts(line: str, cells: list[str]) -> list[int]:
    """Display-cell offset at which each cell starts in ``line``."""
    out, pos = [], 0
    for cell in cells:
        i = line.index(cell, pos)
        out.append(display_width(line[:i]))
        pos = i + len(cell)
    return out


def test_text_table_aligns_japanese_names():
    rows = [["P001", "関東商事株式会社", 1200], ["P002", "Osaka Trading", 3],
            ["P003", "ｶﾝｻｲ", 45]]
    out = text_table(rows, headers=["partner_id", "name", "deals"])
    lines = out.splitlines()
    assert len(lines) == 5 and set(lines[1]) <= {"-", " "}
    starts = [_column_starts(ln, [str(r[0]), str(r[1])]) for ln, r in zip(lines[2:], rows,
                                                                       strict=True)]
    assert len({tuple(s) for s in starts}) == 1  # every name starts in the same cell
    # numbers are right-aligned: every line ends in the same cell
    assert len({display_width(ln) for ln in lines[2:]}) == 1
    assert lines[2].endswith("1,200") and lines[3].endswith("    3")


def test_text_table_options():
    out = text_table([["a" * 50, 1]], max_width=10, align=["left", "left"], indent="  ")
    assert out.startswith("  ") and "…" in out and display_width(out.split("  ")[1]) <= 10
    assert text_table([]) == ""
    assert text_table([["x", None]]).endswith("—")


def test_numbers_for_people():
    assert fmt(1234567) == "1,234,567" and fmt(-0.5, signed=True) == "-0.5"
    assert fmt(0.123, pct=True, signed=True) == "+12.3%" and fmt(float("inf")) == "∞"
    assert fmt(None) == "—" and fmt("text") == "text" and fmt(True) == "True"
    assert fmt_p(0.0) == "0.0e+00" and fmt_p(float("nan")) == "—" and fmt_p(0.5) == "0.5000"


def test_labels_in_two_languages():
    assert label("ci") == "CI" and label("ci", "ja") == "信頼区間"
    assert label("n_units") == "n units" and label("n_units", "ja") == "n units"
    with pytest.raises(ValueError, match="lang"):
        check_lang("fr")


SECTION = Section(
    "Partner <b>&", headline="x < y",
    items=(Field("name", "<b>関東&</b>"), Field("note", "a|b"),
           Bullets("warnings", ("<script>alert(1)</script>",)),
           Table("rows", ("id", "name"), (("1", "<i>A</i>"),), ("right", "left"), more=2),
           Section("nested", items=(Field("k", "v"),))))


def test_text_rendering_is_indented_and_nested():
    text = render_text(SECTION)
    lines = text.splitlines()
    assert lines[0] == "Partner <b>&: x < y"
    assert lines[1] == "  name  <b>関東&</b>"
    assert "  warnings:" in lines and "    - <script>alert(1)</script>" in lines
    assert "    … 2 more" in lines
    assert "  nested" in lines and "    k  v" in lines


def test_html_rendering_escapes_everything():
    page = render_html(SECTION)
    for raw in ("<b>&", "<b>関東&</b>", "<script>", "<i>A</i>"):
        assert raw not in page
    for escaped in ("Partner &lt;b&gt;&amp;", "&lt;b&gt;関東&amp;&lt;/b&gt;",
                    "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;i&gt;A&lt;/i&gt;", "x &lt; y"):
        assert escaped in page
    assert page.count("<div") == page.count("</div>") == 2


def test_markdown_rendering_escapes_html_and_pipes():
    md = render_markdown(SECTION)
    assert md.startswith("### Partner &lt;b&gt;&amp;: x &lt; y")
    assert "| note | a\\|b |" in md
    assert "<script>" not in md and "- &lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "| id | name |" in md and "|---:|---|" in md
    assert "#### nested" in md


# -- rich displays of the objects a notebook user meets first ---------------------------------------

NASTY = "<b>関東&</b>"


def _package():
    from supportlab.config.experiment import Package

    return Package.from_dict({
        "id": "pkg-a", "version": 2, "owner": "tanaka", "title": NASTY,
        "segment": {"product": "A", "rank": ["B", "C"]},
        "steps": [{"week": 1, "items": [{"content": "video-a-intro", "done_when": "video_complete"},
                                        {"content": "proposal-template-a", "done_when": "download"}]},
                  {"week": 2, "items": [{"content": "training-a",
                                         "done_when": "training_complete"}]}]})


def test_package_display():
    pkg = _package()
    text = str(pkg)
    assert text.splitlines()[0] == f"Package: pkg-a@2 — {NASTY}"
    assert "owner    tanaka" in text and "product: A, rank: [B, C]" in text
    assert any(ln.split() == ["1", "proposal-template-a", "download"] for ln in text.splitlines())
    page = pkg._repr_html_()
    assert NASTY not in page and "&lt;b&gt;関東&amp;&lt;/b&gt;" in page and "training-a" in page
    assert "週ごとの計画" in __import__("supportlab.display").display.render_text(
        pkg.to_section("ja"))


def test_experiment_display_nests_its_package():
    import datetime as dt

    from supportlab.config.experiment import Design, Experiment, Guardrail, Metrics

    exp = Experiment("exp-1", _package(), Design(dt.date(2026, 10, 1), stratify_by=("rank",),
                                                  seed=7),
                     Metrics("deals_registered", ("pipeline_amount",),
                             (Guardrail("portal_logins", 0.1),)),
                     eligibility=f"name == '{NASTY}'", min_effect=0.3)
    text = str(exp)
    assert text.splitlines()[0] == "Experiment: exp-1"
    for part in ("pkg-a@2", "2026-10-01", "control share  50%", "portal_logins (max drop 10%)",
                 "  Package: pkg-a@2"):
        assert part in text
    page = exp._repr_html_()
    assert NASTY not in page and page.count("<div") == 2


def test_validation_report_display():
    from supportlab.data.schemas import Failure, ValidationReport

    ok = ValidationReport()
    assert "all checks passed" in ok._repr_html_()
    bad = ValidationReport((Failure("partners", "rank", "one of S, A, B, C", 1234, (NASTY,)),))
    page = bad._repr_html_()
    assert "1 failing check(s), 1,234 row(s)" in page and "1,234" in page
    assert NASTY not in page and "&lt;b&gt;関東&amp;&lt;/b&gt;" in page
    assert str(bad).startswith("partners.rank")  # the terminal text is unchanged


def test_target_list_display():
    import datetime as dt

    import pandas as pd

    from supportlab.features.targeting import TargetList

    frame = pd.DataFrame({"name": [NASTY, "B"], "support_score": [12.5, 40.0],
                          "why": ["completion_rate < 0.5", "no login"]},
                         index=pd.Index(["P1", "P2"], name="partner_id"))
    tl = TargetList("exp-1", dt.date(2026, 10, 1), "completion_rate < 0.5", "support_score",
                    frame, n_partners=1500, n_in_segment=300, n_eligible=2)
    page = tl._repr_html_()
    assert NASTY not in page and "&lt;b&gt;関東&amp;&lt;/b&gt;" in page
    for part in ("1,500", "completion_rate &lt; 0.5", "partner_id", "P2", "first rows"):
        assert part in page
    empty = TargetList("exp-1", dt.date(2026, 10, 1), "x > 1", "support_score", frame.head(0),
                       n_partners=10, n_in_segment=5, condition_counts=(("x > 1", 0),))
    assert "partners meeting each condition" in empty._repr_html_()


def test_workspace_display(tmp_path):
    import supportlab as sl
    from helpers import simulated_workspace

    root = tmp_path / "ws<b>&"
    sl.init_workspace(root)
    ws = sl.Workspace.open(root)
    assert "no data yet" in str(ws) and "read only  no" in str(ws)
    assert repr(ws).startswith("Workspace(root=")
    page = ws._repr_html_()
    assert "ws<b>&" not in page and "ws&lt;b&gt;&amp;" in page
    sim = simulated_workspace(tmp_path / "sim", n_partners=30, seed=1)
    text = str(sim)
    assert "engine     duckdb" in text and "events " in text
    assert any(ln.split()[:1] == ["partners"] and ln.split()[-1] == "30"
               for ln in text.splitlines())
    assert "<table>" in sim._repr_html_()
    ro = sl.Workspace.open(sim.config.root, read_only=True)
    assert "read only  yes" in str(ro)


def test_ingest_summary_display():
    from supportlab.data.ingestion import FileSummary, IngestSummary

    summary = IngestSummary("partners", "b-0001", (
        FileSummary("/in/<b>関東&.csv", "cp932", 1500, 1490, 8, 2,
                    reasons=((f"rank {NASTY} is not one of S, A, B, C", 8),)),))
    page = summary._repr_html_()
    assert NASTY not in page and "<b>関東" not in page and "&lt;b&gt;関東&amp;.csv" in page
    assert "&lt;b&gt;関東&amp;&lt;/b&gt; is not one of" in page
    for part in ("1,490 row(s) loaded into partners", "8 quarantined", "cp932", "1,500", "b-0001",
                 "quarantine reasons"):
        assert part in page
    assert "取り込み" in __import__("supportlab.display").display.render_text(
        summary.to_section("ja"))
