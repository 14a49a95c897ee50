"""Charts: deterministic inline SVG, Japanese as glyph outlines, alt text with the numbers."""

from __future__ import annotations

import datetime as dt
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from supportlab.report import charts as ch
from supportlab.report.charts import Chart, ForestRow, TimelineItem

JA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
HOSTILE = '<script>alert("x")</script> & "q"'

ROWS = [ForestRow("大企業", 0.31, -0.12, 0.74, n=120),
        ForestRow("SMB", 0.12, -0.2, 0.44, n=80, note="exploratory"),
        ForestRow("全体", 0.2, 0.01, 0.39, n=200, emphasis=True)]
ITEMS = [TimelineItem("A", dt.date(2026, 1, 1), dt.date(2026, 3, 31), "promote"),
         TimelineItem("B", dt.date(2026, 2, 15), dt.date(2026, 6, 1), None),
         TimelineItem("C", dt.date(2026, 4, 1), dt.date(2026, 5, 1), "stop"),
         TimelineItem("D", dt.date(2026, 4, 10), dt.date(2026, 7, 1), "revise")]
HEAVY = [*np.random.default_rng(7).lognormal(10, 2, 400).tolist(), *[0.0] * 30]


def _all(lang: str, title: str) -> dict[str, Callable[[], Chart]]:
    return {
        "effect": lambda: ch.effect_chart(0.42, 0.07, 0.77, min_effect=0.2, lang=lang,
                                          title=title),
        "forest": lambda: ch.forest_chart(ROWS, lang=lang, title=title, min_effect=0.2),
        "funnel": lambda: ch.funnel_chart(
            ["assigned", "opened", "week 1 done"],
            {"control": [1.0, 0.1, 0.05], "treatment": [1.0, 0.83, 0.61]}, lang=lang,
            title=title),
        "timeline": lambda: ch.timeline_chart(ITEMS, lang=lang, title=title),
        "distribution": lambda: ch.distribution_chart(
            HEAVY, lang=lang, title=title, xlabel="pipeline",
            markers={"control mean": 50_000.0, "treatment mean": 81_234.5}),
        "bar": lambda: ch.bar_chart(["a", "b", "c"], [3.25, -1.0, 0.5], lang=lang, title=title,
                                    xlabel="x"),
    }


@pytest.mark.parametrize("kind", list(_all("en", "")))
def test_same_input_same_bytes(kind: str) -> None:
    make = _all("ja", "主要指標の効果")[kind]
    a, b = make(), make()
    assert a.svg == b.svg and a.alt == b.alt


def test_same_bytes_in_a_fresh_process() -> None:
    code = ("from supportlab.report.charts import effect_chart;"
            "import sys; sys.stdout.write(effect_chart(0.42, 0.07, 0.77, min_effect=0.2, "
            "lang='ja', title='主要指標の効果').svg)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         encoding="utf-8", check=True).stdout
    assert out == ch.effect_chart(0.42, 0.07, 0.77, min_effect=0.2, lang="ja",
                                  title="主要指標の効果").svg


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("kind", list(_all("en", "")))
def test_inline_svg_without_fonts(kind: str, lang: str) -> None:
    c = _all(lang, "主要指標の効果 — テスト")[kind]()
    svg = c.svg
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<!--" not in svg
    assert 'width="100%"' in svg and "viewBox=" in svg and 'height="' not in svg[:300]
    assert "<text" not in svg and "font-family" not in svg
    assert not JA.search(svg), "Japanese must be glyph outlines, not text"
    assert "IPAexGothic" in svg  # the outlines come from the bundled Japanese font
    assert len(svg.encode("utf-8")) < 150_000
    assert not re.search(r"\bnan\b", svg, re.I)


def test_ids_unique_between_charts() -> None:
    a = ch.effect_chart(0.4, 0.1, 0.7, min_effect=0.2, lang="en", title="A")
    b = ch.effect_chart(0.5, 0.1, 0.9, min_effect=0.2, lang="en", title="B")
    ids_a = set(re.findall(r'\bid="([^"]+)"', a.svg))
    ids_b = set(re.findall(r'\bid="([^"]+)"', b.svg))
    assert ids_a and not ids_a & ids_b
    for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', a.svg):
        assert ref in ids_a


def test_alt_carries_the_numbers() -> None:
    en = ch.effect_chart(0.42, 0.07, 0.77, min_effect=0.2, lang="en", title="t")
    assert en.alt == "Effect 0.42 (95% CI 0.07 to 0.77); worth a template from 0.20."
    ja = ch.effect_chart(0.42, 0.07, 0.77, min_effect=0.2, lang="ja", title="t", unit="件")
    assert "0.42件" in ja.alt and "95%信頼区間 0.07〜0.77" in ja.alt and "0.20件以上" in ja.alt
    f = ch.forest_chart(ROWS, lang="en", title="t")
    assert "0.31" in f.alt and "-0.12" in f.alt and "n=120" in f.alt and "exploratory" in f.alt
    fu = ch.funnel_chart(["assigned", "week 1 done"], {"control": [1, 0.05], "treatment": [1, 0.61]},
                         lang="ja", title="t")
    assert "61%" in fu.alt and "5%" in fu.alt and "week 1 done" in fu.alt
    counted = ch.funnel_chart(["assigned", "week 1 done"],
                              {"control": [1, 0.05], "treatment": [1, 0.61]}, lang="en",
                              title="t", counts={"control": [100, 5], "treatment": [100, 61]})
    assert "61% (61/100)" in counted.alt and "5% (5/100)" in counted.alt
    t = ch.timeline_chart(ITEMS, lang="ja", title="t")
    assert "テンプレート化" in t.alt and "判定前" in t.alt and "2026年1月1日" in t.alt
    d = ch.distribution_chart(HEAVY, lang="en", title="t", xlabel="x",
                              markers={"control mean": 50_000.0})
    assert "n = 430" in d.alt and "control mean 50,000.00" in d.alt
    b = ch.bar_chart(["a", "b"], [3.25, -1.0], lang="en", title="t", xlabel="x")
    assert b.alt == "a 3.25, b -1.00."


def test_timeline_labels_the_decision_in_the_page_language() -> None:
    en = ch.timeline_chart(ITEMS, lang="en", title="t")
    ja = ch.timeline_chart(ITEMS, lang="ja", title="t")
    assert en.svg != ja.svg  # the words differ (outlines, so compare the alt as well)
    assert "promote" in en.alt and "not decided" in en.alt and "revise" in en.alt
    short = [TimelineItem("x", dt.date(2026, 6, 1), dt.date(2026, 6, 20), "continue")]
    assert "継続" in ch.timeline_chart(short, lang="ja", title="t").alt


@pytest.mark.parametrize("lang, word", [("en", "no data"), ("ja", "データなし")])
def test_empty_or_missing_input_says_no_data(lang: str, word: str) -> None:
    nan = math.nan
    charts = [ch.effect_chart(nan, nan, nan, min_effect=0.2, lang=lang, title="t"),
              ch.effect_chart(0.1, nan, 0.3, min_effect=None, lang=lang, title="t"),
              ch.forest_chart([], lang=lang, title="t"),
              ch.forest_chart([ForestRow("a", nan, nan, nan)], lang=lang, title="t"),
              ch.funnel_chart([], {}, lang=lang, title="t"),
              ch.funnel_chart(["a"], {"control": [nan]}, lang=lang, title="t"),
              ch.timeline_chart([], lang=lang, title="t"),
              ch.distribution_chart([nan, math.inf, None], lang=lang, title="t", xlabel="x"),  # type: ignore[list-item]
              ch.bar_chart([], [], lang=lang, title="t", xlabel="x"),
              ch.bar_chart(["a"], [nan], lang=lang, title="t", xlabel="x")]
    for c in charts:
        assert c.alt.endswith(word) and c.svg.startswith("<svg")


def test_partly_missing_input_still_draws() -> None:
    f = ch.forest_chart([*ROWS, ForestRow("empty level", math.nan, math.nan, math.nan)],
                        lang="en", title="t", min_effect=math.nan)
    assert "empty level (n=" not in f.alt and "empty level: – (95% CI – to –)" in f.alt
    d = ch.distribution_chart([1.0, 2.0, math.nan, 3.0], lang="en", title="t", xlabel="x",
                              markers={"bad": math.nan, "mean": 2.0})
    assert "n = 3" in d.alt and "bad" not in d.alt
    one = ch.distribution_chart([5.0], lang="en", title="t", xlabel="x")
    assert "median 5.00" in one.alt
    assert ch.effect_chart(0.0, 0.0, 0.0, min_effect=None, lang="en", title="t").svg


def test_figure_html_escapes_alt_and_title() -> None:
    c = ch.bar_chart([HOSTILE], [1.0], lang="en", title=HOSTILE, xlabel=HOSTILE)
    h = c.html()
    assert h == c._repr_html_() == str(c)
    assert h.startswith('<figure class="sl-figure"><div role="img" aria-label="')
    assert "<script>" not in h and "&lt;script&gt;" in h and "&quot;q&quot;" in h
    assert h.endswith("</figcaption></figure>")


def test_import_does_not_touch_matplotlib_and_font_comes_from_the_package() -> None:
    code = ("import sys, supportlab.report.charts as c, supportlab.report.experiment;"
            "assert 'matplotlib' not in sys.modules, 'imported at import';"
            "c.bar_chart(['a'], [1.0], lang='ja', title='日本語', xlabel='x');"
            "import matplotlib; assert 'matplotlib_fontja' not in sys.modules;"
            "assert 'pyplot' not in ' '.join(sys.modules);"
            "print(c.font_path())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert Path(out).suffix == ".ttf" and "matplotlib_fontja" in out


def test_labels_are_not_math_and_ticks_are_plain_numbers() -> None:
    c = ch.bar_chart(["$x$ and $100", "b"], [1_500_000.0, 2.0], lang="en", title="$5 deals",
                     xlabel="$")
    assert "$5 deals" in c.html() and c.svg.startswith("<svg")
    money = ch.effect_chart(250_000, -20_000, 1_500_000, min_effect=100_000, lang="ja",
                            title="t", unit="円")
    assert money.alt == "効果 25万円（95%信頼区間 -2万円〜150万円）。テンプレート化の基準は10万円以上。"
    en = ch.effect_chart(250_000, -20_000, 1_500_000, min_effect=100_000, lang="en",
                         title="t", unit="yen")
    assert en.alt == ("Effect ¥250,000 (95% CI -¥20,000 to ¥1,500,000); worth a template from "
                      "¥100,000.")
    assert ch._tick(1_500_000) == "1,500,000" and ch._tick(0.25) == "0.25" and ch._tick(-2) == "-2"


def test_timeline_of_a_single_day_and_a_long_span() -> None:
    one = ch.timeline_chart([TimelineItem("x", dt.date(2026, 6, 1), dt.date(2026, 6, 1), "stop")],
                            lang="en", title="t")
    assert "1 Jun 2026–1 Jun 2026, stop" in one.alt
    years = [TimelineItem(f"e{i}", dt.date(2024 + i // 4, 1 + 3 * (i % 4), 1),
                          dt.date(2024 + i // 4, 3 + 3 * (i % 4), 28), None) for i in range(12)]
    long = ch.timeline_chart(years, lang="ja", title="t")
    assert long.alt.count("判定前") == 12 and len(long.svg) < 150_000


def test_long_forest_labels_wrap_and_date_ticks_name_the_year_once() -> None:
    from matplotlib.figure import Figure

    row = ch.ForestRow(label="an-experiment-with-a-long-identifier-2026q2 · a cohort described "
                       "at length, with rules and dates", effect=0.3, lower=0.1, upper=0.5,
                       n=188, note="promotion")
    text = ch._row_label(row, wrap=True)
    assert all(len(line) <= ch.LABEL_CHARS for line in text.splitlines())
    assert text.replace("\n", " ").replace("  ", " ").startswith("an-experiment-with-a-long")
    assert "(n=188) [promotion]" in text.splitlines()[-1]
    assert ch._row_label(row) == row.label + " (n=188) [promotion]"
    for lang, want in (("ja", ["2026年11月", "12月", "2027年1月", "2月"]),
                       ("en", ["Nov 2026", "Dec", "Jan 2027", "Feb"])):
        ax = Figure().add_subplot()
        ch._date_ticks(ax, dt.date(2026, 11, 1), dt.date(2027, 2, 20), lang)
        assert [t.get_text() for t in ax.get_xticklabels()] == want
