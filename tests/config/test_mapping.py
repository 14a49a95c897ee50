"""Ingest mappings (supportlab ingest --mapping FILE)."""

from __future__ import annotations

import pytest

import supportlab as sl
from supportlab.config.problems import ConfigFileError


def test_a_good_mapping(tmp_path, write):
    f = write(tmp_path / "map.yaml", """
        table: deals
        columns: {案件ID: deal_id, 代理店ID: partner_id, 2024: amount, " 登録日 ": registered_at}
        values: {won: {受注: true, 失注: false}, stage: {1: registered}}
        sheet: 2
        """)
    m = sl.load_mapping(f)
    assert m.table == "deals" and m.sheet == "2"
    assert m.columns == {"案件ID": "deal_id", "代理店ID": "partner_id", "2024": "amount",
                         "登録日": "registered_at"}
    assert m.values == {"won": {"受注": "true", "失注": "false"}, "stage": {"1": "registered"}}


def test_all_problems_of_a_mapping_at_once(tmp_path, write):
    f = write(tmp_path / "map.yaml", """
        table: events
        colums: {a: b}
        columns: {種別: event_typo, 日時: 5}
        values: {event_typ: {a: b}, event_type: login}
        """)
    with pytest.raises(ConfigFileError) as info:
        sl.load_mapping(f)
    found = {p.key_path: str(p) for p in info.value.problems}
    assert "unknown key 'colums' (line 2). Fix: did you mean 'columns'?" in found["colums"]
    assert "must be text, got 5" in found["columns.日時"]
    assert "'event_typo' is not a column of events" in found["columns.種別"]
    assert "did you mean 'event_type'?" in found["columns.種別"]
    assert "values for 'event_typ', which is not a column of events" in found["values.event_typ"]
    assert "must be a mapping" in found["values.event_type"]


def test_an_unknown_table(tmp_path, write):
    f = write(tmp_path / "map.yaml", "table: event\ncolumns: {a: b}\n")
    with pytest.raises(ConfigFileError) as info:
        sl.load_mapping(f)
    assert str(info.value).startswith(f"{f}: table: table 'event' is not a canonical table (line 1)")
    assert "did you mean 'events'?" in str(info.value)
