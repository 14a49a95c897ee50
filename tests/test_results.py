"""The result base: field conventions, two languages, every renderer, every result class."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

import supportlab as sl
from supportlab.display import display_width
from supportlab.results import ResultMixin, format_value, frame_table, json_safe
from supportlab.stats.decision import decide, effect_by_consumption, step_funnel
from supportlab.stats.power import sample_size
from supportlab.stats.sequential import sequential_looks


@dataclass(frozen=True)
class Inner(ResultMixin):
    _title: ClassVar[str] = "Inner"
    n_units: int
    effect: float


@dataclass(frozen=True)
class Outer(ResultMixin):
    _title: ClassVar[str] = "Outer <b>&"
    _title_ja: ClassVar[str] = "外側"
    _hidden: ClassVar[frozenset[str]] = frozenset({"details"})
    name: str
    n_control: int
    effect: float
    ci_lower: float
    ci_upper: float
    rel_effect: float
    rel_ci_lower: float
    rel_ci_upper: float
    p_value: float
    srm_p_value: float
    ok: bool
    inner: Inner
    looks: tuple[Inner, ...]
    table: pd.DataFrame
    covariates: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


def outer(**kw: Any) -> Outer:
    base: dict[str, Any] = dict(
        name="<b>代理店&</b>", n_control=12345, effect=0.5, ci_lower=0.1, ci_upper=0.9,
        rel_effect=0.052, rel_ci_lower=-0.01, rel_ci_upper=0.114, p_value=3e-9,
        srm_p_value=0.4567, ok=True, inner=Inner(7, -0.25),
        looks=(Inner(1, 0.1), Inner(2000, 0.2)),
        table=pd.DataFrame({"segment": ["関東", "B"], "effect": [0.1, -0.2],
                            "ci_lower": [0.0, -0.4], "ci_upper": [0.2, 0.0]}),
        covariates=("x1", "x2"), warnings=("few units",), notes=("a note", "another"),
        details={"seed": 1})
    base.update(kw)
    return Outer(**base)


def test_conventions_in_text():
    text = str(outer())
    lines = text.splitlines()
    assert lines[0] == "Outer <b>&"
    assert any(ln.split() == ["CI", "[+0.1,", "+0.9]"] for ln in lines)  # one interval
    assert any(ln.split() == ["relative", "CI", "[-1.0%,", "+11.4%]"] for ln in lines)
    assert any(ln.split() == ["relative", "effect", "+5.2%"] for ln in lines)
    assert any(ln.split() == ["p-value", "3.0e-09"] for ln in lines)
    assert any(ln.split() == ["srm", "p", "value", "0.4567"] for ln in lines)
    assert any(ln.split() == ["n", "(control)", "12,345"] for ln in lines)
    assert any(ln.split() == ["covariates", "x1,", "x2"] for ln in lines)
    assert any(ln.split() == ["ok", "yes"] for ln in lines)
    assert "ci_lower" not in text and "seed" not in text  # merged interval, hidden details
    # lists are bullets after the numbers; nested result nested; tuples of results a table
    assert lines.index("  warnings:") > lines.index("  notes:") - 3
    assert "    - few units" in lines and "    - another" in lines
    assert "  inner" in lines and any(ln.split() == ["effect", "-0.25"] for ln in lines)
    assert any(ln.split() == ["2,000", "+0.2"] for ln in lines)
    assert any(ln.split()[:2] == ["関東", "+0.1"] and ln.endswith("[+0, +0.2]") for ln in lines)


def test_japanese_labels_and_alignment():
    text = outer().to_string(lang="ja")
    lines = text.splitlines()
    assert lines[0] == "外側"
    fields = [ln for ln in lines if ln.startswith("  ") and not ln.startswith("   ")
              and not ln.endswith(":") and ln.strip() != "inner"]
    values = {ln.split()[0]: ln for ln in fields}
    assert "信頼区間" in values and "相対効果" in values and "対照群の数" in values
    # values start in the same display cell whatever the label's script
    starts = {display_width(re.match(r"(  \S+\s{2,})", ln).group(1)) for ln in
              (values["信頼区間"], values["対照群の数"], values["p値"], values["相対効果"])}
    assert len(starts) == 1
    assert "  注意:" in lines and "  注記:" in lines and "はい" in text


def test_html_and_markdown_escape_and_carry_everything():
    r = outer()
    page = r._repr_html_()
    assert page == r.to_html()
    assert "<b>代理店&</b>" not in page and "&lt;b&gt;代理店&amp;&lt;/b&gt;" in page
    assert "Outer &lt;b&gt;&amp;" in page and "[+0.1, +0.9]" in page
    assert "<li>few units</li>" in page and page.count("<table") == 4
    md = r.to_markdown()
    assert "<b>代理店" not in md and "&lt;b&gt;代理店&amp;&lt;/b&gt;" in md
    assert "| CI | [+0.1, +0.9] |" in md and "- few units" in md
    assert "| relative CI | [-1.0%, +11.4%] |" in md
    assert r.to_markdown("ja").count("信頼区間") >= 1
    with pytest.raises(ValueError, match="lang"):
        r.to_string(lang="de")


def test_dict_json_and_frame():
    r = outer(effect=math.nan, details={"seed": np.int64(3)})
    d = r.to_dict()
    assert d["effect"] is None and d["inner"] == {"n_units": 7, "effect": -0.25}
    assert d["details"] == {"seed": 3} and d["table"][0]["segment"] == "関東"
    obj = json.loads(r.to_json(allow_nan=False))
    assert obj["name"] == "<b>代理店&</b>" and obj["looks"][1]["n_units"] == 2000
    frame = r.to_frame()
    assert len(frame) == 1 and frame["covariates"].iloc[0] == "x1; x2"
    assert "inner" not in frame and "looks" not in frame and "table" not in frame
    assert json_safe((np.float64("inf"), pd.NaT)) == [None, None]


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("p_value", 0.04567, "0.0457"), ("heterogeneity_p", 1e-12, "1.0e-12"),
    ("rel_effect", -0.031, "-3.1%"), ("observed_control_share", 0.3, "30.0%"),
    ("n_control", 1234567, "1,234,567"), ("effect", 0.5, "+0.5"), ("mean_control", 2.5, "2.5"),
    ("expected_uplift", -1.0, "-1"), ("mismatch", False, "no"), ("df", math.inf, "∞"),
    ("label", None, "—"),
])
def test_format_value_by_name(name, value, shown):
    assert format_value(name, value) == shown


def test_frame_table_aligns_wide_characters():
    df = pd.DataFrame({"partner": ["関東商事", "Osaka", "ｶﾝｻｲ"], "deals": [1200, 3, 45],
                       "rel_effect": [0.1, -0.05, np.nan]})
    out = frame_table(df).splitlines()
    assert out[0].split() == ["partner", "deals", "rel_effect"]
    assert len({display_width(ln) for ln in out[2:]}) == 1  # right-aligned last column
    assert out[2].split() == ["関東商事", "1,200", "+10.0%"] and out[4].endswith("—")
    more = frame_table(pd.DataFrame({"a": range(60)}), max_rows=5).splitlines()
    assert len(more) == 2 + 5 + 1 and more[-1] == "… 55 more rows"


def _every_result() -> list[ResultMixin]:
    rng = np.random.default_rng(4)
    n = 300
    df = pd.DataFrame({"arm": np.tile(["control", "treatment"], n // 2),
                       "x": rng.normal(0, 1, n), "rank": rng.choice(["A", "B"], n)})
    t = (df["arm"] == "treatment").to_numpy()
    df["opened"] = (t & (rng.random(n) < 0.6)).astype(int)
    df["step1"] = df["opened"] * (rng.random(n) < 0.7)
    df["y"] = rng.normal(0, 1, n) + df["x"] + 0.5 * df["opened"]
    est = sl.analyze(df, arm="arm", outcome="y", covariates=["x"])
    guard = sl.guardrail_check(est, margin=5.0, relative=False)
    seq = sequential_looks([est, est], mixture_sd=0.3)
    funnel = step_funnel(df, ["opened", "step1"], arm="arm", treatment="treatment")
    profile = effect_by_consumption(df, arm="arm", outcome="y", consumption="opened")
    return [
        est, sl.complier_effect(df, arm="arm", outcome="y", uptake="opened"),
        sl.segment_effects(df, arm="arm", outcome="y", segment="rank"),
        sl.srm_check(150, 150, control_share=0.5),
        sl.balance_check(df, arm="arm", covariates=["x"]), guard, seq, seq.looks[0],
        sample_size(0.2, sd=1.0), funnel, profile,
        decide(est, min_effect=0.3, guardrails=[guard], funnel=funnel, consumption=profile),
    ]


def test_every_result_class_renders_in_both_languages():
    results = _every_result()
    names = {type(r).__name__ for r in results}
    assert names >= {"Estimate", "ComplierEstimate", "SegmentEffects", "SRMCheck",
                     "BalanceCheck", "GuardrailCheck", "SequentialResult", "SequentialLook",
                     "SampleSize", "Funnel", "ConsumptionProfile", "Decision"}
    for r in results:
        assert isinstance(r, ResultMixin)
        for lang in ("en", "ja"):
            text = r.to_string(lang=lang)
            assert text.splitlines()[0].startswith(r.title(lang)), type(r).__name__
            assert r.to_html(lang).startswith("<div") and r.to_markdown(lang).startswith("###")
        json.loads(r.to_json(allow_nan=False))
        assert isinstance(r.to_frame(), pd.DataFrame)
    est, comp, seg = results[:3]
    assert "[" in str(est) and "%" in str(est) and "relative CI" in str(est)
    assert "estimands" in str(comp) and "ranking" in str(seg)
    decision = results[-1]
    assert "reasons:" in str(decision) and "理由:" in decision.to_string("ja")
    assert decision.reasons_ja[0] not in str(decision)  # one language at a time


def test_the_cli_prints_frames_aligned_by_display_cells(capsys):
    from supportlab.cli.common import print_frame

    df = pd.DataFrame({"name": ["関東商事", "B"], "deals": [12, 3]},
                      index=pd.Index(["P1", "P2"], name="partner_id"))
    print_frame(df, limit=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["partner_id", "name", "deals"]
    assert out[2].split() == ["P1", "関東商事", "12"]
    assert display_width(out[0]) == display_width(out[2])
    assert out[-1].startswith("... 1 more rows")
