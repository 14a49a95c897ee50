"""The command line: help everywhere, short errors with exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from supportlab.cli import cli

COMMANDS = ["init", "ingest", "quarantine", "validate", "simulate", "demo"]


def run(*args: str, cwd=None):
    runner = CliRunner()
    if cwd is not None:
        args = ("-C", str(cwd), *args)
    return runner.invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    r = run(command, "--help")
    assert r.exit_code == 0
    assert "Usage:" in r.output and len(r.output) > 100


def test_init_ingest_validate_quarantine(tmp_path):
    w = tmp_path / "w"
    assert run("init", str(w), "--language", "en").exit_code == 0
    f = tmp_path / "p.csv"
    f.write_text("partner_id,name,rank\nP1,株式会社A,A\nP2,B,Z\n", encoding="utf-8")
    r = run("ingest", "partners", str(f), cwd=w)
    assert r.exit_code == 0, r.output
    assert "partners: read 2, loaded 1, quarantined 1, duplicates skipped 0" in r.output
    assert "rank: must be one of S, A, B, C" in r.output
    r = run("quarantine", cwd=w)
    assert "p.csv:3: rank: must be one of S, A, B, C" in r.output
    r = run("validate", cwd=w)
    assert r.exit_code == 0 and "workspace valid: partners 1" in r.output


def test_errors_are_one_paragraph_with_exit_codes(tmp_path):
    w = tmp_path / "w"
    run("init", str(w))
    bad = tmp_path / "e.csv"
    bad.write_text("event_id,partner_id\nE1,P1\n", encoding="utf-8")
    r = run("ingest", "events", str(bad), cwd=w)
    assert r.exit_code == 3
    assert r.output.startswith("error: ") and "missing required column(s) ts, event_type" in r.output
    assert "Traceback" not in r.output
    r = run("ingest", "evnts", str(bad), cwd=w)
    assert r.exit_code == 4 and "did you mean 'events'" in r.output
    r = run("validate", cwd=tmp_path / "nowhere")
    assert r.exit_code == 5 and "supportlab init" in r.output


def test_console_script_without_and_with_debug(tmp_path):
    exe = [sys.executable, "-m", "supportlab.cli"]
    r = subprocess.run([*exe, "-C", str(tmp_path), "validate"], capture_output=True, text=True)
    assert r.returncode == 5
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    assert "no supportlab.toml found" in r.stderr
    r = subprocess.run([*exe, "--debug", "-C", str(tmp_path), "validate"], capture_output=True,
                       text=True)
    assert r.returncode == 5 and "Traceback" in r.stderr
