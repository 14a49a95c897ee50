"""Targeting rules: grammar, null logic, errors that point at the token, safety, explain, SQL."""

from __future__ import annotations

import datetime
import random

import duckdb
import numpy as np
import pandas as pd
import pytest

import supportlab.features.rules as rules_module
from supportlab.errors import ConfigError
from supportlab.features.rules import (
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    Rule,
    RuleError,
    infer_feature_kinds,
    parse_rule,
)

FEATURES = {
    "completion_rate": "number", "days_since_last_login": "number", "logins_30d": "number",
    "video_completed": "bool", "template_downloaded": "bool", "latest_test_score": "number",
    "support_score": "number", "tenure_days": "number", "rank": "string", "region": "string",
    "product": "string", "tenure_band": "string", "joined_at": "date",
}


def partners() -> pd.DataFrame:
    """Eight partners with a missing value in every feature somewhere."""
    return pd.DataFrame({
        "completion_rate": [0.2, 0.8, None, 0.5, 0.0, 1.0, 0.45, np.nan],
        "days_since_last_login": [3, 45, 10, None, 30, 29, 100, 0],
        "logins_30d": pd.array([5, 0, 2, 0, None, 1, 0, 7], dtype="Int64"),
        "video_completed": pd.array([True, False, None, False, True, False, True, False],
                                    dtype="boolean"),
        "template_downloaded": [False, False, True, None, True, False, False, False],
        "latest_test_score": [55.0, 90.0, None, 70.0, 69.5, None, 100.0, 0.0],
        "support_score": [10, 20, 30, 40, 50, 60, 70, 80],
        "tenure_days": [100, 400, 364, 365, None, 10, 800, 50],
        "rank": ["B", "A", "C", None, "B", "S", "C", "B"],
        "region": ["関東", "関西", "関東", "九州", None, "関西", "it's", 'say "hi"'],
        "product": pd.Categorical(["A", "B", "A", None, "A", "B", "A", "B"]),
        "tenure_band": ["<1y", "1-2y", "<1y", "1-2y", None, "<1y", "2y+", "<1y"],
        "joined_at": pd.to_datetime(["2025-04-01", "2024-01-15", None, "2025-09-30",
                                     "2023-06-01", "2026-01-01", "2022-02-02", "2025-04-01"]),
    }, index=[f"P{i}" for i in range(1, 9)])


def mask(*selected: int, n: int = 8) -> list[bool]:
    """A boolean list with True at the given 1-based partner numbers."""
    return [i + 1 in selected for i in range(n)]


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect()
    yield con
    con.close()


def sql_mask(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, rule: Rule,
             features: dict[str, str] | None = None) -> list[bool]:
    """Run ``rule.to_sql()`` in a DuckDB WHERE clause and return the selection as a list."""
    frame = df.reset_index(drop=True).assign(row_no_=range(len(df)))
    con.register("partners", frame)
    rows = con.execute(
        f"SELECT row_no_ FROM partners WHERE {rule.to_sql(features)}").fetchall()
    selected = np.zeros(len(df), dtype=bool)
    selected[[r[0] for r in rows]] = True
    return selected.tolist()


# ------------------------------------------------------------------------------ evaluation

@pytest.mark.parametrize(("text", "expected"), [
    ("completion_rate < 0.5 or days_since_last_login >= 30", mask(1, 2, 5, 7)),
    ("not video_completed and not template_downloaded", mask(2, 6, 8)),
    ("rank in ['B', 'C'] and tenure_days < 365", mask(1, 3, 8)),
    ("latest_test_score is null or latest_test_score < 70", mask(1, 3, 5, 6, 8)),
    ("(region == \"関東\" or region == '関西') and logins_30d = 0", mask(2)),
    ("product == 'A' and rank in ['B'] and tenure_days <= 365", mask(1)),
    ("joined_at >= '2025-04-01'", mask(1, 4, 6, 8)),
    ("joined_at < '2025-04-01 00:00:01' and joined_at > '2025-03-31'", mask(1, 8)),
    ("region in ['it\\'s', \"say \\\"hi\\\"\"]", mask(7, 8)),
    ("logins_30d", mask(1, 3, 6, 8)),
    ("true", mask(*range(1, 9))),
    ("false or support_score > 75", mask(8)),
    ("-5 < tenure_days and 50% <= completion_rate", mask(2, 4, 6)),
    ("support_score >= 1_000 or support_score == 2e1", mask(2)),
    ("days_since_last_login < tenure_days", mask(1, 2, 3, 7, 8)),
    ("rank < 'C'", mask(1, 2, 5, 8)),
])
def test_evaluate_gives_expected_masks_and_duckdb_agrees(duck, text, expected):
    rule = parse_rule(text, FEATURES)
    df = partners()
    selected = rule.evaluate(df)
    assert selected.dtype == bool
    assert list(selected.index) == list(df.index)
    assert selected.tolist() == expected
    assert sql_mask(duck, df, rule) == expected
    assert parse_rule(text).evaluate(df).tolist() == expected  # kinds inferred from the data


X = pd.DataFrame({"x": [1.0, None, 10.0, None], "y": [True, True, False, None],
                  "s": ["a", "b", None, None]})


@pytest.mark.parametrize(("text", "expected"), [
    ("x < 5", [True, False, False, False]),
    ("not (x < 5)", [False, False, True, False]),        # unknown stays unknown under not
    ("not not (x < 5)", [True, False, False, False]),
    ("x < 5 or y", [True, True, False, False]),          # unknown or true = true
    ("x < 5 and y", [True, False, False, False]),        # unknown and true = unknown
    ("not (x < 5 and not y)", [True, True, True, False]),  # unknown and false = false
    ("not (x < 5 or y)", [False, False, True, False]),
    ("x is null", [False, True, False, True]),
    ("x is not null", [True, False, True, False]),
    ("not x is null", [True, False, True, False]),
    ("s in ['a']", [True, False, False, False]),
    ("s not in ['a']", [False, True, False, False]),     # null not in [...] is unknown
    ("not (s in ['a'])", [False, True, False, False]),
    ("s is null or s != 'a'", [False, True, True, True]),
    ("y == true", [True, True, False, False]),
    ("y != true", [False, False, True, False]),
    ("not y", [False, False, True, False]),
    ("x != 1", [False, False, True, False]),
])
def test_nulls_follow_sql_three_valued_logic(duck, text, expected):
    rule = parse_rule(text)
    assert rule.evaluate(X).tolist() == expected
    assert sql_mask(duck, X, rule) == expected


def test_explain_shows_features_conditions_and_selection():
    rule = parse_rule("(completion_rate < 0.5 or days_since_last_login >= 30) "
                      "and not video_completed and not logins_30d", FEATURES)
    frame = rule.explain(partners())
    assert list(frame.columns) == [
        "completion_rate", "days_since_last_login", "video_completed", "logins_30d",
        "completion_rate < 0.5", "days_since_last_login >= 30", "video_completed == true",
        "logins_30d != 0", "selected"]
    assert list(frame.index) == list(partners().index)
    assert frame["selected"].tolist() == rule.evaluate(partners()).tolist() == mask(2)
    assert frame["completion_rate < 0.5"].dtype == "boolean"
    assert frame.loc["P3", "completion_rate < 0.5"] is pd.NA
    assert frame.loc["P5", "logins_30d != 0"] is pd.NA
    assert bool(frame.loc["P2", "days_since_last_login >= 30"]) is True
    assert frame["completion_rate"].equals(partners()["completion_rate"])


def test_explain_merges_repeated_conditions_and_refuses_a_clashing_result_name():
    df = pd.DataFrame({"selected": [1, 2], "x": [1, 5]})
    rule = parse_rule("x < 3 or (x < 3 and selected > 1)")
    with pytest.raises(RuleError, match="result column name 'selected'"):
        rule.explain(df)
    frame = rule.explain(df, result="eligible")
    assert list(frame.columns) == ["x", "selected", "x < 3", "selected > 1", "eligible"]


def test_dates_with_a_time_zone_read_literals_in_that_zone():
    df = pd.DataFrame({"joined_at": pd.to_datetime(["2025-03-31 23:30", "2025-04-01 00:30"])
                       .tz_localize("Asia/Tokyo"),
                       "day": [datetime.date(2025, 3, 31), datetime.date(2025, 4, 1)]})
    assert parse_rule("joined_at >= '2025-04-01'").evaluate(df).tolist() == [False, True]
    assert parse_rule("day in ['2025-04-01']").evaluate(df).tolist() == [False, True]
    assert infer_feature_kinds(df) == {"joined_at": "date", "day": "date"}


def test_infer_feature_kinds():
    df = partners().assign(
        mixed=[1, "a", None, None, None, None, None, None], empty=[None] * 8,
        arrow=pd.array(list("abcdefgh"), dtype="string[pyarrow]"),
        wait=pd.to_timedelta([1] * 8, unit="D"), flag01=[0, 1] * 4)
    df[3] = 1  # a non-string column name cannot be referenced
    kinds = infer_feature_kinds(df)
    assert {k: kinds[k] for k in FEATURES} == FEATURES
    assert kinds["arrow"] == "string" and kinds["flag01"] == "number"
    assert not {"mixed", "empty", "wait", 3} & set(kinds)


def test_bare_number_feature_means_not_zero_also_in_sql(duck):
    df = pd.DataFrame({"video_completed": [1, 0, None, 2]})
    rule = parse_rule("not video_completed")
    assert rule.evaluate(df).tolist() == [False, True, False, False]
    assert rule.to_sql({"video_completed": "number"}) == '(NOT ("video_completed" <> 0))'
    kinds = infer_feature_kinds(df)
    assert sql_mask(duck, df, rule, kinds) == [False, True, False, False]
    assert sql_mask(duck, df, parse_rule("not video_completed", kinds)) == \
        [False, True, False, False]


def test_to_sql_quotes_identifiers_and_escapes_strings(duck):
    evil = "x'); DROP TABLE partners; --"
    rule = parse_rule(f"region == \"{evil}\" or region in ['a\\\\b', 'it\\'s'] or 地域 < 0.5")
    sql = rule.to_sql()
    assert sql == ("((\"region\" = 'x''); DROP TABLE partners; --') OR "
                   "(\"region\" IN ('a\\b', 'it''s')) OR (\"地域\" < 0.5e0))")
    df = pd.DataFrame({"region": [evil, "a\\b", "it's", "a"], "地域": [1.0, 1.0, 1.0, 0.25]})
    assert rule.evaluate(df).tolist() == [True, True, True, True]
    assert sql_mask(duck, df, rule) == [True, True, True, True]
    assert duck.execute("SELECT count(*) FROM partners").fetchall() == [(4,)]


# ----------------------------------------------------------------------------- syntax & text

@pytest.mark.parametrize(("text", "canonical"), [
    ("a < 1 OR b >= 2 AND NOT c", "a < 1 or b >= 2 and not c"),
    ("(a or b) and c", "(a or b) and c"),
    ("a or (b or c)", "a or b or c"),
    ("a && b || !c", "a and b or not c"),
    ("a = 1 and b <> 2", "a == 1 and b != 2"),
    ("not a < 5", "not (a < 5)"),
    ("NOT (a OR b)", "not (a or b)"),
    ("rank IN ('B', 'C',)", "rank in ['B', 'C']"),
    ("rank Not In [\"B\"]", "rank not in ['B']"),
    ("x IS NOT NULL", "x is not null"),
    ("x < 50% and y > -1_000 and z <= 2.5E-3", "x < 0.5 and y > -1000 and z <= 0.0025"),
    ("s == 'tab\\there\\nnew \\\\ \\' \"'", "s == 'tab\\there\\nnew \\\\ \\' \"'"),
    ("flag == TRUE or flag != False", "flag == true or flag != false"),
    ("地域 == '関東'\u3000and\nｘ > 1", "地域 == '関東' and ｘ > 1"),
])
def test_canonical_text_round_trips(text, canonical):
    rule = parse_rule(text)
    assert str(rule) == canonical
    assert parse_rule(canonical) == rule
    assert hash(parse_rule(canonical)) == hash(rule)
    assert repr(rule) == f"Rule({canonical!r})"
    assert rule.text == text


def test_precedence_not_over_and_over_or():
    df = pd.DataFrame({"a": [True, False, False], "b": [True, True, False],
                       "c": [False, True, True]})
    assert parse_rule("a or b and c").evaluate(df).tolist() == [True, True, False]
    assert parse_rule("(a or b) and c").evaluate(df).tolist() == [False, True, False]
    assert parse_rule("not a and b").evaluate(df).tolist() == [False, True, False]
    assert parse_rule("not (a and b)").evaluate(df).tolist() == [False, True, True]


def test_names_and_features():
    rule = parse_rule("rank in ['B'] and (tenure_days < 365 or rank == 'C')", FEATURES)
    assert rule.names == frozenset({"rank", "tenure_days"})
    assert rule.features == {"rank": "string", "tenure_days": "number"}
    assert parse_rule("true").names == frozenset()
    assert parse_rule("x < 1").features is None


# ------------------------------------------------------------------------------------- errors

def error_of(text: object, features: dict[str, str] | None = None) -> RuleError:
    with pytest.raises(RuleError) as info:
        parse_rule(text, features)  # type: ignore[arg-type]
    return info.value


def test_unknown_feature_suggests_the_closest_name():
    err = error_of("complet_rate < 0.5", FEATURES)
    assert err.reason == ("unknown feature 'complet_rate' at column 1; "
                          "did you mean 'completion_rate'?")
    assert (err.position, err.column, err.line) == (0, 1, 1)
    assert str(err).splitlines()[1:] == ["    complet_rate < 0.5", "    ^^^^^^^^^^^^"]
    assert isinstance(err, ConfigError) and err.exit_code == 2
    assert "did you mean 'rank'" in error_of("Rank == 'B'", FEATURES).reason
    far = error_of("zzz < 1", FEATURES)
    assert "did you mean" not in far.reason and "known features: completion_rate" in str(far)


@pytest.mark.parametrize(("text", "message", "column"), [
    ("rank = 3", "cannot compare string feature 'rank' with number 3 at column 6", 6),
    ("3 < rank", "cannot compare number 3 with string feature 'rank' at column 3", 3),
    ("logins_30d == 'many'", "cannot compare number feature 'logins_30d' with string 'many'",
     12),
    ("video_completed == 1", "cannot compare bool feature 'video_completed' with number 1", 17),
    ("logins_30d == true", "with boolean true at column 12", 12),
    ("rank in ['B', 3]", "the list mixes strings and numbers at column 15", 15),
    ("tenure_days in ['B']", "cannot compare number feature 'tenure_days' with string 'B'", 17),
    ("video_completed < true", "can only be compared with '==' or '!='", 17),
    ("rank and logins_30d", "string feature 'rank' at column 1 is not a condition", 1),
    ("joined_at", "date feature 'joined_at' at column 1 is not a condition", 1),
    ("joined_at > 'yesterday'", "'yesterday' at column 13 is not a date", 13),
    ("joined_at > '2025-02-30'", "'2025-02-30' at column 13 is not a date", 13),
    ("joined_at > 3", "cannot compare date feature 'joined_at' with number 3", 11),
    ("rank == region and rank < tenure_band and tenure_days > logins_30d", None, None),
])
def test_kinds_are_checked_when_features_are_given(text, message, column):
    if message is None:
        parse_rule(text, FEATURES)
        return
    err = error_of(text, FEATURES)
    assert message in err.reason
    assert err.column == column


def test_kinds_are_checked_against_the_data_at_evaluation():
    rule = parse_rule("rank = 3 or completion_rate < 0.5")
    with pytest.raises(RuleError, match="cannot compare string feature 'rank' with number 3"):
        rule.evaluate(partners())
    with pytest.raises(RuleError, match=r"unknown feature 'complet_rate' at column 1 \(the data "
                                        r"has no such column\); did you mean 'completion_rate'"):
        parse_rule("complet_rate < 1").evaluate(partners())
    dup = pd.DataFrame([[1, 2]], columns=["x", "x"])
    with pytest.raises(RuleError, match="feature 'x' at column 1 is in 2 columns"):
        parse_rule("x < 1").evaluate(dup)
    mixed = pd.DataFrame({"m": [1, "a"]})
    with pytest.raises(RuleError, match="feature 'm' at column 1 holds values of different kinds"):
        parse_rule("m < 1").evaluate(mixed)
    with pytest.raises(TypeError, match="DataFrame"):
        rule.evaluate({"rank": ["B"]})  # type: ignore[arg-type]


def test_an_entirely_missing_column_is_compatible_with_anything():
    df = pd.DataFrame({"m": [None, None]}, dtype=object)
    assert parse_rule("m < 1 or m == 'a' or m is null").evaluate(df).tolist() == [True, True]


@pytest.mark.parametrize(("text", "message", "column"), [
    ("ab and == 3", "unexpected token '==' at column 8; expected a condition", 8),
    ("(rank == 'BB'", "expected ')' at column 14, found end of rule; the '(' at column 1", 14),
    ("x < 1 < 2", "unexpected token '<' at column 7; comparisons cannot be chained", 7),
    ("x <", "expected a value after '<' at column 4, found end of rule", 4),
    ("x < 1 y", "unexpected token 'y' at column 7; expected 'and', 'or'", 7),
    ("x < 1)", "unexpected ')' at column 6; it has no matching '('", 6),
    ("rank == 'B", "unterminated string starting at column 9", 9),
    ('rank == "B\\"', "unterminated string starting at column 9", 9),
    ("rank == 'B\\q'", "unknown escape '\\q' in string at column 11", 11),
    ("x == null", "cannot compare with null at column 6", 6),
    ("x in [null]", "null cannot be a list item", 7),
    ("x in []", "empty list at column 6", 6),
    ("x in 'B'", "expected '[' after 'in' at column 6, found string 'B'", 6),
    ("x in [1, 2", "expected ',' or ']' at column 11, found end of rule", 11),
    ("x in [1 2]", "expected ',' or ']' at column 9, found number 2", 9),
    ("x in [1, ]]", "unexpected token ']' at column 11; expected 'and', 'or'", 11),
    ("x is true", "expected 'null' at column 6, found token 'true'", 6),
    ("x not < 3", "unexpected token 'not' at column 3", 3),
    ("1 < 2", "the comparison at column 3 compares two values", 3),
    ("42", "number 42 at column 1 is not a condition by itself", 1),
    ("'a' in ['a']", "the left side of 'in' must be a feature, found string 'a'", 1),
    ("null is null", "'is null' needs a feature on its left", 1),
    ("(x) < 1", "unexpected token '<' at column 5; only a feature or a value can be compared", 5),
    ("x < -y", "expected a number after '-' at column 6, found token 'y'", 6),
    ("x and", "expected a condition at column 6, found end of rule", 6),
    ("()", "unexpected token ')' at column 2; expected a condition", 2),
    ("x < 0x1F", "invalid number '0x1F' at column 5", 5),
    ("x < 1.", "invalid number '1.' at column 5", 5),
    ("x < 1__0", "invalid number '1__0' at column 5", 5),
    ("x < 99999999999999999999", "integer at column 5 is out of range", 5),
    ("x < 1e-999", "number '1e-999' at column 5 is too small", 5),
    ("x ＜ 1", "unexpected full-width character '＜' at column 3; use '<' instead", 3),
    ("x == “a”", "unexpected quotation mark '“' at column 6", 6),
    ("x => 1", "unexpected '=>' at column 3; did you mean '>='?", 3),
    ("x & y", "unexpected '&' at column 3; write 'and'", 3),
    ("x < 1 # note", "unexpected '#' at column 7; comments are not supported", 7),
    ("x < 'B' and\n  y <", "expected a value after '<' at line 2, column 6", 6),
])
def test_syntax_errors_point_at_the_token(text, message, column):
    err = error_of(text)
    assert message in err.reason
    assert err.column == column
    assert err.position is not None and 0 <= err.position <= len(text)
    caret = str(err).splitlines()[-1]
    assert caret.strip().startswith("^")


def test_caret_lines_up_under_wide_characters():
    err = error_of("地域 == '関東' and 地区 <")
    lines = str(err).splitlines()
    assert lines[1] == "    地域 == '関東' and 地区 <"
    assert lines[2] == "    " + " " * 25 + "^"  # 地域 and 関東 take two columns per character
    assert err.column == 20


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty rule"),
    (" \n\t ", "empty rule"),
    (None, "a rule must be text, got NoneType"),
    (b"x < 1", "a rule must be text, got bytes"),
])
def test_empty_or_non_text_rules(text, message):
    assert message in error_of(text).reason


def test_feature_catalog_must_use_known_kinds():
    with pytest.raises(RuleError, match="feature 'x' has unknown kind 'int'"):
        parse_rule("x < 1", {"x": "int"})


def test_long_error_lines_are_shortened_around_the_token():
    text = "x < 1 or " * 200 + "y <"
    lines = str(error_of(text)).splitlines()
    assert len(lines[1]) < 100 and lines[1].startswith("    …")
    assert lines[2].endswith("^") and len(lines[2]) <= len(lines[1]) + 1


# ------------------------------------------------------------------------------------- safety

@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os').system('x')", "names starting with '__' are not allowed"),
    ("os.system('rm -rf /')", "attribute access ('.') is not allowed"),
    ("partner.__class__", "attribute access ('.') is not allowed"),
    ("a.b", "unexpected '.' at column 2"),
    ("().__class__.__bases__", "unexpected '.' at column 3"),
    ("f(x)", "function calls are not allowed"),
    ("x < len(y)", "unexpected '(' after 'len' at column 8; function calls are not allowed"),
    ("eval ('1')", "function calls are not allowed"),
    ("lambda: 1", "unexpected ':' at column 7"),
    ("[x for x in y]", "a list at column 1 is only allowed after 'in'"),
    ("x in [y for y in z]", "list items must be values"),
    ("x[0]", "subscripts are not allowed"),
    ("x[1] == 'a'", "subscripts are not allowed"),
    ("x[0:1] == 'a'", "':' is not allowed"),
    ("f'{x}'", "string prefix 'f' at column 1 is not supported"),
    ("x == rb'a'", "string prefix 'rb' at column 6"),
    ("`x`", "backticks are not allowed"),
    ("x < 1; import os", "';' is not allowed"),
    ("x := 1", "assignment (':=') is not allowed"),
    ("x < 1 if y else 2", "unexpected token 'if' at column 7"),
    ("import os", "unexpected token 'os' at column 8"),
    ("x + 1 > 2", "arithmetic is not supported"),
    ("x ** 2 > 2", "arithmetic is not supported"),
    ("{'a': 1}", "braces are not allowed"),
    ("x == \"a\" \"b\"", "unexpected string \"b\" at column 10"),
    ("x < 1e999", "number '1e999' at column 5 is too large"),
    ("x < 1" + "0" * 400, "is too long"),
    ("x\x00 < 1", "control character U+0000 at column 2 is not allowed"),
    ("x < 1\x1b[2J", "control character U+001B at column 6"),
    ("x == 'a\x00'", "control character U+0000 inside string at column 8"),
    ("x == 'a\nb'", "control character U+000A inside string at line 1, column 8"),
    ("x == 'abc\u202e'", "control character U+202E inside string"),
    ("x\u200b < 1", "control character U+200B at column 2"),
    ("x == '\ud800'", "control character U+D800 inside string"),
    ("x < 1 \\", "a backslash is only allowed inside a quoted string"),
    ("x @ y", "unexpected character '@' at column 3"),
    ("$x", "unexpected character '$' at column 1"),
    ("x < 1" + " or x < 1" * 1200, "the rule is too long: 10,805 characters, the limit is 10,000"),
])
def test_attempts_to_break_out_are_rejected(text, message):
    err = error_of(text)
    assert message in str(err)
    str(err).encode("utf-8")  # printable, even for surrogates and control characters


def test_nesting_is_capped_without_recursion_error(monkeypatch):
    depth_ok = "(" * MAX_DEPTH + "x < 1" + ")" * MAX_DEPTH
    assert parse_rule(depth_ok).evaluate(pd.DataFrame({"x": [0, 2]})).tolist() == [True, False]
    assert str(parse_rule(depth_ok)) == "x < 1"
    too_deep = "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)
    err = error_of(too_deep)
    assert err.reason == (f"the rule nests too deeply at column {MAX_DEPTH + 1}: more than "
                          f"{MAX_DEPTH} levels of parentheses and 'not'")
    assert "nests too deeply" in error_of("(" * 4_999 + "x" + ")" * 4_999).reason
    assert "nests too deeply" in error_of("not " * 2_000 + "x").reason
    assert "nests too deeply" in error_of("(a or (" * 1_000 + "x").reason
    mixed = "not (" * 50 + "x" + ")" * 50
    assert str(parse_rule(mixed)) == "not " * 50 + "x"
    assert "too long" in error_of("(" * 10_000 + "x" + ")" * 10_000).reason
    # Even with the length limit lifted, 10,000 nested parentheses are a clean RuleError.
    monkeypatch.setattr(rules_module.parser, "MAX_RULE_LENGTH", 1_000_000)
    assert "nests too deeply" in error_of("(" * 10_000 + "x" + ")" * 10_000).reason
    assert "nests too deeply" in error_of("not " * 10_000 + "x").reason


def test_long_flat_rules_up_to_the_limit_are_fine(duck):
    terms = [f"x{i % 50} != {i}" for i in range(600)]
    text = " and ".join(terms)[:MAX_RULE_LENGTH]
    text = text[:text.rindex(" and ")]
    rule = parse_rule(text)
    df = pd.DataFrame({f"x{i}": [i, -1] for i in range(50)})
    assert rule.evaluate(df).tolist() == [False, True]
    assert sql_mask(duck, df, rule) == [False, True]
    items = ", ".join(str(i) for i in range(1500))
    assert parse_rule(f"x0 in [{items}]").evaluate(df).tolist() == [True, False]


WORDS = [
    "x", "rank", "completion_rate", "joined_at", "video_completed", "地域", "ｘ", "_", "a1",
    "and", "or", "not", "AND", "Or", "in", "is", "null", "true", "FALSE",
    "(", ")", "[", "]", ",", "-", "<", "<=", ">", ">=", "==", "=", "!=", "<>", "&&", "||", "!",
    "0", "1", "0.5", "1_000", "50%", "2e3", "'B'", '"関西"', "'it\\'s'", "'2025-04-01'",
]
JUNK = [
    "1e999", "1e-999", "99999999999999999999", "0x1F", "1.", ".5", "1__0", "'unterminated", '"',
    "'", "\\", "'\\q'", ".", ";", ":", ":=", "`", "f'x'", "__class__", "__import__", "lambda",
    "for", "if", "{", "}", "@", "#", "$", "?", "+", "*", "/", "%", "&", "|", "^", "~", "=>", "**",
    "\x00", "\x1b", "\u202e", "\ud800", "\u3000", "（", "＝", "“", "\n", "\t", "\x85",
    "\U0001f600",
]


def token_soup(rng: random.Random) -> str:
    """Random tokens, half of the time only ones the grammar knows, else with junk mixed in."""
    vocabulary = WORDS if rng.random() < 0.5 else WORDS + JUNK
    pieces = []
    for _ in range(rng.choice([1, 2, 3, 3, 4, 4, 5, 6, 8, 12])):
        if vocabulary is not WORDS and rng.random() < 0.1:
            pieces.append(chr(rng.randrange(0, 0x3100)))
        else:
            pieces.append(rng.choice(vocabulary))
        pieces.append(rng.choice(["", " ", " ", "  "]))
    return "".join(pieces)


def test_random_token_soup_parses_or_raises_rule_error():
    rng = random.Random(20261001)
    df = partners()
    parsed = rejected = 0
    for _ in range(3_000):
        text = token_soup(rng)
        for features in (None, FEATURES):
            try:
                rule = parse_rule(text, features)
            except RuleError as err:
                rejected += 1
                assert err.position is None or 0 <= err.position <= len(text)
                str(err).encode("utf-8")
                continue
            parsed += 1
            assert parse_rule(str(rule), features) == rule
            try:
                selected = rule.evaluate(df)
            except RuleError:
                continue
            assert selected.dtype == bool and len(selected) == len(df)
    assert parsed > 100 and rejected > 3_000  # the soup exercises both outcomes


# --------------------------------------------------------- generated rules: pandas == DuckDB

STRINGS = {"rank": ["A", "B", "C", "S", "Z"], "region": ["関東", "関西", "it's", 'say "hi"', ""],
           "product": ["A", "B"], "tenure_band": ["<1y", "1-2y", "2y+"]}
NUMBERS = {"completion_rate": ["0", "0.5", "50%", "0.45", "1"],
           "days_since_last_login": ["0", "29", "30", "1e2", "-1"],
           "logins_30d": ["0", "1", "2", "7"], "latest_test_score": ["0", "69.5", "70", "100"],
           "support_score": ["10", "40", "1_000"], "tenure_days": ["10", "364", "365", "800"]}
DATES = ["'2025-04-01'", "'2024-01-15 00:00:00'", "'2025-09-30T12:00:00'", "'2022-02-02'"]
OPS = ["<", "<=", ">", ">=", "==", "=", "!=", "<>"]


def random_atom(rng: random.Random) -> str:
    choice = rng.randrange(9)
    if choice == 0:
        name = rng.choice(list(NUMBERS))
        return f"{name} {rng.choice(OPS)} {rng.choice(NUMBERS[name])}"
    if choice == 1:
        name = rng.choice(list(NUMBERS))
        return f"{rng.choice(NUMBERS[name])} {rng.choice(OPS)} {name}"
    if choice == 2:
        name = rng.choice(list(STRINGS))
        value = rng.choice(STRINGS[name]).replace("\\", "\\\\").replace("'", "\\'")
        return f"{name} {rng.choice(OPS)} '{value}'"
    if choice == 3:
        name = rng.choice(list(STRINGS))
        values = rng.sample(STRINGS[name], rng.randint(1, len(STRINGS[name])))
        quoted = ", ".join(repr(v) for v in values)
        return f"{name} {rng.choice(['in', 'not in', 'NOT IN'])} [{quoted}]"
    if choice == 4:
        name = rng.choice(list(NUMBERS))
        values = ", ".join(rng.sample(NUMBERS[name], rng.randint(1, 3)))
        return f"{name} {rng.choice(['in', 'not in'])} ({values})"
    if choice == 5:
        name = rng.choice(["video_completed", "template_downloaded"])
        return rng.choice([name, f"{name} == true", f"{name} != false", f"{name} = FALSE"])
    if choice == 6:
        return f"{rng.choice(list(FEATURES))} is {rng.choice(['', 'not '])}null"
    if choice == 7:
        return f"joined_at {rng.choice(OPS)} {rng.choice(DATES)}"
    left, right = rng.sample(list(NUMBERS), 2)
    return f"{left} {rng.choice(OPS)} {right}"


def random_rule(rng: random.Random, depth: int = 0) -> str:
    if depth >= 3 or rng.random() < 0.35:
        return random_atom(rng)
    kind = rng.randrange(4)
    if kind == 0:
        return f"{rng.choice(['not', 'NOT', '!'])} ({random_rule(rng, depth + 1)})"
    joiner = rng.choice([" and ", " AND ", " && "] if kind == 1 else [" or ", " OR ", " || "])
    parts = [random_rule(rng, depth + 1) for _ in range(rng.randint(2, 3))]
    return "(" + joiner.join(parts) + ")" if rng.random() < 0.5 else joiner.join(parts)


def test_generated_rules_agree_between_pandas_and_duckdb(duck):
    rng = random.Random(7)
    df = partners()
    for _ in range(250):
        text = random_rule(rng)
        rule = parse_rule(text, FEATURES)
        assert parse_rule(str(rule), FEATURES) == rule, text
        expected = rule.evaluate(df).tolist()
        assert sql_mask(duck, df, rule) == expected, (text, rule.to_sql())
        assert rule.explain(df)["selected"].tolist() == expected
        assert parse_rule(text).evaluate(df).tolist() == expected
