"""``supportlab assign``: what it prints, --dry-run, --verify, --format json, and the ledger's
guarantees with real processes: two at once write one assignment, a kill mid-write leaves
nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import supportlab as sl
from helpers import EXPERIMENT_YAML, design_workspace, write_experiment
from supportlab.cli import cli
from supportlab.cli.app import COMMANDS
from supportlab.cli.assign import assign as assign_command


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("assign-cli-template")
    ws = design_workspace(root)
    ws.ensure_tables()
    ws.close()
    return root


@pytest.fixture
def root(template, tmp_path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(template, dest)
    return dest


def run(root: Path, *args: str):
    return CliRunner().invoke(cli, ["-C", str(root), "assign", *args])


def counts(root: Path, experiment_id: str) -> dict[str, int]:
    with sl.Workspace.open(root, read_only=True) as ws:
        return {t: int(ws.query(f"SELECT count(*) AS n FROM {t} WHERE experiment_id = ?",
                                [experiment_id])["n"].iloc[0])
                for t in ("assignments", "designs", "assignment_units")}


def process(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "supportlab.cli", "-C", str(root), "assign",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SUPPORTLAB_LOCK_TIMEOUT": "120"})


def test_the_docstring_is_the_command_tables_summary():
    doc = (assign_command.help or "").strip().splitlines()[0]
    assert doc == COMMANDS["assign"].summary


def test_assign_prints_counts_balance_capacity_and_what_it_did(root):
    path = write_experiment(root)
    r = run(root, str(path))
    assert r.exit_code == 0, r.output
    out = r.output
    for text in ("partners by stratum and arm", "balance (pre-period)", "SMD",
                 "experiments of this size at once", "can host"):
        assert text in out
    n = counts(root, "kit-2026q2")["assignments"]
    assert out.strip().splitlines()[-1] == f"assigned {n:,} partners"
    again = run(root, str(path))
    assert again.exit_code == 0
    last = again.output.strip().splitlines()[-1]
    assert last.startswith("already assigned on 20") and last.endswith(
        ": the stored assignment is unchanged")
    assert counts(root, "kit-2026q2")["designs"] == 1
    v = run(root, "--verify", str(path))
    assert v.exit_code == 0 and "equals the stored one" in v.output
    js = json.loads(run(root, str(path), "--format", "json").output)
    assert js["already"] is True and js["n_assigned"] == n and js["design"]["method"] == \
        "stratified"
    ja = run(root, str(path), "--lang", "ja")
    assert "層と群ごとの数" in ja.output


def test_dry_run_writes_nothing_and_errors_are_one_paragraph(root):
    path = write_experiment(root)
    r = run(root, "--dry-run", str(path), "--format", "json")
    assert r.exit_code == 0 and json.loads(r.output)["dry_run"] is True
    assert counts(root, "kit-2026q2") == {"assignments": 0, "designs": 0, "assignment_units": 0}
    late = write_experiment(root, id="late", start="2026-05-01")
    r = run(root, str(late))
    assert r.exit_code != 0 and "randomization happens before outcomes" in r.output
    assert "Traceback" not in r.output and "Fix:" in r.output
    r = run(root, "--verify", str(path))
    assert r.exit_code != 0 and "not assigned" in r.output and "supportlab assign" in r.output
    run(root, str(path))
    changed = write_experiment(root, text=EXPERIMENT_YAML.format(
        id="kit-2026q2", start="2026-06-01", design="").replace("seed: 11", "seed: 99"))
    r = run(root, str(changed))
    assert r.exit_code != 0 and "seed: 11 -> 99" in r.output and "design.phase: 2" in r.output


def test_verify_exits_1_on_a_tampered_ledger(root):
    path = write_experiment(root)
    assert run(root, str(path)).exit_code == 0
    with sl.Workspace.open(root) as ws, ws.transaction() as con:
        con.execute("UPDATE assignments SET stratum = 'Z' WHERE partner_id = "
                    "(SELECT min(partner_id) FROM assignments)")
    r = run(root, "--verify", str(path))
    assert r.exit_code == 1 and "1 of" in r.output and "rows differ" in r.output


def test_two_processes_at_once_write_exactly_one_assignment(root):
    path = str(write_experiment(root))
    procs = [process(root, path, "--format", "json") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    results = [json.loads(out) for out, _ in outs]
    assert sorted(r["already"] for r in results) == [False, True]
    assert results[0]["n_per_arm"] == results[1]["n_per_arm"]
    assert results[0]["assigned_at"] == results[1]["assigned_at"]
    c = counts(root, "kit-2026q2")
    assert c["designs"] == 1 and c["assignments"] == results[0]["n_assigned"]
    assert c["assignment_units"] == results[0]["n_eligible"]


KILLED = """
    import sys, time
    import supportlab as sl
    import supportlab.design.ledger as ledger
    from supportlab.config.experiment import load_experiment

    write = ledger._write
    def slow(con, *args):
        write(con, *args)                       # every row inserted, not committed
        print("written", flush=True)
        time.sleep(120)
    ledger._write = slow
    ws = sl.Workspace.open(sys.argv[1])
    exp = load_experiment(sys.argv[2], ws.config.experiments_path / "packages")
    ledger.assign(ws, exp)
"""


def test_a_kill_mid_write_leaves_nothing_partial(root):
    path = str(write_experiment(root))
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED), str(root), path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    if line != "written":
        p.kill()
        raise AssertionError(f"helper failed: {line} {p.stderr.read() if p.stderr else ''}")
    p.kill()
    p.wait(timeout=30)
    assert counts(root, "kit-2026q2") == {"assignments": 0, "designs": 0, "assignment_units": 0}
    r = run(root, path)
    assert r.exit_code == 0 and r.output.strip().splitlines()[-1].startswith("assigned ")
    assert run(root, "--verify", path).exit_code == 0
