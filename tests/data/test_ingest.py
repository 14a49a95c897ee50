"""Ingest: the bad-input corpus, encodings, mappings, Excel, duplicates and atomicity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

import supportlab as sl
from helpers import assert_unchanged, snapshot
from supportlab.data.ingestion import ColumnMapping, detect_encoding

HEADER = "event_id,partner_id,user_id,ts,event_type,content_id,value\n"
GOOD = (
    "E1,P1,P1-u1,2026-01-05 09:00:00,login,,\n"
    "E2,P1,P1-u1,2026-01-05 09:05:00,video_progress,video-a-intro,40\n"
    "E3,P2,P2-u1,2026-01-06T10:00:00+09:00,download,proposal-template-a,\n"
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def events(ws: sl.Workspace) -> pd.DataFrame:
    return ws.query("SELECT * FROM events ORDER BY event_id")


def quarantine(ws: sl.Workspace) -> pd.DataFrame:
    return ws.query("SELECT * FROM quarantine ORDER BY source_row")


# -- the happy path ------------------------------------------------------------------------------


def test_good_file_loads_and_summarises(ws, tmp_path):
    s = sl.ingest(ws, "events", [write(tmp_path / "e.csv", HEADER + GOOD)])
    assert (s.rows_read, s.rows_loaded, s.rows_quarantined, s.duplicates_skipped) == (3, 3, 0, 0)
    df = events(ws)
    assert list(df.event_id) == ["E1", "E2", "E3"]
    # naive timestamps are read in the workspace zone (Asia/Tokyo): 09:00 JST == 00:00 UTC
    assert df.ts[0] == pd.Timestamp("2026-01-05 00:00:00", tz="UTC")
    assert df.ts[2] == pd.Timestamp("2026-01-06 01:00:00", tz="UTC")
    log = ws.table("ingest_log")
    assert log.rows_loaded.tolist() == [3]


# -- the bad-input corpus: each gets a specific message and loses nothing ----------------------


def test_missing_column(ws, tmp_path):
    before = snapshot(ws)
    f = write(tmp_path / "e.csv", "event_id,partner_id,user_id,timestamp,event_type\nE1,P1,u,x,login\n")
    with pytest.raises(sl.InputFileError, match=r"missing required column\(s\) ts.*'timestamp'"):
        sl.ingest(ws, "events", [f])
    assert_unchanged(before, ws)


def test_wrong_types_are_quarantined_with_reasons(ws, tmp_path):
    f = write(tmp_path / "e.csv", HEADER + GOOD +
              "E4,P1,u,yesterday,login,,\nE5,P1,u,2026-01-05 10:00,view,video-a-intro,lots\n")
    s = sl.ingest(ws, "events", [f])
    assert (s.rows_loaded, s.rows_quarantined) == (3, 2)
    q = quarantine(ws)
    assert q.reason.tolist() == ["ts: not a timestamp", "value: not a number"]
    assert q.source_row.tolist() == [5, 6]  # file lines
    assert '"yesterday"' in q.record[0]  # the original value is kept


def test_wrong_types_strict_loads_nothing(ws, tmp_path):
    before = snapshot(ws)
    f = write(tmp_path / "e.csv", HEADER + GOOD + "E4,P1,u,yesterday,login,,\n")
    with pytest.raises(sl.DataValidationError, match="ts: not a timestamp"):
        sl.ingest(ws, "events", [f], strict=True)
    assert_unchanged(before, ws)


def test_empty_file(ws, tmp_path):
    before = snapshot(ws)
    with pytest.raises(sl.InputFileError, match="empty"):
        sl.ingest(ws, "events", [write(tmp_path / "e.csv", "")])
    assert_unchanged(before, ws)


def test_header_only(ws, tmp_path):
    before = snapshot(ws)
    f = write(tmp_path / "e.csv", HEADER)
    with pytest.raises(sl.InputFileError, match="header but no rows"):
        sl.ingest(ws, "events", [f])
    assert_unchanged(before, ws)
    assert sl.ingest(ws, "events", [f], allow_empty=True).rows_loaded == 0


def test_duplicate_keys_in_file_and_across_loads(ws, tmp_path):
    f = write(tmp_path / "e.csv", HEADER + GOOD + GOOD.splitlines(keepends=True)[0] +
              "E2,P1,P1-u1,2026-01-05 09:05:00,video_progress,video-a-intro,99\n")
    s = sl.ingest(ws, "events", [f])
    assert (s.rows_loaded, s.duplicates_skipped, s.rows_quarantined) == (3, 1, 1)
    assert quarantine(ws).reason.tolist() == [
        "event_id: repeats line 3 of this file with different values"]
    # the same export again adds nothing
    s2 = sl.ingest(ws, "events", [f])
    assert (s2.rows_loaded, s2.duplicates_skipped) == (0, 4)
    assert len(events(ws)) == 3
    assert len(quarantine(ws)) == 1  # the conflict is not quarantined twice
    # an overlapping export adds only its new rows; a changed old row is quarantined
    g = write(tmp_path / "g.csv", HEADER + GOOD.splitlines(keepends=True)[2] +
              "E1,P1,P1-u2,2026-01-05 09:00:00,login,,\nE9,P3,u,2026-02-01 12:00,login,,\n")
    s3 = sl.ingest(ws, "events", [g])
    assert (s3.rows_loaded, s3.duplicates_skipped, s3.rows_quarantined) == (1, 1, 1)
    assert "event_id: already loaded with different values" in quarantine(ws).reason.tolist()
    assert events(ws).event_id.tolist() == ["E1", "E2", "E3", "E9"]
    assert events(ws).user_id[0] == "P1-u1"  # nothing overwritten


def test_unknown_partner_ids(ws, tmp_path):
    f = write(tmp_path / "e.csv", HEADER + "E1,P404,u,2026-01-05 09:00,login,,\n"
              "E2,P1,u,2026-01-05 09:00,view,no-such-content,\n" + GOOD.splitlines()[2] + "\n")
    s = sl.ingest(ws, "events", [f])
    assert s.rows_loaded == 1
    assert quarantine(ws).reason.tolist() == [
        "partner_id: unknown partner (not in partners)",
        "content_id: unknown content (not in contents)"]


def test_mixed_naive_and_aware_timestamps(ws, tmp_path):
    f = write(tmp_path / "e.csv", HEADER + "E1,P1,u,2026-01-05 09:00,login,,\n"
              "E2,P1,u,2026-01-05T00:00:00Z,login,,\nE3,P1,u,2026/01/05 09:00:00,login,,\n")
    s = sl.ingest(ws, "events", [f])
    assert s.rows_loaded == 3
    note = " ".join(s.files[0].notes)
    assert "mixed values with and without a timezone" in note and "Asia/Tokyo" in note
    assert events(ws).ts.nunique() == 1  # all three denote the same instant


def test_future_dates(ws, tmp_path):
    f = write(tmp_path / "e.csv", HEADER + GOOD + "E4,P1,u,2099-01-01 00:00,login,,\n")
    s = sl.ingest(ws, "events", [f])
    assert s.rows_quarantined == 1
    assert quarantine(ws).reason.tolist() == ["ts: must not be in the future"]


def test_negative_amounts_and_reversed_dates(ws, tmp_path):
    f = write(tmp_path / "d.csv",
              "deal_id,partner_id,product,registered_at,stage,amount,closed_at,won\n"
              "D1,P1,A,2026-01-05,won,\"1,200,000\",2026-02-01,true\n"
              "D2,P1,A,2026-01-05,registered,-5,,\n"
              "D3,P2,A,2026-03-05,lost,100,2026-02-01,false\n")
    s = sl.ingest(ws, "deals", [f])
    assert s.rows_loaded == 1
    assert ws.query("SELECT amount FROM deals").amount[0] == 1_200_000  # thousands separators
    assert quarantine(ws).reason.tolist() == ["amount: must be >= 0",
                                             "closed_at: must not be before registered_at"]


def test_wrongly_declared_encoding(ws, tmp_path):
    before = snapshot(ws)
    sjis = write(tmp_path / "p.csv", "partner_id,name,rank\nP9,株式会社テスト,B\n", "cp932")
    with pytest.raises(sl.InputFileError, match="pass --encoding cp932"):
        sl.ingest(ws, "partners", [sjis], encoding="utf-8")
    utf = write(tmp_path / "q.csv", "partner_id,name,rank\nP9,株式会社テスト,B\n")
    with pytest.raises(sl.InputFileError, match="it is UTF-8 text"):
        sl.ingest(ws, "partners", [utf], encoding="shift_jis")
    assert_unchanged(before, ws)


def test_truncated_last_line(ws, tmp_path):
    before = snapshot(ws)
    f = write(tmp_path / "e.csv", HEADER + GOOD + "E4,P1,P1-u")
    with pytest.raises(sl.InputFileError, match=r"line 5 has 3 fields where the header has 7 "
                                                r"\(a truncated"):
        sl.ingest(ws, "events", [f])
    assert_unchanged(before, ws)


def test_stray_quote(ws, tmp_path):
    before = snapshot(ws)
    f = write(tmp_path / "e.csv", HEADER + 'E1,P1,"u,2026-01-05 09:00,login,,\n' + GOOD)
    with pytest.raises(sl.InputFileError, match="never closed"):
        sl.ingest(ws, "events", [f])
    assert_unchanged(before, ws)


def test_stray_delimiter(ws, tmp_path):
    before = snapshot(ws)
    f = write(tmp_path / "e.csv", HEADER + GOOD + "E4,P1,u,2026-01-05 09:00,login,,1,2\n")
    with pytest.raises(sl.InputFileError, match="line 5 has more fields than the 7 of the header"):
        sl.ingest(ws, "events", [f])
    assert_unchanged(before, ws)


def test_excel_with_title_rows_and_japanese_headers(ws, tmp_path):
    wb = openpyxl.Workbook()
    sh = wb.active
    sh.title = "代理店一覧"
    sh.append(["代理店マスタ 2026年11月"])
    sh.append([])
    sh.append(["代理店ID", "会社名", "ランク", "地域", "契約日", "担当"])
    sh.append(["P10", "株式会社デルタ", "S", "九州", pd.Timestamp("2023-05-01").to_pydatetime(), "sato"])
    sh.append(["P11", "イプシロン株式会社", "ゴールド", "東北", None, None])
    path = tmp_path / "partners.xlsx"
    wb.save(path)
    mapping = ColumnMapping(columns={"代理店ID": "partner_id", "会社名": "name", "ランク": "rank",
                                     "地域": "region", "契約日": "joined_at", "担当": "manager"})
    s = sl.ingest(ws, "partners", [path], mapping=mapping)
    assert (s.rows_loaded, s.rows_quarantined) == (1, 1)
    assert "header found on row 3; 2 title row(s) above it skipped" in s.files[0].notes
    q = quarantine(ws)
    assert q.reason.tolist() == ["rank: must be one of S, A, B, C"]
    assert q.source_row.tolist() == [5]  # the spreadsheet row
    assert "P10" in ws.table("partners").partner_id.tolist()


# -- encodings and mappings --------------------------------------------------------------------


@pytest.mark.parametrize("enc,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                          ("cp932", "cp932")])
def test_encodings_detected_and_loaded(ws, tmp_path, enc, expected):
    text = "代理店ID,会社名,ランク\nP20,株式会社ゼータ,B\nP21,ｴｲﾁ商事,C\n"
    f = write(tmp_path / "p.csv", text, enc)
    assert detect_encoding(f) == expected
    m = ColumnMapping(columns={"代理店ID": "partner_id", "会社名": "name", "ランク": "rank"})
    s = sl.ingest(ws, "partners", [f], mapping=m)
    assert s.rows_loaded == 2
    names = ws.query("SELECT name FROM partners WHERE partner_id IN ('P20', 'P21') ORDER BY partner_id")
    assert names.name.tolist() == ["株式会社ゼータ", "ｴｲﾁ商事"]


def test_mapping_file_with_value_map(ws, tmp_path):
    mp = tmp_path / "map.yaml"
    mp.write_text("table: events\ncolumns: {イベントID: event_id, 代理店ID: partner_id, "
                  "ユーザー: user_id, 日時: ts, 種別: event_type}\n"
                  "values: {event_type: {ログイン: login, 閲覧: view}}\n", encoding="utf-8")
    f = write(tmp_path / "e.csv", "イベントID,代理店ID,ユーザー,日時,種別\n"
              "X1,P1,u1,2026/03/01 10:00:00,ログイン\nX2,P2,u2,2026年03月02日,閲覧\n", "cp932")
    s = sl.ingest(ws, "events", [f], mapping=sl.load_mapping(mp))
    assert s.rows_loaded == 2
    assert events(ws).event_type.tolist() == ["login", "view"]
    with pytest.raises(sl.ConfigError, match="for table 'events', not 'deals'"):
        sl.ingest(ws, "deals", [f], mapping=sl.load_mapping(mp))


def test_bad_mapping_file(tmp_path):
    mp = tmp_path / "map.yaml"
    mp.write_text("colums: {a: b}\n", encoding="utf-8")
    with pytest.raises(sl.ConfigError, match="unknown key"):
        sl.load_mapping(mp)


def test_parquet_input(ws, tmp_path):
    df = pd.DataFrame({"event_id": ["Q1", "Q2"], "partner_id": ["P1", "P2"], "user_id": ["u", "u"],
                       "ts": pd.to_datetime(["2026-01-05 09:00", "2026-01-05 10:00"]),
                       "event_type": ["login", "login"], "content_id": [None, None],
                       "value": [None, None]})
    df.to_parquet(tmp_path / "e.parquet")
    s = sl.ingest(ws, "events", [tmp_path / "e.parquet"])
    assert s.rows_loaded == 2
    assert events(ws).ts[0] == pd.Timestamp("2026-01-05 00:00", tz="UTC")  # naive → Tokyo


def test_several_files_are_one_transaction(ws, tmp_path):
    before = snapshot(ws)
    good = write(tmp_path / "a.csv", HEADER + GOOD)
    bad = write(tmp_path / "b.csv", HEADER + "E7,P1,u")
    with pytest.raises(sl.InputFileError):
        sl.ingest(ws, "events", [good, bad])
    assert_unchanged(before, ws)


# -- killed mid-way: the database is exactly as before and usable ------------------------------


KILL_SCRIPT = """
import sys
import supportlab as sl
ws = sl.Workspace.open(sys.argv[1])
print("started", flush=True)
sl.ingest(ws, "events", [sys.argv[2]])
print("finished", flush=True)
"""


def test_kill_during_ingest_leaves_database_unchanged(tmp_path):
    sl.init_workspace(tmp_path)
    with sl.Workspace.open(tmp_path) as w:
        w.append("partners", pd.DataFrame({"partner_id": ["P1"], "name": ["x"], "rank": ["A"]}))
        before = snapshot(w)
    big = tmp_path / "big.csv"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'K' || i AS event_id, 'P1' AS partner_id, 'u' AS user_id,
        TIMESTAMP '2026-01-01' + to_seconds(i) AS ts, 'login' AS event_type,
        NULL AS content_id, NULL AS value FROM range(3000000) t(i)) TO '{big}' (HEADER)""")
    con.close()
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path), str(big)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    tmp = tmp_path / "data" / ".duckdb_tmp"
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.is_dir() for p in tmp.glob("tmp*")):
        time.sleep(0.01)  # the transaction has begun once its scratch directory exists
    time.sleep(0.3)
    assert proc.poll() is None, "ingest finished before it could be killed; use a bigger file"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sl.Workspace.open(tmp_path) as w:
        assert_unchanged(before, w)
        small = write(tmp_path / "s.csv", HEADER + "E1,P1,u,2026-01-05 09:00,login,,\n")
        assert sl.ingest(w, "events", [small]).rows_loaded == 1
        assert w.validate().ok


def test_line_numbers_across_both_paths(ws, tmp_path):
    """Rows the reader cannot type and rows failing checks both report their file line."""
    f = write(tmp_path / "e.csv", HEADER +
              "E1,P1,u,2026-01-05 09:00,login,,\n"           # line 2: fine
              "E2,P1,u,not-a-date,login,,\n"                 # line 3: type failure (careful path)
              "E3,P1,u,2026/01/05 09:00,login,,\n"           # line 4: other format (careful path), fine
              "E4,P1,u,2026-01-05 09:00,login,,\n"           # line 5: fine
              "E5,P1,u,2099-01-05 09:00,login,,\n"           # line 6: future
              "E6,P404,u,2026-01-05 09:00,login,,\n"         # line 7: unknown partner
              "E4,P1,u,2026-01-05 09:00,view,,\n"            # line 8: repeats line 5, differs
              ",P1,u,2026-01-05 09:00,login,,\n")            # line 9: missing key
    s = sl.ingest(ws, "events", [f])
    assert (s.rows_read, s.rows_loaded, s.rows_quarantined) == (8, 3, 5)
    q = quarantine(ws)[["source_row", "reason"]].values.tolist()
    assert q == [[3, "ts: not a timestamp"], [6, "ts: must not be in the future"],
                 [7, "partner_id: unknown partner (not in partners)"],
                 [8, "event_id: repeats line 5 of this file with different values"],
                 [9, "event_id: is required"]]
    assert sorted(events(ws).event_id) == ["E1", "E3", "E4"]
    assert '"event_id":null' in quarantine(ws).record[4]  # the placeholder never leaks out


# -- found by trying it as an analyst would ----------------------------------------------------


def test_crlf_line_endings_behave_like_lf(ws, tmp_path):
    rows = ["partner_id,name,rank,region,joined_at,manager", "C1,a,A,x,2025-04-01,m",
            "C2,b,B,x,2025年10月15日,m", "C3,c,B,x,2025/4/1,m", "C4,d,Z,x,2025-04-01,m"]
    f = write(tmp_path / "crlf.csv", "\r\n".join(rows) + "\r\n", "cp932")
    s = sl.ingest(ws, "partners", [f])
    assert (s.rows_loaded, s.rows_quarantined) == (3, 1)
    q = quarantine(ws)
    assert q.source_row.tolist() == [5] and '"rank":"Z"' in q.record[0].replace(" ", "")
    assert ws.query("SELECT joined_at FROM partners WHERE partner_id = 'C2'").joined_at[0] \
        == pd.Timestamp("2025-10-15")


def test_decimal_where_a_whole_number_belongs(ws, tmp_path):
    f = write(tmp_path / "c.csv", "content_id,content_type,product,version,title\n"
              "c1,video,A,1.5,x\nc2,video,A,2.0,y\nc3,video,A,3,z\n")
    s = sl.ingest(ws, "contents", [f])
    assert (s.rows_loaded, s.rows_quarantined) == (2, 1)
    assert quarantine(ws).reason.tolist() == ["version: not a whole number"]
    v = ws.query("SELECT content_id, version FROM contents WHERE content_id IN ('c2', 'c3') "
                 "ORDER BY 1")
    assert v.version.tolist() == [2, 3]


def test_excel_formula_without_saved_value_is_not_silently_empty(ws, tmp_path):
    wb = openpyxl.Workbook()
    sh = wb.active
    sh.append(["event_id", "partner_id", "ts", "event_type", "value"])
    sh.append(["X1", "P1", "2026-01-05 09:00", "test_submit", "=40+40"])
    sh.append(["X2", "P1", "2026-01-05 10:00", "test_submit", 75])
    wb.save(tmp_path / "e.xlsx")  # openpyxl writes formulas without calculated values
    s = sl.ingest(ws, "events", [tmp_path / "e.xlsx"])
    assert (s.rows_loaded, s.rows_quarantined) == (1, 1)
    assert any("formula cell(s) have no saved value" in n for n in s.files[0].notes)
    assert "=40+40" in quarantine(ws).record[0]


def test_trailing_delimiter_and_spaces_around_ids(ws, tmp_path):
    f = write(tmp_path / "e.csv", "event_id,partner_id,user_id,ts,event_type,\n"
              "E1, P1 ,u,2026-01-05 09:00,login,\n")
    s = sl.ingest(ws, "events", [f])
    assert s.rows_loaded == 1
    assert events(ws).partner_id.tolist() == ["P1"]


def test_mapping_mistakes_are_named(ws, tmp_path):
    f = write(tmp_path / "e.csv", "ID,代理店,日時,種別\nE1,P1,2026-01-05 09:00,login\n")
    good = {"ID": "event_id", "代理店": "partner_id", "日時": "ts", "種別": "event_type"}
    with pytest.raises(sl.ConfigError, match=r"not a column of events.*did you mean .event_type."):
        sl.ingest(ws, "events", [f], mapping=ColumnMapping(columns={**good, "種別": "event_typo"}))
    with pytest.raises(sl.ConfigError, match="values for 'event_typ'"):
        sl.ingest(ws, "events", [f], mapping=ColumnMapping(columns=good,
                                                           values={"event_typ": {"a": "b"}}))
    with pytest.raises(sl.InputFileError, match="both map to 'partner_id'"):
        sl.ingest(ws, "events", [f], mapping=ColumnMapping(columns={**good, "ID": "partner_id"}))
    s = sl.ingest(ws, "events", [f], mapping=ColumnMapping(columns={**good, "担当": "user_id"}))
    assert s.rows_loaded == 1 and any("担当" in n for n in s.files[0].notes)


def test_deal_stage_and_won_must_agree(ws, tmp_path):
    f = write(tmp_path / "d.tsv", "deal_id\tpartner_id\tregistered_at\tstage\twon\n"
              "D1\tP1\t2026-01-05\tlost\t受注\nD2\tP1\t2026-01-05\twon\t受注\n")
    s = sl.ingest(ws, "deals", [f])
    assert (s.rows_loaded, s.rows_quarantined) == (1, 1)
    assert quarantine(ws).reason[0].startswith("won: must agree with stage")


# -- defects a new user met ------------------------------------------------------------------------


def test_events_before_partners_are_quarantined_with_the_fix(tmp_path):
    sl.init_workspace(tmp_path)
    ws = sl.Workspace.open(tmp_path)
    f = write(tmp_path / "e.csv", HEADER + GOOD)
    s = sl.ingest(ws, "events", f)  # no partners, no contents yet
    assert (s.rows_loaded, s.rows_quarantined) == (0, 3)
    reasons = dict(s.files[0].reasons)
    assert reasons["partner_id: unknown partner (the partners table is empty: ingest partners first)"] == 3
    assert reasons["content_id: unknown content (the contents table is empty: ingest contents first)"] == 2
    assert ws.count("events") == 0  # nothing that validate would reject afterwards


def test_reingesting_a_file_does_not_point_to_an_empty_batch(ws, tmp_path):
    f = write(tmp_path / "e.csv", HEADER + GOOD)
    sl.ingest(ws, "events", f)
    again = sl.ingest(ws, "events", f)
    assert (again.rows_loaded, again.rows_quarantined, again.duplicates_skipped) == (0, 0, 3)
    assert "all 3 rows were already loaded; nothing quarantined" in str(again)
    assert "quarantined:" not in str(again)

    bad = write(tmp_path / "bad.csv", HEADER + GOOD + "E4,P404,u,2026-01-05 09:00,login,,\n")
    first = sl.ingest(ws, "events", bad)
    assert first.rows_quarantined == 1
    repeat = sl.ingest(ws, "events", bad)
    assert (repeat.rows_quarantined, repeat.already_quarantined) == (0, 1)
    assert repeat.files[0].reasons == ()
    text = str(repeat)
    assert "nothing new was loaded or quarantined" in text
    assert f"--batch {first.batch_id}" in text and f"--batch {repeat.batch_id}" not in text
    batches = ws.query("SELECT batch_id, count(*) AS n FROM quarantine GROUP BY 1")
    assert batches.batch_id.tolist() == [first.batch_id]  # no empty batch to look at
    log = ws.query("SELECT batch_id, rows_quarantined FROM ingest_log ORDER BY loaded_at")
    assert log.rows_quarantined.tolist()[-2:] == [1, 0]


def test_strict_lists_every_reason(ws, tmp_path):
    f = write(tmp_path / "e.csv", HEADER +
              "E1,P404,u,2026-01-05 09:00,login,,\n"
              "E2,P1,u,yesterday,login,,\n"
              "E3,P1,u,2026-01-05 09:00,dance,,\n"
              "E4,P1,u,2026-01-05 09:00,video_progress,video-a-intro,140\n")
    with pytest.raises(sl.DataValidationError) as err:
        sl.ingest(ws, "events", f, strict=True)
    text = str(err.value)
    for reason in ("partner_id: unknown partner", "ts: not a timestamp",
                   "event_type: must be one of", "value: must be within 0–100"):
        assert reason in text, text
    assert "more reason" not in text


def test_many_reasons_are_counted_not_dropped(ws, tmp_path):
    from supportlab.data.ingestion import MAX_REASONS_SHOWN

    rows = "".join(f"E{i},P1,u,2026-01-05 09:00,kind{i},,\n" for i in range(3))
    f = write(tmp_path / "e.csv", HEADER + rows)
    s = sl.ingest(ws, "events", f)
    assert s.rows_quarantined == 3 and len(s.files[0].reasons) == 1  # one reason, three rows
    many = "".join(f"X{i},P{i + 100},u,2026-01-05 09:00,login,c{i},\n" for i in range(40))
    s = sl.ingest(ws, "events", write(tmp_path / "m.csv", HEADER + many))
    assert sum(n for _, n in s.files[0].reasons) == 80  # both reasons of every row, counted
    assert len(s.files[0].reasons) == 2 and MAX_REASONS_SHOWN >= 2


def test_ingest_takes_one_path_and_a_mapping_path(ws, tmp_path):
    f = write(tmp_path / "e.csv", "イベントID,代理店ID,日時,種別\nE1,P1,2026-01-05 09:00,ログイン\n")
    m = tmp_path / "events.yaml"
    m.write_text("table: events\ncolumns: {イベントID: event_id, 代理店ID: partner_id, 日時: ts, "
                 "種別: event_type}\nvalues: {event_type: {ログイン: login}}\n", encoding="utf-8")
    s = sl.ingest(ws, "events", str(f), mapping=str(m))
    assert s.rows_loaded == 1
    assert sl.ingest(ws, "events", f, mapping=m).duplicates_skipped == 1  # Path objects too
    with pytest.raises(sl.ConfigError, match="files must be a path or a list of paths, not int"):
        sl.ingest(ws, "events", 42)
    with pytest.raises(sl.ConfigError, match=r"files\[1\] is a int, not a path"):
        sl.ingest(ws, "events", [f, 42])
    with pytest.raises(sl.ConfigError, match="no files given"):
        sl.ingest(ws, "events", [])
    with pytest.raises(sl.ConfigError, match="mapping must be a ColumnMapping or the path"):
        sl.ingest(ws, "events", f, mapping=42)
    with pytest.raises(sl.ConfigError, match=r"nope\.yaml: file not found"):
        sl.ingest(ws, "events", f, mapping=tmp_path / "nope.yaml")
    with pytest.raises(sl.ConfigError, match="needs an open workspace"):
        sl.ingest(str(tmp_path), "events", f)
