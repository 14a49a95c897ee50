"""The one condition language: reasons, hints that fix, mapping forms, locations, dates."""

from __future__ import annotations

import dataclasses
import datetime as dt

import ibis
import pandas as pd
import pytest

import supportlab as sl
from helpers import simulated_workspace
from supportlab.config.experiment import load_experiment
from supportlab.data.engine import connect
from supportlab.features.metrics import Metric, check_as_of, compute_metrics, window_asof
from supportlab.features.rules import RuleError, condition_rule, condition_text, parse_rule
from supportlab.features.segments import segment_rule
from supportlab.features.targeting import select_targets

EXP = "experiments/product-a-launch-2026q2.yaml"
WHY = "(not video_completed and not template_downloaded) or days_since_last_login >= 30"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    ws = simulated_workspace(tmp_path_factory.mktemp("world"), n_partners=200, seed=5)
    yield ws
    ws.close()


def hand_partners() -> pd.DataFrame:
    """Four partners whose reasons are checked by hand."""
    return pd.DataFrame({
        "video_completed": [False, True, False, True],
        "template_downloaded": [False, False, True, True],
        "days_since_last_login": [3, 45, 10, 30],
    }, index=["P1", "P2", "P3", "P4"])


def test_reasons_list_only_conditions_that_held():
    rule = parse_rule(WHY)
    frame = rule.explain(hand_partners())
    assert frame["selected"].tolist() == [True, True, False, True]
    why = [rule.reasons(row) for row in frame.to_dict("records")]
    # P1: eligible through the 'not' branch only; the failed login condition is not a reason
    assert why[0] == ["not video_completed (false)", "not template_downloaded (false)"]
    # P2: through the login branch; the failed 'not' branch is not listed
    assert why[1] == ["days_since_last_login >= 30 (days_since_last_login=45)"]
    assert why[2] == []  # not eligible
    assert why[3] == ["days_since_last_login >= 30 (days_since_last_login=30)"]


def test_reasons_of_negated_comparisons_are_said_positively():
    rule = parse_rule("not (completion_rate < 0.5 or logins_30d == 0)")
    df = pd.DataFrame({"completion_rate": [0.8], "logins_30d": [3]})
    assert rule.reasons(rule.explain(df).iloc[0]) == [
        "completion_rate >= 0.5 (completion_rate=0.8)", "logins_30d != 0 (logins_30d=3)"]


def test_target_list_reasons_on_the_simulated_world(world):
    exp = dataclasses.replace(load_experiment(EXP), eligibility=WHY)
    tl = select_targets(connect(world), exp)
    df = tl.frame
    assert len(df) > 0
    for _, row in df.iterrows():
        held_not = not row.video_completed and not row.template_downloaded
        held_login = row.days_since_last_login >= 30
        assert held_not or held_login
        assert ("not video_completed (false)" in row.why) == held_not
        assert ("days_since_last_login >= 30" in row.why) == held_login
        assert "=" not in row.why.replace(">=", "") or held_login  # no bare value lists


@pytest.mark.parametrize(("text", "fix", "suggested"), [
    ("video_completed == 1", "write 'video_completed' or 'video_completed == true'",
     ["video_completed", "video_completed == true"]),
    ("video_completed == 0", "write 'not video_completed' or 'video_completed == false'",
     ["not video_completed", "video_completed == false"]),
    ("video_completed != 1", "write 'not video_completed'", ["not video_completed"]),
    ("region == 関東", "write region == '関東'", ["region == '関東'"]),
    ("関東 == region", "write '関東' == region", ["'関東' == region"]),
    ("rank == 3", "e.g. rank == '3'", ["rank == '3'"]),
])
def test_hints_suggest_text_that_parses(text, fix, suggested):
    kinds = {"video_completed": "bool", "region": "string", "rank": "string"}
    with pytest.raises(RuleError) as info:
        parse_rule(text, kinds)
    assert fix in str(info.value)
    for good in suggested:
        parse_rule(good, kinds)  # the suggestion is a valid rule


def test_region_without_quotes_says_quote_text_values():
    with pytest.raises(RuleError, match="quote text values"):
        parse_rule("region == 関東", {"region": "string"})


@pytest.mark.parametrize(("mapping", "text"), [
    ({"rank": "B"}, "rank == 'B'"),
    ({"rank": ["B", "C"]}, "rank in ['B', 'C']"),
    ({"tenure_days": {"min": 30, "max": 365}}, "tenure_days >= 30 and tenure_days < 365"),
    ({"value": {"gte": 70}}, "value >= 70"),
    ({"won": {"is_null": False}}, "won is not null"),
    ({"stage": {"not_in": ["lost"]}}, "stage not in ['lost']"),
    ({"product": "A"}, "'A' in products"),
    ({"product": ["A", "B"]}, "('A' in products or 'B' in products)"),
    ({"joined_at": {"min": dt.date(2025, 4, 1)}}, "joined_at >= '2025-04-01'"),
    ({"won": True, "note": None}, "won == true and note is null"),
])
def test_mapping_forms_are_rules(mapping, text):
    assert condition_text(mapping) == text
    assert condition_rule(mapping) == parse_rule(text)


def test_mapping_form_errors_name_the_key():
    with pytest.raises(sl.ConfigError, match=r"x.yaml: segment.tenure_days.maxi: unknown operator"):
        condition_rule({"tenure_days": {"maxi": 3}}, "x.yaml: segment")
    with pytest.raises(sl.ConfigError, match="expected a non-empty list"):
        condition_rule({"rank": {"in": []}}, "x.yaml: segment")


def test_products_are_a_list_feature():
    df = pd.DataFrame({"products": ["A|B", "AB", "", "B|A"]})
    assert parse_rule("'A' in products").evaluate(df).tolist() == [True, False, False, True]
    assert parse_rule("'A' not in products").evaluate(df).tolist() == [False, True, True, False]
    with pytest.raises(RuleError, match="only a string can be looked up"):
        parse_rule("3 in products")
    seg = segment_rule({"product": "A", "rank": ["B"]})
    df = df.assign(rank=["B", "B", "B", "C"])
    assert seg.evaluate(df).tolist() == [True, False, False, False]


def test_rule_errors_name_the_file_and_key(world, tmp_path):
    exp = dataclasses.replace(load_experiment(EXP), eligibility="complet_rate < 0.5",
                              path="experiments/x.yaml")
    with pytest.raises(RuleError) as info:
        select_targets(connect(world), exp)
    assert str(info.value).startswith("experiments/x.yaml: eligibility: unknown feature "
                                      "'complet_rate'")
    assert "did you mean 'completion_rate'" in str(info.value)
    exp = dataclasses.replace(exp, eligibility="rank == 'B' and")
    with pytest.raises(RuleError, match=r"^experiments/x.yaml: eligibility: expected a condition"):
        select_targets(connect(world), exp)
    assert isinstance(info.value, ValueError) and isinstance(info.value, sl.ConfigError)


def test_metric_where_as_rule_equals_mapping(world):
    e = connect(world)
    w = window_asof("2026-07-01", "Asia/Tokyo", 365)
    as_map = Metric("tpl", "count", where={"event_type": "download", "content_type": "template"})
    as_rule = Metric("tpl", "count", where="event_type == 'download' and content_type == 'template'")
    a = compute_metrics(e, [as_map], [w])
    b = compute_metrics(e, [as_rule], [w])
    pd.testing.assert_frame_equal(a, b)
    assert a.tpl.sum() > 0


def test_rules_compile_for_engine_tables(tmp_path):
    df = pd.DataFrame({"x": [1.0, None, 10.0], "rank": ["B", "A", None]})
    path = tmp_path / "f.parquet"
    df.to_parquet(path)
    con = ibis.duckdb.connect()
    t = con.read_parquet(path)
    rule = parse_rule("x < 5 or rank == 'A'")
    got = con.execute(t.filter(rule.to_ibis(t)))
    assert got["rank"].tolist() == ["B", "A"]
    assert rule.evaluate(df).tolist() == [True, True, False]


def test_dates_after_the_data_or_in_the_future_are_refused(world):
    e = connect(world)
    last = world.query("SELECT max(ts) AS t FROM events").t[0]
    last_day = pd.Timestamp(last).tz_convert("Asia/Tokyo").date()
    late = last_day + dt.timedelta(days=10)
    future = dt.date.today() + dt.timedelta(days=3)
    check_as_of(e, last_day + dt.timedelta(days=1))  # the day after the last data is fine
    for day in (late, future):
        err = sl.ConfigError if day > dt.date.today() else sl.DataValidationError
        with pytest.raises(err):
            compute_metrics(e, ["logins_30d"], [window_asof(day, "Asia/Tokyo")])
        with pytest.raises(err):
            sl.support_score(e, day)
        with pytest.raises(err):
            select_targets(e, load_experiment(EXP), as_of=day)
    with pytest.raises(sl.DataValidationError, match="after the last data"):
        check_as_of(e, late, today=late)
