"""Workspace: configuration, tables, whole-workspace validation."""

from __future__ import annotations

import pandas as pd
import pytest

import supportlab as sl


def test_init_and_load_config(tmp_path):
    cfg = sl.init_workspace(tmp_path / "w", timezone="UTC", language="en")
    assert (tmp_path / "w" / "supportlab.toml").is_file()
    loaded = sl.load_config(tmp_path / "w" / "data")  # found from a subdirectory
    assert (loaded.timezone, loaded.language, loaded.root) == ("UTC", "en", cfg.root)
    with pytest.raises(sl.WorkspaceError, match="already exists"):
        sl.init_workspace(tmp_path / "w")


def test_bad_config_values(tmp_path):
    with pytest.raises(sl.ConfigError, match="unknown timezone 'Mars/Olympus'"):
        sl.init_workspace(tmp_path, timezone="Mars/Olympus")
    with pytest.raises(sl.ConfigError, match="language == 'fr'"):
        sl.init_workspace(tmp_path, language="fr")
    (tmp_path / "supportlab.toml").write_text("[workspace]\ndatabse = 'x'\n")
    with pytest.raises(sl.ConfigError, match="unknown key"):
        sl.load_config(tmp_path)


def test_no_workspace(tmp_path):
    with pytest.raises(sl.WorkspaceError, match="supportlab init"):
        sl.load_config(tmp_path)


def test_validate_finds_broken_references_and_keys(ws):
    ws.append("events", pd.DataFrame({
        "event_id": ["E1", "E1", "E2"], "partner_id": ["P1", "P1", "P404"],
        "ts": pd.to_datetime(["2026-01-01"] * 3).tz_localize("UTC"),
        "event_type": ["login"] * 3}))
    report = ws.validate()
    assert not report.ok
    text = str(report)
    assert "events.event_id: key must be unique (1 row(s)" in text
    assert "events.partner_id: must reference a known partners.partner_id (1 row" in text
    assert "P404" in text


def test_validate_clean_workspace(ws):
    assert ws.validate().ok
    assert ws.counts()["partners"] == 3


def test_reads_never_create_the_database(tmp_path):
    sl.init_workspace(tmp_path)
    ws = sl.Workspace.open(tmp_path)
    assert (ws.tables(), ws.counts(), ws.count("partners"), ws.holds_data()) == ([], {}, 0, False)
    with pytest.raises(sl.WorkspaceError, match="no data yet") as err:
        ws.validate()
    assert "supportlab simulate" in str(err.value)
    with pytest.raises(sl.WorkspaceError, match="supportlab simulate"):
        sl.connect(ws)
    with pytest.raises(sl.WorkspaceError, match="no data yet"):
        ws.query("SELECT 1 FROM partners")
    assert not ws.exists
    assert not ws.path.exists()


def test_a_failed_first_write_leaves_no_database(tmp_path):
    sl.init_workspace(tmp_path)
    ws = sl.Workspace.open(tmp_path)
    bad = tmp_path / "partners.csv"
    bad.write_text("partner_id,name\n", encoding="utf-8")  # no rank column
    with pytest.raises(sl.InputFileError, match="missing required column"):
        sl.ingest(ws, "partners", bad)
    assert not ws.path.exists()


def test_empty_tables_are_an_error_for_the_engine_not_an_empty_frame(tmp_path):
    sl.init_workspace(tmp_path)
    ws = sl.Workspace.open(tmp_path)
    ws.ensure_tables()
    assert ws.exists
    with pytest.raises(sl.WorkspaceError, match="no data yet"):
        sl.connect(ws)
    ws.append("events", pd.DataFrame({
        "event_id": ["E1"], "partner_id": ["P1"], "event_type": ["login"],
        "ts": pd.to_datetime(["2026-01-01"]).tz_localize("UTC")}))
    with pytest.raises(sl.WorkspaceError, match="no partners yet") as err:
        sl.connect(ws)
    assert "ingest partners first" in str(err.value)


def test_read_only_workspace_refuses_writes(ws):
    ro = sl.Workspace.open(ws.config.root, read_only=True)
    assert ro.count("partners") == 3
    with pytest.raises(sl.WorkspaceError, match="read-only"):
        ro.append("partners", pd.DataFrame({"partner_id": ["P9"], "name": ["x"], "rank": ["A"]}))


def test_holds_real_data(tmp_path):
    from helpers import PARTNERS, simulated_workspace

    sim = simulated_workspace(tmp_path / "sim", n_partners=20, seed=1)
    assert sim.holds_data() and not sim.holds_real_data()
    sim.append("partners", PARTNERS)  # partners the simulator did not make
    assert sim.holds_real_data()
    sim.close()

    sl.init_workspace(tmp_path / "real")
    real = sl.Workspace.open(tmp_path / "real")
    assert not real.holds_real_data()  # nothing at all
    csv = tmp_path / "partners.csv"
    PARTNERS.to_csv(csv, index=False)
    sl.ingest(real, "partners", csv)
    assert real.holds_real_data()

    other = simulated_workspace(tmp_path / "mixed", n_partners=20, seed=2)
    (tmp_path / "p.csv").write_text("partner_id,name,rank\nX1,Extra,A\n", encoding="utf-8")
    sl.ingest(other, "partners", tmp_path / "p.csv")  # ingested beside a simulated world
    assert other.holds_real_data()
