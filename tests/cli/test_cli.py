"""The command line: help everywhere, short errors with exit codes, no tracebacks, nothing lost."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner

import supportlab as sl
from helpers import assert_unchanged, simulated_workspace, snapshot
from supportlab.cli import SupportlabGroup, cli
from supportlab.cli.app import COMMANDS as COMMAND_TABLE

COMMANDS = ["init", "ingest", "quarantine", "validate", "simulate", "demo"]
EXP = "experiments/product-a-launch-2026q2.yaml"


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


# -- the command table and a fast --help --------------------------------------------------------


def test_every_command_of_the_table_is_listed_and_summarised_truthfully():
    listed = run("--help").output
    for name, ref in COMMAND_TABLE.items():
        module_exists = importlib.util.find_spec(ref.module) is not None
        assert (f"  {name} " in listed) == module_exists, name
        if not module_exists:
            continue
        command = getattr(importlib.import_module(ref.module), ref.function)
        assert command.name == name
        if ref.summary is not None:  # shown before the module is imported: must not drift
            assert ref.summary == command.get_short_help_str(limit=1000), name


def test_help_of_every_command_of_the_table():
    for name, ref in COMMAND_TABLE.items():
        if importlib.util.find_spec(ref.module) is None:
            continue
        r = run(name, "--help")
        assert r.exit_code == 0 and "Usage:" in r.output, name


def test_help_is_fast_and_loads_neither_pandas_nor_the_engine():
    code = ("import sys\nfrom supportlab.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit as e:\n    assert e.code == 0\n"
            "heavy = [m for m in ('pandas', 'duckdb', 'numpy', 'pyarrow') if m in sys.modules]\n"
            "print(','.join(heavy) or 'none')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "none"
    assert "demo" in r.stdout and "analyze" in r.stdout


def test_demo_help_says_what_it_does_today():
    text = run("--help").output + run("demo", "--help").output
    assert "runs the loop" not in text and "run the loop" not in text
    assert "validate" in text and "ingested (real) data is refused" in " ".join(text.split())


def test_the_package_entry_points():
    from supportlab.cli import main as main_again
    from supportlab.cli.app import main as app_main

    assert main_again is app_main
    r = subprocess.run([sys.executable, "-m", "supportlab.cli", "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "version" in r.stdout


# -- warnings of the library are shown, others are not ---------------------------------------------


def test_library_warnings_become_one_line_and_others_stay_quiet():
    import supportlab

    inside = str(Path(supportlab.__file__).parent / "features" / "targeting.py")

    @click.command("warn")
    def warn() -> None:
        warnings.warn_explicit("as-of 2027-01-01 is after the last event (2026-10-31)",
                               UserWarning, inside, 1)
        warnings.warn_explicit("as-of 2027-01-01 is after the last event (2026-10-31)",
                               UserWarning, inside, 2)
        warnings.warn_explicit("a pandas internal", FutureWarning, "/elsewhere/pandas/core.py", 1)
        click.echo("done")

    group = SupportlabGroup(name="supportlab")
    group.add_command(warn)
    r = CliRunner().invoke(group, ["warn"])
    assert r.exit_code == 0
    assert r.output.count("warning: as-of 2027-01-01 is after the last event") == 1
    assert "pandas internal" not in r.output and "done" in r.output


# -- demo never destroys real data ----------------------------------------------------------------


def test_demo_refuses_a_workspace_holding_ingested_data(tmp_path):
    w = tmp_path / "w"
    run("init", str(w))
    f = tmp_path / "partners.csv"
    f.write_text("partner_id,name,rank\nP1,株式会社A,A\nP2,ベータ合同会社,B\n", encoding="utf-8")
    assert run("ingest", "partners", str(f), cwd=w).exit_code == 0
    with sl.Workspace.open(w) as ws:
        before = snapshot(ws)
    r = run("demo", "--partners", "20", cwd=w)
    assert r.exit_code == 5, r.output
    assert r.output.startswith("error: ") and r.output.count("\n") == 1
    assert "did not come from the simulator" in r.output and "partners 2" in r.output
    assert "Traceback" not in r.output
    with sl.Workspace.open(w) as ws:
        assert_unchanged(before, ws)


def test_demo_builds_and_rebuilds_a_simulated_workspace(tmp_path):
    w = tmp_path / "demo"
    w.mkdir()
    r = run("demo", "--partners", "20", "--seed", "3", cwd=w)
    assert r.exit_code == 0, r.output
    assert "validated: all schema, key and reference checks passed" in r.output
    r = run("demo", "--partners", "30", "--seed", "4", cwd=w)  # a simulated world is replaced
    assert r.exit_code == 0, r.output
    with sl.Workspace.open(w) as ws:
        assert ws.count("partners") == 30 and not ws.holds_real_data()


# -- output files, dates, snapshots: checked before the work ----------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    simulated_workspace(root, n_partners=300, seed=5).close()
    return root


@pytest.mark.parametrize("command", [["metrics", "--as-of", "2026-07-01"], ["targets", EXP]])
def test_out_files_of_an_unknown_type_are_refused_before_any_work(world, tmp_path, command):
    out = tmp_path / "list.txt"
    r = run(*command, "--out", str(out), cwd=world)
    assert r.exit_code == 2, r.output
    assert "cannot write '.txt' files" in r.output and ".csv, .parquet or .xlsx" in r.output
    assert "eligible of" not in r.output  # no work was done
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["metrics", "--as-of", "2026-07-01"], ["targets", EXP]])
def test_xlsx_out_files_are_real_workbooks(world, tmp_path, command):
    out = tmp_path / "list.xlsx"
    r = run(*command, "--out", str(out), cwd=world)
    assert r.exit_code == 0, r.output
    assert zipfile.is_zipfile(out)  # not CSV under an .xlsx name
    back = pd.read_excel(out, engine="openpyxl")
    assert len(back) > 10 and back.partner_id.str.startswith("P").all()
    assert not list(tmp_path.glob(".*"))  # no temporary file left


@pytest.mark.parametrize("command", [["metrics"], ["targets", EXP], ["score", "--no-snapshot"]])
def test_dates_in_the_future_are_refused_alike(world, command):
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    r = run(*command, "--as-of", future, cwd=world)
    assert r.exit_code == 2, r.output
    assert f"--as-of {future} is in the future" in r.output and "Fix:" in r.output


def test_score_without_snapshot_keeps_the_movement_and_saves_nothing(world, tmp_path):
    r = run("score", "--as-of", "2026-06-01", "--out", str(tmp_path / "s"), cwd=world)
    assert r.exit_code == 0, r.output
    r = run("score", "--as-of", "2026-07-01", "--no-snapshot", "--out", str(tmp_path / "s"),
            cwd=world)
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(tmp_path / "s" / "support_score_2026-07-01.parquet")
    assert "change_since_last_snapshot" in df.columns
    assert df.change_since_last_snapshot.notna().mean() > 0.8  # partners scored on both dates
    assert (df.change_since_last_snapshot.abs() > 0).any()
    with sl.Workspace.open(world) as ws:
        days = ws.query("SELECT DISTINCT as_of FROM score_snapshots")["as_of"]
    assert [str(d)[:10] for d in days] == ["2026-06-01"]


@pytest.mark.parametrize("command", [["score"], ["metrics"], ["quarantine"], ["validate"],
                                     ["export", "pq"]])
def test_a_failed_command_leaves_no_database_behind(tmp_path, command):
    w = tmp_path / "w"
    run("init", str(w))
    db = w / "data" / "supportlab.duckdb"
    r = run(*command, cwd=w)
    assert r.exit_code == 5, r.output
    assert r.output.startswith("error: ") and "supportlab ingest" in r.output
    assert not db.exists()


def test_a_failed_ingest_creates_nothing(tmp_path):
    w = tmp_path / "w"
    run("init", str(w))
    r = run("ingest", "partners", str(tmp_path / "missing.csv"), cwd=w)
    assert r.exit_code == 3 and "file not found" in r.output
    assert not (w / "data" / "supportlab.duckdb").exists()


def test_terminal_tables_line_up_with_japanese_names(world):
    import unicodedata

    r = run("targets", EXP, "--limit", "6", cwd=world)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("----"))
    starts = [i for i, ch in enumerate(lines[rule]) if ch == "-" and (i == 0 or lines[rule][i - 1] == " ")]
    rows = lines[rule + 1: rule + 7]
    assert len(rows) == 6 and any(unicodedata.east_asian_width(ch) == "W" for ch in rows[0])

    def cells(line: str) -> str:  # one character per terminal cell
        return "".join("XX" if unicodedata.east_asian_width(ch) in "WF" else ch for ch in line)

    for line in [lines[rule - 1], *rows]:
        c = cells(line)
        for s in starts[1:]:
            assert c[s - 2: s] == "  ", (line, s)  # every column starts after a two-cell gap
    assert lines[rule - 1].split()[:4] == ["partner_id", "priority_rank", "name", "rank"]


@pytest.fixture(scope="module")
def old_world(tmp_path_factory):
    """A workspace whose logs end a month before today (an export of last month)."""
    from supportlab.data.workspace import write_simulation
    from supportlab.sim.simulate import SimulationConfig, simulate_world

    root = tmp_path_factory.mktemp("old")
    end = dt.date.today() - dt.timedelta(days=30)
    sl.init_workspace(root)
    with sl.Workspace.open(root) as ws:
        write_simulation(ws, simulate_world(SimulationConfig(n_partners=60, days=90, end=end, seed=2)))
    return root, end


@pytest.mark.parametrize("command", [["metrics", "--metric", "logins_30d"], ["score", "--no-snapshot"]])
def test_without_as_of_the_data_end_is_used_and_said(old_world, tmp_path, command):
    root, end = old_world
    r = run(*command, "--out", str(tmp_path / ("m.csv" if command[0] == "metrics" else "s")), cwd=root)
    assert r.exit_code == 0, r.output
    assert f"as of {end}, the day after the latest event" in r.output


@pytest.mark.parametrize("command", [["metrics"], ["targets", EXP], ["score", "--no-snapshot"]])
def test_a_date_after_the_last_data_is_refused_alike(old_world, command):
    root, end = old_world
    late = (end + dt.timedelta(days=10)).isoformat()
    r = run(*command, "--as-of", late, cwd=root)
    assert r.exit_code == 4, r.output
    assert r.output.startswith("error: ") and "after the last data" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize(("error", "code"), [
    (sl.ConfigError("bad key", where="x.yaml: design.seed", fix="give a number"), 2),
    (sl.InputFileError("file not found", where="a.csv", fix="check the path"), 3),
    (sl.DataValidationError("2 rows failed", where="events", fix="correct them"), 4),
    (sl.WorkspaceError("no workspace", fix="run supportlab init"), 5),
    (RuntimeError("something broke\nsecond line"), 1),
])
def test_each_error_class_keeps_its_exit_code_and_one_paragraph(error, code):
    @click.command("fail")
    def fail() -> None:
        raise error

    group = SupportlabGroup(name="supportlab", params=[click.Option(["--debug"], is_flag=True)])
    group.add_command(fail)
    r = CliRunner().invoke(group, ["fail"])
    assert r.exit_code == code
    assert r.output.startswith("error: ") and r.output.count("\n") == 1
    assert "Traceback" not in r.output
    if code == 1:
        assert "unexpected RuntimeError: something broke (run again with --debug" in r.output
    r = CliRunner().invoke(group, ["--debug", "fail"])
    assert r.exit_code == code and "Traceback" in r.output
