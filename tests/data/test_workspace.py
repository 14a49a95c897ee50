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
    assert "events.event_id: key must be unique failed for 1 row(s)" in text
    assert "events.partner_id: must reference a known partners.partner_id failed for 1" in text
    assert "P404" in text


def test_validate_clean_workspace(ws):
    assert ws.validate().ok
    assert ws.counts()["partners"] == 3


def test_database_in_use_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    sl.init_workspace(tmp_path)
    code = ("import supportlab as sl, sys, time; ws = sl.Workspace.open(sys.argv[1]); "
            "print('open', flush=True); time.sleep(30)")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "open"
        with pytest.raises(sl.WorkspaceError, match="in use by another process"):
            sl.Workspace.open(tmp_path)
    finally:
        p.kill()
        p.wait()
