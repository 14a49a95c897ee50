"""What a report says about where it comes from: data quality, fingerprint, revision."""

from __future__ import annotations

import subprocess
from pathlib import Path

import supportlab as sl
from supportlab.report.provenance import data_quality, git_revision, provenance

HEADER = "event_id,partner_id,user_id,ts,event_type,content_id,value\n"
ROWS = ("E1,P1,P1-u1,2026-01-05 09:00:00,login,,\n"
        "E2,P1,P1-u1,2026-01-05 09:05:00,video_progress,video-a-intro,40\n"
        "E3,P1,u,yesterday,login,,\n")


def test_ingested_data_reports_its_files_rows_and_quarantine(ws: sl.Workspace,
                                                             tmp_path: Path) -> None:
    f = tmp_path / "e.csv"
    f.write_text(HEADER + ROWS, encoding="utf-8")
    sl.ingest(ws, "events", [f])
    dq = data_quality(ws)
    assert dq["source"] == "ingested"
    assert dq["ingested"]["files"] == 1 and dq["ingested"]["rows_read"] == 3
    assert dq["ingested"]["rows_loaded"] == 2 and dq["ingested"]["rows_quarantined"] == 1
    assert dq["quarantined"] == 1 and dq["tables"]["events"] == 2
    assert "quarantine" not in dq["tables"]


def test_revision_of_a_checkout_and_none_outside(tmp_path: Path) -> None:
    assert git_revision(tmp_path) is None
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "a.txt").write_text("a", encoding="utf-8")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a"], check=True)
    clean = git_revision(repo)
    assert clean is not None and len(clean["revision"]) == 40 and not clean["dirty"]
    (repo / "a.txt").write_text("b", encoding="utf-8")
    changed = git_revision(repo)
    assert changed is not None and changed["dirty"]


def test_provenance_carries_the_fingerprint(ws: sl.Workspace) -> None:
    from supportlab.data.workspace import data_fingerprint

    pv = provenance(ws)
    assert pv["data_fingerprint"] == data_fingerprint(ws)
    assert set(pv) == {"data_fingerprint", "git", "data_quality"}
