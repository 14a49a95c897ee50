"""PRM tasks: the plan from the ledger (due dates, weekend rules, owners, waitlist), kept once in
the workspace, the files a PRM imports (CSV for Excel, JSON Lines, Salesforce Task, groups),
and the status round trip (PRM export -> status, overdue, every change kept)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import supportlab as sl
from helpers import EXPERIMENT_YAML, design_workspace, write_experiment
from supportlab.cli import cli
from supportlab.config.experiment import Experiment, load_experiment
from supportlab.design.spec import design_spec
from supportlab.design.tasks import (
    SALESFORCE_COLUMNS,
    SALESFORCE_ID_FIELD,
    TASK_FILE_COLUMNS,
    check_task_output,
    due_date,
    make_tasks,
    read_id_mapping,
    read_task_export,
    render_tasks,
    update_task_status,
    write_tasks,
)
from supportlab.errors import ConfigError, DataValidationError, WorkspaceError

START = dt.date(2026, 6, 1)  # a Monday; the horizon of the helper's experiments is 60 days
N_ASSIGNED = 40


def experiment(root, id: str, *, design: str = "", tasks: str = "",
               start: dt.date = START) -> Experiment:
    text = EXPERIMENT_YAML.format(id=id, start=start.isoformat(), design=design) + tasks
    path = write_experiment(root, id=id, text=text)
    return load_experiment(path, root / "experiments" / "packages")


def assign(ws, exp: Experiment, ids, *, phase: int = 1, placebo: bool = False,
           design_row: bool = True) -> pd.DataFrame:
    """Ledger rows as `assign` writes them (arms in turn over sorted ids) and a designs row."""
    spec = design_spec(exp)
    ids = sorted(ids)
    arms = [spec.arms[i % len(spec.arms)] for i in range(len(ids))]
    now = pd.Timestamp("2026-06-01", tz="UTC")
    rows = pd.DataFrame({"experiment_id": exp.id, "partner_id": ids, "arm": arms,
                         "stratum": None, "assigned_at": now, "seed": spec.seed, "block": None,
                         "probability": [spec.probabilities[a] for a in arms], "phase": phase})
    ws.append("assignments", rows)
    if design_row:
        ws.append("designs", pd.DataFrame([{
            "experiment_id": exp.id, "phase": phase, "package_id": exp.package.id,
            "version": exp.package.version, "method": spec.method,
            "design_hash": spec.design_hash, "eligible_hash": "-", "spec": spec.to_json(),
            "placebo": placebo, "n_assigned": len(ids), "start_date": spec.start,
            "end_date": spec.end, "assigned_at": now}]))
    return rows


def tasks_of(ws, exp_id: str) -> pd.DataFrame:
    return ws.query("SELECT * FROM tasks WHERE experiment_id = ? ORDER BY task_id", [exp_id])


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A small simulated workspace (history ending at the start), closed, to copy from."""
    root = tmp_path_factory.mktemp("tasks-template")
    ws = design_workspace(root, n_partners=200)
    ws.ensure_tables()
    ws.close()
    return root


@pytest.fixture(scope="module")
def world(template, tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks") / "ws"
    shutil.copytree(template, root)
    ws = sl.Workspace.open(root)
    yield root, ws
    ws.close()


@pytest.fixture(scope="module")
def partners(world):
    _, ws = world
    return ws.query("SELECT partner_id, name, manager FROM partners ORDER BY partner_id")


@pytest.fixture(scope="module")
def kit(world, partners):
    """kit-a: 40 partners assigned half and half, tasks made as of the start."""
    root, ws = world
    exp = experiment(root, "kit-a")
    assign(ws, exp, partners["partner_id"][:N_ASSIGNED])
    return exp, make_tasks(ws, exp, as_of=START)


@pytest.fixture()
def fresh(template, tmp_path):
    """A workspace of its own (status updates mark every task of a workspace overdue)."""
    root = tmp_path / "ws"
    shutil.copytree(template, root)
    ws = sl.Workspace.open(root)
    yield root, ws
    ws.close()


# -- due dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "week", "rule", "expected"), [
    (dt.date(2026, 6, 1), 1, "previous_friday", dt.date(2026, 6, 5)),   # Sun 7 -> Fri 5
    (dt.date(2026, 6, 1), 1, "next_monday", dt.date(2026, 6, 8)),       # Sun 7 -> Mon 8
    (dt.date(2026, 6, 1), 1, "keep", dt.date(2026, 6, 7)),
    (dt.date(2026, 5, 31), 2, "previous_friday", dt.date(2026, 6, 12)),  # Sat 13 -> Fri 12
    (dt.date(2026, 5, 31), 2, "next_monday", dt.date(2026, 6, 15)),      # Sat 13 -> Mon 15
    (dt.date(2026, 6, 3), 1, "previous_friday", dt.date(2026, 6, 9)),    # a Tuesday stays
    (dt.date(2026, 6, 3), 1, "next_monday", dt.date(2026, 6, 9)),
])
def test_due_date_is_the_last_day_of_the_week_moved_off_weekends(start, week, rule, expected):
    assert due_date(start, week, rule) == expected
    assert expected.weekday() < 5 or rule == "keep"


def test_an_unknown_weekend_rule_is_refused():
    with pytest.raises(ConfigError, match="weekend rule"):
        due_date(START, 1, "saturday")


# -- the plan -------------------------------------------------------------------------------------


def test_treatment_partners_get_one_task_per_item_and_control_nothing(world, kit, partners):
    _, ws = world
    exp, tl = kit
    ledger = ws.query("SELECT partner_id, arm FROM assignments WHERE experiment_id = 'kit-a'")
    treated = set(ledger.loc[ledger["arm"] == "treatment", "partner_id"])
    items = exp.package.items
    assert tl.n_tasks == len(treated) * len(items) == len(tl.frame) == 60
    assert set(tl.frame["partner_id"]) == treated
    assert (tl.frame["wave"] == "treatment").all() and (tl.frame["status"] == "pending").all()
    assert tl.frame["task_id"].is_unique
    row = tl.frame.iloc[0]
    assert row["task_id"] == f"kit-a-{row['partner_id']}-w{row['week']}-{row['content_id']}"
    by_item = {i.content: i.done_when for i in items}
    assert (tl.frame["done_when"] == tl.frame["content_id"].map(by_item)).all()
    dues = tl.frame.groupby("week")["due_date"].unique()
    assert list(dues[1]) == [dt.date(2026, 6, 5)] and list(dues[2]) == [dt.date(2026, 6, 12)]
    managers = partners.set_index("partner_id")["manager"]
    own = tl.frame["partner_id"].map(managers)
    assert (tl.frame["owner"].isna() == own.isna()).all()
    assert (tl.frame["owner"].dropna() == own.dropna()).all()
    names = partners.set_index("partner_id")["name"]
    assert (tl.frame["partner_name"] == tl.frame["partner_id"].map(names)).all()
    title = ws.query("SELECT title FROM contents WHERE content_id = 'video-a-intro'")["title"]
    assert tl.frame.loc[tl.frame["content_id"] == "video-a-intro", "content_title"].iloc[0] \
        == title.iloc[0]
    stored = tasks_of(ws, "kit-a")
    assert len(stored) == 60 and stored["updated_at"].notna().all()
    hist = ws.query("SELECT * FROM task_history WHERE task_id LIKE 'kit-a-%'")
    assert len(hist) == 60 and hist["previous_status"].isna().all()
    assert (hist["status"] == "pending").all()
    assert tl.stored and not tl.already_tasked and "60 tasks for 20 partners" in str(tl)
    assert json.loads(tl.to_json())["n_tasks"] == 60 and "frame" not in tl.to_dict()
    assert "PRM タスク" in tl.to_string("ja") and "<table" in tl._repr_html_()


def test_making_tasks_again_returns_the_stored_ones(world, kit):
    _, ws = world
    exp, first = kit
    before = ws.count("tasks"), ws.count("task_history")
    again = make_tasks(ws, exp, as_of=START)
    assert (ws.count("tasks"), ws.count("task_history")) == before
    assert again.already_tasked and any("written before" in n for n in again.notes)
    assert list(again.frame["task_id"]) == list(first.frame["task_id"])
    assert list(again.frame["due_date"]) == list(first.frame["due_date"])


def test_a_changed_plan_is_refused_and_nothing_is_written(world, kit):
    root, ws = world
    before = tasks_of(ws, "kit-a"), ws.count("task_history")
    changed = experiment(root, "kit-a", tasks="tasks: {weekend: keep}\n")
    with pytest.raises(ConfigError, match=r"plan has changed.*due_date of 60 tasks.*"
                                          r"2026-06-05 -> 2026-06-07"):
        make_tasks(ws, changed, as_of=START)
    pd.testing.assert_frame_equal(tasks_of(ws, "kit-a"), before[0])
    assert ws.count("task_history") == before[1]
    experiment(root, "kit-a")  # the file as it was


def test_the_weekend_rule_of_the_experiment_moves_due_dates(world, partners):
    root, ws = world
    exp = experiment(root, "kit-monday", start=dt.date(2026, 5, 31),
                     tasks="tasks: {weekend: next_monday}\n")
    exp_keep = experiment(root, "kit-keep", tasks="tasks: {weekend: keep}\n")
    ids = partners["partner_id"][:10]
    assign(ws, exp, ids)
    assign(ws, exp_keep, ids)
    monday = make_tasks(ws, exp, dry_run=True).frame
    keep = make_tasks(ws, exp_keep, dry_run=True).frame
    assert set(monday["due_date"]) == {dt.date(2026, 6, 8), dt.date(2026, 6, 15)}
    assert set(keep["due_date"]) == {dt.date(2026, 6, 7), dt.date(2026, 6, 14)}
    assert ws.query("SELECT count(*) AS n FROM tasks WHERE experiment_id IN "
                    "('kit-monday', 'kit-keep')")["n"].iloc[0] == 0  # dry runs store nothing


def test_the_waitlist_gets_the_package_after_the_horizon(world, partners):
    root, ws = world
    exp = experiment(root, "kit-wait", design=", waitlist: true")
    assign(ws, exp, partners["partner_id"][:20])
    tl = make_tasks(ws, exp, as_of=START)
    end = design_spec(exp).end  # 2026-07-31, a Friday
    wait = tl.frame[tl.frame["wave"] == "waitlist"]
    treat = tl.frame[tl.frame["wave"] == "treatment"]
    assert set(wait["arm"]) == {"control"} and set(treat["arm"]) == {"treatment"}
    assert len(wait) == len(treat) == tl.n_waitlist_tasks == tl.n_treatment_tasks == 30
    assert (wait["due_date"] >= end).all() and (treat["due_date"] < end).all()
    assert set(wait["due_date"]) == {dt.date(2026, 8, 6), dt.date(2026, 8, 13)}
    assert set(wait["wave_start"]) == {end}


def test_a_waitlist_decided_later_adds_its_wave_only(world, partners):
    root, ws = world
    exp = experiment(root, "kit-later")
    assign(ws, exp, partners["partner_id"][:10])
    first = make_tasks(ws, exp, as_of=START)
    later = make_tasks(ws, experiment(root, "kit-later", design=", waitlist: true"),
                       as_of=START)
    assert first.n_waitlist_tasks == 0 and later.n_waitlist_tasks == first.n_tasks == 15
    assert later.already_tasked and "15 added" in " ".join(later.notes)
    assert set(first.frame["task_id"]) < set(later.frame["task_id"])


def test_a_new_phase_gets_its_own_tasks_and_the_first_stays(world, partners, tmp_path):
    root, ws = world
    ids = partners["partner_id"][:10]
    first = experiment(root, "kit-ph")
    assign(ws, first, ids)
    t1 = make_tasks(ws, first, as_of=START)
    second = experiment(root, "kit-ph", design=", phase: 2", start=dt.date(2026, 7, 6))
    assign(ws, second, ids, phase=2)  # the same partners, randomized again from July
    t2 = make_tasks(ws, second, as_of=START)
    assert t2.n_tasks == 2 * t1.n_tasks == 30 and t2.already_tasked
    p2 = t2.frame[t2.frame["phase"] == 2]
    assert p2["task_id"].str.startswith("kit-ph-p2-").all() and len(p2) == 15
    assert set(p2["due_date"]) == {dt.date(2026, 7, 10), dt.date(2026, 7, 17)}
    assert set(t2.frame.loc[t2.frame["phase"] == 1, "task_id"]) == set(t1.frame["task_id"])
    assert len(tasks_of(ws, "kit-ph")) == 30
    again = make_tasks(ws, second, as_of=START)
    assert again.n_tasks == 30 and len(tasks_of(ws, "kit-ph")) == 30
    g = pd.read_csv(write_tasks(t2, tmp_path / "g.csv", "groups"), encoding="utf-8-sig")
    assert set(g["group"]) == {"kit-ph-treatment", "kit-ph-p2-treatment"} and len(g) == 10
    with pytest.raises(WorkspaceError, match="phase 3 of experiment kit-ph is not assigned"):
        make_tasks(ws, experiment(root, "kit-ph", design=", phase: 3"))


def test_every_non_control_arm_is_tasked(world, partners):
    root, ws = world
    exp = experiment(root, "kit-arms", design=", arms: [control, short, long]")
    assign(ws, exp, partners["partner_id"][:30])
    tl = make_tasks(ws, exp, dry_run=True)
    assert set(tl.frame["arm"]) == {"short", "long"} and tl.n_partners == 20


def test_an_unassigned_experiment_is_refused(world):
    root, ws = world
    with pytest.raises(WorkspaceError, match=r"not assigned.*supportlab assign"):
        make_tasks(ws, experiment(root, "kit-none"))


def test_a_placebo_run_and_a_changed_package_are_refused(world, partners):
    root, ws = world
    exp = experiment(root, "kit-aa")
    assign(ws, exp, partners["partner_id"][:10], placebo=True)
    with pytest.raises(ConfigError, match="placebo"):
        make_tasks(ws, exp)
    other = experiment(root, "kit-pkg")
    assign(ws, other, partners["partner_id"][:10])
    with ws.transaction() as con:
        con.execute("UPDATE designs SET version = 2 WHERE experiment_id = 'kit-pkg'")
    with pytest.raises(ConfigError, match="assigned with package launch-kit@2"):
        make_tasks(ws, other)
    assert ws.query("SELECT count(*) AS n FROM tasks WHERE experiment_id IN "
                    "('kit-aa', 'kit-pkg')")["n"].iloc[0] == 0


def test_a_ledger_without_a_design_row_uses_the_file_and_says_so(world, partners):
    root, ws = world
    exp = experiment(root, "kit-nodesign")
    assign(ws, exp, partners["partner_id"][:4], design_row=False)
    tl = make_tasks(ws, exp, dry_run=True)
    assert tl.n_tasks == 6 and any("no stored design" in n for n in tl.notes)


# -- the files ------------------------------------------------------------------------------------


def test_csv_opens_in_excel_with_bom_and_formula_cells_quoted(kit, tmp_path):
    _, tl = kit
    frame = tl.frame.copy()
    frame.loc[0, "partner_name"] = '=HYPERLINK("http://x","y")'
    frame.loc[1, "partner_name"] = "@SUM(A1)"
    path = write_tasks(frame, tmp_path / "tasks.csv", "csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == list(TASK_FILE_COLUMNS) and len(rows) == len(frame)
    assert rows[0]["partner_name"] == '\'=HYPERLINK("http://x","y")'
    assert rows[1]["partner_name"] == "'@SUM(A1)"
    assert rows[2]["partner_name"] == frame.loc[2, "partner_name"]  # Japanese intact
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rows[0]["due_date"])
    assert rows[0]["task_id"] == frame.loc[0, "task_id"] and rows[0]["week"] == "1"
    no_owner = frame["owner"].isna()
    if no_owner.any():
        assert rows[int(np.flatnonzero(no_owner)[0])]["owner"] == ""


def test_json_lines_have_the_same_columns_and_iso_dates(kit, tmp_path):
    _, tl = kit
    path = write_tasks(tl, tmp_path / "tasks.jsonl", "jsonl")
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    lines = [json.loads(x) for x in raw.decode("utf-8").splitlines()]
    assert len(lines) == tl.n_tasks and list(lines[0]) == list(TASK_FILE_COLUMNS)
    assert lines[0]["due_date"] == tl.frame["due_date"].iloc[0].isoformat()
    assert isinstance(lines[0]["week"], int) and lines[0]["status"] == "pending"
    assert any(line["owner"] is None for line in lines) == tl.frame["owner"].isna().any()


def sf_mappings(tl, tmp_path, *, drop_partner: int = 0, drop_manager: int = 0):
    pids = sorted(tl.frame["partner_id"].unique())
    managers = sorted(tl.frame["owner"].dropna().unique())
    acc = tmp_path / "accounts.csv"
    acc.write_text("partner_id,AccountId\n" + "".join(
        f"{p},001{i:015d}\n" for i, p in enumerate(pids[drop_partner:])), encoding="utf-8")
    own = tmp_path / "owners.csv"
    own.write_text("\ufeffmanager,OwnerId\n" + "".join(
        f"{m},005{i:012d}\n" for i, m in enumerate(managers[drop_manager:]))
        + "*,005999999999999\n", encoding="utf-8")
    return acc, own


def test_salesforce_task_file_has_field_api_names_and_resolved_ids(kit, tmp_path):
    _, tl = kit
    acc, own = sf_mappings(tl, tmp_path)
    path = write_tasks(tl, tmp_path / "sf.csv", "salesforce", accounts=acc, owners=own)
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # Bulk API 2.0 reads the first header as is
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == SALESFORCE_COLUMNS and len(rows) == tl.n_tasks
    accounts = read_id_mapping(acc, "accounts")
    owners = read_id_mapping(own, "owners")
    for r, t in zip(rows, tl.frame.itertuples(), strict=True):
        assert r[SALESFORCE_ID_FIELD] == t.task_id
        assert r["ActivityDate"] == t.due_date.isoformat()
        assert r["Status"] == "Not Started" and r["Priority"] == "Normal"
        assert r["WhatId"] == accounts[t.partner_id]
        assert r["OwnerId"] == owners[t.owner if isinstance(t.owner, str) else "*"]
        assert t.content_id in r["Subject"] and f"week {t.week}" in r["Subject"]
        assert t.task_id in r["Description"] and "launch-kit@1" in r["Description"]
    assert len(rows[0]["OwnerId"]) == 15 and len(rows[0]["WhatId"]) == 18


def test_unknown_partners_and_managers_are_listed_and_nothing_is_written(kit, tmp_path):
    _, tl = kit
    acc, own = sf_mappings(tl, tmp_path, drop_partner=2, drop_manager=1)
    target = tmp_path / "sf.csv"
    target.write_text("the previous file\n", encoding="utf-8")
    pids = sorted(tl.frame["partner_id"].unique())[:2]
    manager = sorted(tl.frame["owner"].dropna().unique())[0]
    with pytest.raises(DataValidationError) as exc:
        write_tasks(tl, target, "salesforce", accounts=acc, owners=own)
    msg = str(exc.value)
    assert f"2 partners (6 tasks) have no mapping in {acc}: {pids[0]}, {pids[1]}" in msg
    assert "1 manager (" in msg and manager in msg and "nothing was written" in msg
    assert target.read_text(encoding="utf-8") == "the previous file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.csv", "owners.csv", "sf.csv"]


def test_a_partner_without_manager_needs_the_default_owner_row(kit, tmp_path):
    _, tl = kit
    if not tl.frame["owner"].isna().any():
        pytest.fail("the test world should hold a treated partner without a manager")
    acc, _ = sf_mappings(tl, tmp_path)
    owners = {m: "005000000000001" for m in tl.frame["owner"].dropna().unique()}
    with pytest.raises(DataValidationError, match=r"\(no manager\)"):
        render_tasks(tl, "salesforce", accounts=acc, owners=owners)


def test_mapping_files_are_checked(tmp_path):
    bad = tmp_path / "accounts.csv"
    bad.write_text("partner_id,AccountId\nP1,001000000000001\nP2,Acme Corp\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"line 3: P2 -> 'Acme Corp'"):
        read_id_mapping(bad, "accounts")
    two = tmp_path / "owners.csv"
    two.write_text("Manager,Id\ntanaka,005000000000001\ntanaka,005000000000002\n",
                   encoding="utf-8")
    with pytest.raises(DataValidationError, match="mapped to two ids"):
        read_id_mapping(two, "owners")
    cols = tmp_path / "x.csv"
    cols.write_text("partner,account\nP1,001000000000001\n", encoding="utf-8")
    with pytest.raises(sl.InputFileError, match="no 'partner_id' column"):
        read_id_mapping(cols, "accounts")
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes("manager,OwnerId\n田中,005000000000001\n".encode("cp932"))
    assert read_id_mapping(sjis, "owners") == {"田中": "005000000000001"}


def test_group_membership_names_experiment_and_arm(world, partners, tmp_path):
    root, ws = world
    tl = make_tasks(ws, experiment(root, "kit-wait", design=", waitlist: true"))
    path = write_tasks(tl, tmp_path / "groups.csv", "groups")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    g = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert list(g.columns) == ["partner_id", "partner_name", "group", "experiment_id", "arm",
                               "wave", "start_date"]
    assert len(g) == 20 and g["partner_id"].is_unique
    assert set(g["group"]) == {"kit-wait-treatment", "kit-wait-waitlist"}
    assert set(g.loc[g["wave"] == "treatment", "start_date"]) == {"2026-06-01"}
    assert set(g.loc[g["wave"] == "waitlist", "start_date"]) == {"2026-07-31"}


@pytest.mark.parametrize(("name", "fmt", "ok"), [
    ("t.csv", "csv", True), ("t.CSV", "salesforce", True), ("t.jsonl", "jsonl", True),
    ("t.csv", "jsonl", False), ("t.jsonl", "csv", False), ("t.xlsx", "groups", False),
    (None, "jsonl", True), (None, "csv", False), ("t.csv", "xml", False)])
def test_the_output_name_must_fit_the_format(name, fmt, ok):
    if ok:
        check_task_output(name, fmt)
    else:
        with pytest.raises(ConfigError):
            check_task_output(name, fmt)


def test_output_is_atomic_when_the_write_fails(kit, tmp_path, monkeypatch):
    import supportlab.design.tasks as mod

    _, tl = kit
    target = tmp_path / "tasks.csv"
    target.write_text("old\n", encoding="utf-8")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(mod.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_tasks(tl, target, "csv")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.csv"]


# -- the round trip -------------------------------------------------------------------------------


def prm_export(path, rows, *, salesforce: bool = True) -> None:
    """A PRM task export: Salesforce columns (Id, external id, Status) or supportlab's."""
    if salesforce:
        text = "Id,Supportlab_Task_Id__c,Subject,Status\n" + "".join(
            f"00T{i:012d},{t},\"件名, {i}\",{s}\n" for i, (t, s) in enumerate(rows))
    else:
        text = "task_id,status\n" + "".join(f"{t},{s}\n" for t, s in rows)
    path.write_text(text, encoding="utf-8")


@pytest.fixture()
def tasked(fresh, partners):
    root, ws = fresh
    exp = experiment(root, "kit-rt")
    assign(ws, exp, partners["partner_id"][:N_ASSIGNED])
    tl = make_tasks(ws, exp, as_of=START)
    return root, ws, tl


def test_round_trip_keeps_every_change(tasked, tmp_path):
    _, ws, tl = tasked
    export = tmp_path / "tasks.csv"
    write_tasks(tl, export, "csv")  # what went to the PRM
    ids = list(tl.frame["task_id"])
    week1 = list(tl.frame.loc[tl.frame["week"] == 1, "task_id"])
    rest = [t for t in ids if t not in week1[:8]]
    prm_export(tmp_path / "sf1.csv", [(t, "Completed") for t in week1[:5]]
               + [(t, "In Progress") for t in week1[5:8]] + [(t, "Not Started") for t in rest])
    up = update_task_status(ws, tmp_path / "sf1.csv", as_of=dt.date(2026, 6, 3))
    assert (up.n_rows, up.n_matched, up.n_changed, up.n_done, up.n_overdue) == \
        (len(ids), len(ids), 8, 5, 0)
    st = tasks_of(ws, "kit-rt").set_index("task_id")
    assert (st.loc[week1[:5], "status"] == "done").all()
    assert (st.loc[week1[5:8], "status"] == "sent").all()
    assert (st.loc[rest, "status"] == "pending").all()
    assert (st.loc[week1[:5], "updated_at"] > st.loc[rest, "updated_at"].max()).all()
    hist = ws.query("SELECT * FROM task_history WHERE task_id LIKE 'kit-rt-%' "
                    "ORDER BY changed_at, task_id")
    assert len(hist) == len(ids) + 8
    changed = hist[hist["previous_status"].notna()]
    assert set(changed["task_id"]) == set(week1[:8])
    assert (changed["previous_status"] == "pending").all()
    assert set(changed["source"]) == {str(tmp_path / "sf1.csv")}

    # the next export, after week 1 is due: more done, the rest of week 1 overdue
    prm_export(tmp_path / "sf2.csv", [(t, "Completed") for t in week1[:10]], salesforce=False)
    up2 = update_task_status(ws, tmp_path / "sf2.csv", as_of=dt.date(2026, 6, 8))
    st2 = tasks_of(ws, "kit-rt").set_index("task_id")
    assert (st2.loc[week1[:10], "status"] == "done").all()
    assert (st2.loc[week1[10:], "status"] == "overdue").all()
    week2 = [t for t in ids if "-w2-" in t]
    assert (st2.loc[week2, "status"] == "pending").all()  # due 2026-06-12
    assert up2.n_done == 5 and up2.n_overdue == len(week1) - 10
    hist2 = ws.query("SELECT * FROM task_history WHERE task_id LIKE 'kit-rt-%'")
    assert len(hist2) == len(hist) + up2.n_changed
    late = hist2[hist2["status"] == "overdue"]
    assert set(late["source"]) == {"overdue as of 2026-06-08"}
    assert set(hist2.loc[(hist2["status"] == "done") & (hist2["previous_status"] == "sent"),
                         "task_id"]) == set(week1[5:8])

    # the same export again changes nothing; an overdue task completed later becomes done
    again = update_task_status(ws, tmp_path / "sf2.csv", as_of=dt.date(2026, 6, 8))
    assert again.n_changed == 0 and "nothing changed" in again.notes
    prm_export(tmp_path / "sf3.csv", [(week1[-1], "completed")])
    late_done = update_task_status(ws, tmp_path / "sf3.csv", as_of=dt.date(2026, 6, 8))
    assert late_done.n_changed == 1 and late_done.changes["previous_status"].tolist() == \
        ["overdue"]
    assert up2.status_counts["done"] == 10 and "tasks by status" in str(up2)


def test_the_csv_written_for_excel_reads_back(tasked, tmp_path):
    _, ws, tl = tasked
    frame = tl.frame.assign(status="done")
    write_tasks(frame, tmp_path / "back.csv", "csv")
    assert [t for _, t, _ in read_task_export(tmp_path / "back.csv")] == list(frame["task_id"])
    write_tasks(frame, tmp_path / "back.jsonl", "jsonl")
    up = update_task_status(ws, tmp_path / "back.jsonl", as_of=START)
    assert up.n_done == tl.n_tasks


def test_unknown_task_ids_warn_and_strict_refuses(tasked, tmp_path):
    _, ws, tl = tasked
    ids = list(tl.frame["task_id"])
    prm_export(tmp_path / "x.csv", [(ids[0], "Completed"), ("kit-rt-P99999-w1-video-a-intro",
                                                            "Completed"), ("other-task", "Deferred")])
    before = tasks_of(ws, "kit-rt"), ws.count("task_history")
    with pytest.raises(DataValidationError, match=r"2 task ids .*P99999.*other-task"):
        update_task_status(ws, tmp_path / "x.csv", as_of=START, strict=True)
    pd.testing.assert_frame_equal(tasks_of(ws, "kit-rt"), before[0])
    assert ws.count("task_history") == before[1]
    with pytest.warns(UserWarning, match="2 task ids of x.csv not in the workspace, skipped"):
        up = update_task_status(ws, tmp_path / "x.csv", as_of=START)
    assert up.n_unknown == 2 and up.n_changed == 1 and up.unknown_task_ids[1] == "other-task"
    assert up.warnings and "skipped" in up.warnings[0]


def test_unknown_statuses_name_the_lines_and_write_nothing(tasked, tmp_path):
    _, ws, tl = tasked
    ids = list(tl.frame["task_id"])
    prm_export(tmp_path / "x.csv", [(ids[0], "Completed"), (ids[1], "Finished"),
                                    (ids[2], "済"), (ids[3], "")])
    before = tasks_of(ws, "kit-rt"), ws.count("task_history")
    with pytest.raises(DataValidationError,
                       match=r"3 rows .*line 3 'Finished', line 4 '済', line 5 ''.*--map"):
        update_task_status(ws, tmp_path / "x.csv", as_of=START)
    pd.testing.assert_frame_equal(tasks_of(ws, "kit-rt"), before[0])
    assert ws.count("task_history") == before[1]
    prm_export(tmp_path / "y.csv", [(ids[1], "Finished"), (ids[2], "済")])
    up = update_task_status(ws, tmp_path / "y.csv", as_of=START,
                            status_map={"finished": "done", "済": "done"})
    assert up.n_done == 2
    with pytest.raises(ConfigError, match="not a task status"):
        update_task_status(ws, tmp_path / "y.csv", status_map={"済": "finished"})


def test_bad_exports_are_refused_before_any_write(tasked, tmp_path):
    _, ws, tl = tasked
    t = tl.frame["task_id"].iloc[0]
    cases = {
        "twice.csv": (f"task_id,status\n{t},done\n{t},pending\n", "two statuses.*lines 2 and 3"),
        "noid.csv": ("task_id,status\n,done\n", "no task id: line 2"),
        "cols.csv": ("id,state\nx,done\n", "no task_id"),
        "bad.jsonl": ('{"task_id": "x", "status": "done"}\n{oops\n', "line 2 is not JSON"),
        "tasks.txt": ("task_id,status\n", "cannot read '.txt'"),
    }
    before = ws.count("task_history")
    for name, (text, pattern) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(sl.SupportlabError, match=pattern):
            update_task_status(ws, tmp_path / name, as_of=START)
    assert ws.count("task_history") == before
    with pytest.raises(ConfigError, match="future"):
        update_task_status(ws, tmp_path / "twice.csv", as_of=dt.date.today()
                           + dt.timedelta(days=1))


def test_a_workspace_without_tasks_is_told_how_to_get_them(fresh, tmp_path):
    _, ws = fresh
    prm_export(tmp_path / "x.csv", [("a", "done")], salesforce=False)
    with pytest.raises(WorkspaceError, match=r"no tasks.*supportlab tasks"):
        update_task_status(ws, tmp_path / "x.csv", as_of=START)


# -- the commands ---------------------------------------------------------------------------------


def run(root, *args):
    return CliRunner().invoke(cli, ["-C", str(root), *map(str, args)])


def test_tasks_and_task_status_commands(fresh, partners, tmp_path):
    root, ws = fresh
    exp = experiment(root, "kit-cli")
    assign(ws, exp, partners["partner_id"][:N_ASSIGNED])
    ws.close()
    path = root / "experiments" / "kit-cli.yaml"
    r = run(root, "tasks", path, "--format", "jsonl", "--out", tmp_path / "t.csv")
    assert r.exit_code == 2 and "must end in .jsonl" in r.output
    r = run(root, "tasks", path, "--format", "salesforce", "--out", tmp_path / "sf.csv")
    assert r.exit_code == 2 and "--accounts" in r.output
    assert ws.count("tasks") == 0
    acc = tmp_path / "acc.csv"
    acc.write_text("partner_id,AccountId\nP00001,001000000000001\n", encoding="utf-8")
    own = tmp_path / "own.csv"
    own.write_text("manager,OwnerId\n*,005000000000001\n", encoding="utf-8")
    r = run(root, "tasks", path, "--format", "salesforce", "--out", tmp_path / "sf.csv",
            "--accounts", acc, "--owners", own)
    assert r.exit_code == 4 and "have no mapping" in r.output
    assert ws.count("tasks") == 0 and not (tmp_path / "sf.csv").exists()  # nothing stored
    r = run(root, "tasks", path, "--out", tmp_path / "t.csv", "--as-of", "2026-06-01")
    assert r.exit_code == 0, r.output
    assert "wrote 60 tasks for 20 partners" in r.output and ws.count("tasks") == 60
    r = run(root, "tasks", path, "--format", "jsonl")  # to standard output
    assert r.exit_code == 0 and "stored before" in r.output
    lines = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert len(lines) == 60
    export = tmp_path / "prm.jsonl"
    export.write_text("".join(json.dumps({"task_id": x["task_id"], "status": "done"}) + "\n"
                              for x in lines[:7]), encoding="utf-8")
    r = run(root, "task-status", export, "--as-of", "2026-06-04", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n_done"] == 7
    export.write_text('{"task_id": "nope", "status": "Finished"}\n', encoding="utf-8")
    r = run(root, "task-status", export, "--map", "finished=done", "--strict")
    assert r.exit_code == 4 and "nope" in r.output
    r = run(root, "task-status", export, "--map", "finished")
    assert r.exit_code == 2 and "WORD=STATUS" in r.output
    assert ws.count("task_history") == 67


def _make_in_child(root, start, out, queue) -> None:
    start.wait(30)
    ws = sl.Workspace.open(root)
    exp = load_experiment(root / "experiments" / "kit-twice.yaml",
                          root / "experiments" / "packages")
    tl = make_tasks(ws, exp, as_of=START)
    write_tasks(tl, out, "csv")
    queue.put(tl.already_tasked)


def test_two_tasks_processes_at_once_store_the_tasks_once(fresh, partners, tmp_path):
    import multiprocessing as mp

    root, ws = fresh
    exp = experiment(root, "kit-twice")
    assign(ws, exp, partners["partner_id"][:N_ASSIGNED])
    ws.close()
    ctx = mp.get_context("fork")  # the children start with supportlab imported
    start, queue = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_make_in_child, args=(root, start, tmp_path / f"t{i}.csv", queue))
             for i in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(queue.get(timeout=5) for _ in procs) == [False, True]
    assert ws.count("tasks") == 60 and ws.count("task_history") == 60
    assert (tmp_path / "t0.csv").read_bytes() == (tmp_path / "t1.csv").read_bytes()
