"""Schemas: pandera models validate pandas frames; the same checks compile to SQL."""

from __future__ import annotations

import pandas as pd
import pytest

import supportlab as sl
from supportlab.data.schemas import TABLES, sql_checks, table_spec


def test_every_table_has_a_key_and_columns():
    for name, spec in TABLES.items():
        assert spec.key, name
        assert set(spec.key) <= set(spec.column_names), name


def test_valid_events_pass():
    df = pd.DataFrame({
        "event_id": ["E1", "E2"], "partner_id": ["P1", "P1"], "user_id": ["u", None],
        "ts": pd.to_datetime(["2026-01-01 10:00", "2026-01-02 10:00"]).tz_localize("Asia/Tokyo"),
        "event_type": ["login", "test_submit"], "content_id": [None, "quiz-a"],
        "value": [None, 85.0]})
    assert sl.validate_frame(df, "events").ok


def test_failures_are_counted_with_examples():
    df = pd.DataFrame({
        "event_id": ["E1", "E1", "E3", ""], "partner_id": ["P1"] * 4, "user_id": ["u"] * 4,
        "ts": pd.to_datetime(["2026-01-01", "2099-01-01", "2026-01-01", "2026-01-01"]
                             ).tz_localize("UTC"),
        "event_type": ["login", "login", "dance", "video_progress"],
        "content_id": [None] * 4, "value": [None, None, None, 140.0]})
    report = sl.validate_frame(df, "events")
    assert not report.ok
    frame = report.to_frame()
    by_check = dict(zip(frame.column + ": " + frame.check, frame.failures, strict=True))
    assert by_check["event_type: must be one of " + ", ".join(sl.vocab.EVENT_TYPES)] == 1
    assert by_check["ts: must not be in the future"] == 1
    assert by_check["event_id: must not be blank"] == 1
    assert by_check["value: must be within 0–100 for video_progress/test_submit"] == 1
    assert by_check["event_id: key must be unique"] == 2
    assert not any("isin(" in c or ("_" in c.split(":")[0] and "(" in c) for c in frame.check)
    text = str(report)
    assert "events.event_type: must be one of" in text and "'dance'" in text
    assert len(report.failure_cases) >= 5


def test_naive_timestamps_are_rejected_in_pandas():
    df = pd.DataFrame({"experiment_id": ["x"], "partner_id": ["P1"], "arm": ["control"],
                       "stratum": [None], "assigned_at": pd.to_datetime(["2026-01-01"]),
                       "seed": [1]})
    report = sl.validate_frame(df, "assignments")
    assert not report.ok
    assert "assigned_at" in set(report.to_frame().column)


def test_examples_are_capped_at_five():
    df = pd.DataFrame({"partner_id": [f"P{i}" for i in range(50)], "name": ["x"] * 50,
                       "rank": ["Z"] * 50})
    report = sl.validate_frame(df, "partners")
    (f,) = [f for f in report.failures if f.column == "rank"]
    assert f.count == 50 and len(f.examples) == 5


def test_sql_checks_cover_every_pandera_check():
    for name in TABLES:
        spec = table_spec(name)
        n_checks = sum(len(c.checks) + (not c.nullable) for c in spec.columns)
        assert len(sql_checks(name)) == n_checks + len(spec.table_checks)


def test_unknown_table_suggests():
    with pytest.raises(sl.DataValidationError, match="did you mean 'deals'"):
        table_spec("deal")


def test_validate_frame_speaks_the_words_of_ingest(ws, tmp_path):
    rows = pd.DataFrame({
        "event_id": ["E1", "E2", "E3"], "partner_id": ["P1"] * 3, "user_id": ["u"] * 3,
        "ts": ["2026-01-01 10:00:00+00:00", "2099-01-01 10:00:00+00:00", "2026-01-01 10:00:00+00:00"],
        "event_type": ["dance", "login", "video_progress"], "content_id": [None] * 3,
        "value": [None, None, "abc"]})
    csv = tmp_path / "e.csv"
    rows.to_csv(csv, index=False)
    summary = sl.ingest(ws, "events", csv)
    from_ingest = {r for r, _ in summary.files[0].reasons}
    frame = rows.assign(ts=pd.to_datetime(rows.ts))
    report = sl.validate_frame(frame, "events")
    from_pandas = {f"{f.column}: {f.check}" for f in report.failures}
    assert from_pandas == from_ingest == {
        "event_type: must be one of " + ", ".join(sl.vocab.EVENT_TYPES),
        "ts: must not be in the future", "value: not a number"}


def test_optional_columns_may_be_left_out():
    df = pd.DataFrame({"event_id": ["E1"], "partner_id": ["P1"], "event_type": ["login"],
                       "ts": pd.to_datetime(["2026-01-01"]).tz_localize("UTC")})
    assert sl.validate_frame(df, "events").ok
    report = sl.validate_frame(df.drop(columns="ts"), "events")
    assert [(f.column, f.check) for f in report.failures] == [("ts", "column is missing (required)")]
