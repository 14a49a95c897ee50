"""Metric files (experiments/metrics.yaml): shape, tables and columns, ratio parts."""

from __future__ import annotations

import pytest

import supportlab as sl
from supportlab.config.problems import ConfigFileError
from supportlab.features.metrics import load_metrics, metric_from_dict


def test_a_good_metrics_file_extends_the_catalogue(tmp_path, write):
    f = write(tmp_path / "metrics.yaml", """
        metrics:
          webinar_views: {kind: count, where: {event_type: view, content_type: campaign},
                          lookback_days: 30, description: campaign views}
          high_scores: {kind: count, where: {event_type: test_submit, value: {gte: 70}}}
          rule_filtered: {kind: count, where: "event_type == 'login'"}
          quiet_days: {kind: days_since_last, where: {event_type: login}, if_never: 365}
          share_won: {kind: ratio, numerator: deals_won, denominator: deals_registered}
        """)
    cat = load_metrics(f)
    assert cat["webinar_views"].lookback_days == 30
    assert cat["webinar_views"].where == {"event_type": "view", "content_type": "campaign"}
    assert cat["high_scores"].where == {"event_type": "test_submit", "value": {"gte": 70}}
    assert cat["rule_filtered"].where == "event_type == 'login'"
    assert cat["quiet_days"].if_never == 365
    assert "logins" in cat  # the built-ins stay


def test_all_problems_of_a_metrics_file_at_once(tmp_path, write):
    f = write(tmp_path / "metrics.yaml", """
        metrics:
          a: {kind: summ}
          b: {kind: sum, table: deals}
          c: {kind: count, where: {evnt_type: login}}
          d: {kind: count, where: {value: {gtee: 70}}}
          e: {kind: count, tabel: deals}
          f: {kind: ratio, numerator: deals_wonn, denominator: deals_closed}
          g: {kind: latest, table: deals, column: amout}
          h: {kind: count, table: deal}
          i: {kind: days_since_last, if_never: sometimes}
          j: {kind: count, lookback_days: true}
          k: {kind: count, where: 7}
          2bad: {kind: count}
        """)
    with pytest.raises(ConfigFileError) as info:
        load_metrics(f)
    found = {p.key_path: str(p) for p in info.value.problems}
    assert "kind == 'summ' is not allowed" in found["metrics.a.kind"]
    assert "did you mean 'sum'? allowed kinds: count" in found["metrics.a.kind"]
    assert "a sum metric needs 'column'" in found["metrics.b"]
    assert "filter column 'evnt_type' is not in events" in found["metrics.c.where.evnt_type"]
    assert "did you mean 'event_type'?" in found["metrics.c.where.evnt_type"]
    assert "unknown operator 'gtee'" in found["metrics.d.where.value.gtee"]
    assert "did you mean 'table'?" in found["metrics.e.tabel"]
    assert "unknown metric 'deals_wonn'" in found["metrics.f.numerator"]
    assert "did you mean 'deals_won'?" in found["metrics.f.numerator"]
    assert "column 'amout' is not in deals" in found["metrics.g.column"]
    assert "did you mean 'amount'?" in found["metrics.g.column"]
    assert "table 'deal' is not a workspace table" in found["metrics.h.table"]
    assert "did you mean 'deals'?" in found["metrics.h.table"]
    assert "if_never == 'sometimes' is not allowed" in found["metrics.i.if_never"]
    assert "must be a whole number, got true" in found["metrics.j.lookback_days"]
    assert "must be a rule (text) or a mapping" in found["metrics.k.where"]
    assert "cannot be used in rules" in found["metrics.2bad"]
    assert len(found) == 12


def test_one_definition_from_python_names_its_key():
    with pytest.raises(sl.ConfigError, match=r"m\.yaml: metrics\.x\.time: time column 'when'"):
        metric_from_dict("x", {"kind": "count", "time": "when"}, "m.yaml")
    assert metric_from_dict("x", {"kind": "any", "where": {"won": True}, "table": "deals"}).where == {
        "won": True}


def test_an_empty_metrics_file_is_the_builtins(tmp_path, write):
    assert load_metrics(write(tmp_path / "metrics.yaml", "# nothing yet\n")).keys() == \
        load_metrics(None).keys()
