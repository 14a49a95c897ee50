"""PRM tasks of an assigned experiment, the files a PRM imports, and the status round trip.

* :func:`make_tasks` turns the assignment ledger and the package's weekly plan into delivery
  tasks: for every partner of a non-control arm one task per package item, due on the last day
  of its week (moved off weekends by the experiment's ``tasks.weekend`` rule), owned by the
  partner's manager. With ``design.waitlist: true`` the control partners get the same tasks
  after the horizon (wave ``waitlist``). Tasks are kept in the workspace ``tasks`` table: a
  second call returns the stored tasks, and a changed plan is refused.
* :func:`write_tasks` writes them for the PRM: CSV for Excel (UTF-8 with a byte-order mark,
  cells that Excel would read as formulas quoted), JSON Lines, a Salesforce Task file for
  Data Loader or Bulk API 2.0 (field API names, upsert on ``Supportlab_Task_Id__c``, accounts
  and owners resolved through mapping files) or a group-membership CSV for PRMs that assign
  programs to partner groups. Every file is checked in full before it is written, then
  written atomically (a temporary file renamed into place).
* :func:`update_task_status` reads a PRM task export back (CSV or JSON Lines, supportlab or
  Salesforce status words), updates ``tasks.status`` and marks tasks past their due date as
  ``overdue``; every change is appended to ``task_history``, in one transaction.

The ledger is read from the ``assignments`` and ``designs`` tables (:func:`assigned_partners`).
Every assigned phase of the experiment's package is tasked from its own start (task ids carry
``-p<N>`` from phase 2 on); the phase the file names must be assigned.

Example:
    >>> import datetime as dt
    >>> due_date(dt.date(2026, 6, 1), 1)          # a Monday start: week 1 ends on Sunday ...
    datetime.date(2026, 6, 5)
    >>> due_date(dt.date(2026, 6, 1), 1, "next_monday"), due_date(dt.date(2026, 6, 1), 1, "keep")
    (datetime.date(2026, 6, 8), datetime.date(2026, 6, 7))
    >>> task_id("kit-2026q2", "P0001", 2, "training-a")
    'kit-2026q2-P0001-w2-training-a'
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from supportlab.config.experiment import Experiment
from supportlab.data.encoding import detect_encoding
from supportlab.design.spec import DesignSpec, design_spec
from supportlab.errors import ConfigError, DataValidationError, InputFileError, WorkspaceError
from supportlab.results import ResultMixin
from supportlab.vocab import TASK_STATUSES, WEEKEND_RULES

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from supportlab.data.workspace import Workspace

__all__ = ["FORMATS", "SALESFORCE_ID_FIELD", "SALESFORCE_STATUSES", "StatusUpdate", "TaskList",
           "assigned_partners", "check_task_output", "due_date", "make_tasks",
           "read_id_mapping", "render_tasks", "task_id", "update_task_status", "write_tasks"]

#: the file formats :func:`write_tasks` writes
FORMATS: tuple[str, ...] = ("csv", "jsonl", "salesforce", "groups")
#: the file suffixes each format may be written to
FORMAT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv",), "jsonl": (".jsonl", ".ndjson"), "salesforce": (".csv",),
    "groups": (".csv",)}
#: the external-id field of the Salesforce Task object that the upsert matches on
SALESFORCE_ID_FIELD = "Supportlab_Task_Id__c"
#: the columns of the Salesforce Task file, in order (field API names)
SALESFORCE_COLUMNS: tuple[str, ...] = (SALESFORCE_ID_FIELD, "Subject", "ActivityDate", "Status",
                                       "Priority", "OwnerId", "WhatId", "Description")
#: the columns of the CSV and JSON Lines files: DESIGN §4 task columns, then what a person needs
TASK_FILE_COLUMNS: tuple[str, ...] = ("task_id", "experiment_id", "partner_id", "partner_name",
                                      "week", "content_id", "due_date", "status", "owner",
                                      "done_when", "wave")
#: the columns of the group-membership file
GROUP_COLUMNS: tuple[str, ...] = ("partner_id", "partner_name", "group", "experiment_id", "arm",
                                  "wave", "start_date")
#: supportlab status -> Salesforce Task status (the standard picklist)
SALESFORCE_STATUSES: dict[str, str] = {
    "pending": "Not Started", "sent": "In Progress", "done": "Completed",
    "overdue": "Not Started", "skipped": "Deferred", "cancelled": "Deferred"}
#: a status word of a PRM export meaning "not done yet": pending, sent and overdue stay as they are
OPEN = "open"
#: status words of PRM exports (lowercase) -> supportlab status (or :data:`OPEN`)
STATUS_WORDS: dict[str, str] = {
    **{s: s for s in TASK_STATUSES}, "completed": "done", "not started": OPEN,
    "in progress": "sent", "deferred": "skipped", "waiting on someone else": "sent",
    "canceled": "cancelled"}
#: statuses that close a task (never made overdue)
CLOSED: tuple[str, ...] = ("done", "skipped", "cancelled")
#: manager value of an owners-file row giving the owner of tasks whose partner has no manager
NO_MANAGER = "*"
#: examples shown in messages
EXAMPLES = 5

_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_COMPARED = ("partner_id", "week", "content_id", "due_date", "done_when", "wave")


def _count(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the noun in the number it needs.

    Example:
        >>> _count(1, "task id"), _count(1200, "task id")
        ('1 task id', '1,200 task ids')
    """
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _have(n: int) -> str:
    return "has" if n == 1 else "have"


# -- the plan -------------------------------------------------------------------------------------


def task_id(experiment_id: str, partner_id: str, week: int, content_id: str,
            phase: int = 1) -> str:
    """The stable id of a task: ``<experiment_id>-<partner_id>-w<week>-<content_id>``, with
    ``-p<phase>`` after the experiment id from phase 2 on.

    Unique because a partner is in one arm of an experiment phase and a package delivers each
    content once.

    Example:
        >>> task_id("kit", "P1", 1, "quiz-a", phase=2)
        'kit-p2-P1-w1-quiz-a'
    """
    head = experiment_id if phase == 1 else f"{experiment_id}-p{phase}"
    return f"{head}-{partner_id}-w{week}-{content_id}"


def _id_phase(experiment_id: str, tasks: pd.DataFrame) -> pd.Series:
    """The phase of stored tasks, read from their ids (0 for an id of another form)."""
    out = []
    for t, pid, week, content in zip(tasks["task_id"], tasks["partner_id"], tasks["week"],
                                     tasks["content_id"], strict=True):
        tail = f"-{pid}-w{int(week)}-{content}"
        head = str(t)[: len(str(t)) - len(tail)] if str(t).endswith(tail) else None
        if head == experiment_id:
            out.append(1)
        elif head is not None and head.startswith(f"{experiment_id}-p") \
                and head[len(experiment_id) + 2:].isdigit():
            out.append(int(head[len(experiment_id) + 2:]))
        else:
            out.append(0)
    return pd.Series(out, index=tasks.index, dtype="int64")


def due_date(start: dt.date, week: int, weekend: str = "previous_friday") -> dt.date:
    """The last day of ``week`` of a delivery starting on ``start``, moved off a weekend.

    Args:
        start: the first day of week 1.
        week: the package week (1, 2, ...).
        weekend: ``previous_friday``, ``next_monday`` or ``keep`` (see ``tasks.weekend``).
    """
    if weekend not in WEEKEND_RULES:
        raise ConfigError(f"unknown weekend rule {weekend!r}",
                          fix=f"use one of {', '.join(WEEKEND_RULES)}")
    day = start + dt.timedelta(days=7 * week - 1)
    wd = day.weekday()
    if wd >= 5 and weekend == "previous_friday":
        day -= dt.timedelta(days=wd - 4)
    elif wd >= 5 and weekend == "next_monday":
        day += dt.timedelta(days=7 - wd)
    return day


@dataclass(frozen=True)
class _Phase:
    """One assigned phase of an experiment: its dates and the arm that gets no tasks."""

    phase: int
    start: dt.date
    end: dt.date
    control: str
    package: str
    placebo: bool


def assigned_partners(ws: Workspace, exp: Experiment
                      ) -> tuple[dict[int, _Phase], pd.DataFrame, list[str]]:
    """The ledger of ``exp``: its phases, the assigned partners and notes on what stood in.

    Returns ``(phases, frame, notes)``: ``phases`` by number (start, end of the horizon, control
    arm, package, placebo, from the stored ``designs`` rows; the experiment file's design stands
    in for a missing row, with a note); ``frame`` has ``partner_id, arm, phase, partner_name,
    owner`` (the partner's manager).

    Raises:
        WorkspaceError: the experiment has no assignment.
    """
    tables = set(ws.tables())
    ledger = pd.DataFrame()
    if "assignments" in tables:
        ledger = ws.query(
            "SELECT a.partner_id, a.arm, coalesce(a.phase, 1)::BIGINT AS phase, "
            "p.name AS partner_name, p.manager AS owner FROM assignments a "
            "LEFT JOIN partners p USING (partner_id) WHERE a.experiment_id = ? "
            "ORDER BY a.partner_id", [exp.id])
    if ledger.empty:
        raise WorkspaceError(f"experiment {exp.id} is not assigned (no rows in assignments)",
                             where=exp.path or exp.id,
                             fix=f"assign it first: supportlab assign {exp.path or 'EXPERIMENT.yaml'}")
    stored = pd.DataFrame()
    if "designs" in tables:
        stored = ws.query("SELECT phase, package_id, version, spec, placebo FROM designs "
                          "WHERE experiment_id = ? ORDER BY phase", [exp.id])
    declared = design_spec(exp)
    phases: dict[int, _Phase] = {}
    notes: list[str] = []
    for row in stored.itertuples(index=False):
        spec = DesignSpec.from_json(str(row.spec))
        phases[int(row.phase)] = _Phase(int(row.phase), spec.start, spec.end, spec.control,
                                        f"{row.package_id}@{int(row.version)}", bool(row.placebo))
    for ph in sorted(set(ledger["phase"].astype(int)) - set(phases)):
        phases[ph] = _Phase(ph, declared.start, declared.end, declared.control,
                            exp.package.ref, declared.placebo)
        notes.append(f"phase {ph} has no stored design: the dates of {exp.path or exp.id} "
                     f"were used ({declared.start} to {declared.end})")
    return phases, ledger, notes


def _plan(exp: Experiment, phases: Mapping[int, _Phase], ledger: pd.DataFrame) -> pd.DataFrame:
    """Every task the plan calls for (stored or not), in the stored tasks' columns."""
    cols = ["task_id", "experiment_id", "partner_id", "week", "content_id", "due_date", "status",
            "owner", "done_when", "wave", "phase"]
    items = pd.DataFrame([(s.week, i.content, i.done_when) for s in exp.package.steps
                          for i in s.items], columns=["week", "content_id", "done_when"])
    parts: list[pd.DataFrame] = []
    for ph_no, part in ledger.groupby("phase", sort=True):
        if int(ph_no) not in phases:
            continue
        ph = phases[int(ph_no)]
        waves: list[tuple[str, pd.DataFrame, dt.date]] = [
            ("treatment", part[part["arm"] != ph.control], ph.start)]
        if exp.design.waitlist:
            waves.append(("waitlist", part[part["arm"] == ph.control], ph.end))
        for wave, who, start in waves:
            if who.empty:
                continue
            dues = {int(w): due_date(start, int(w), exp.weekend) for w in items["week"]}
            x = who[["partner_id", "owner"]].astype(object).merge(items, how="cross")
            x["partner_id"] = x["partner_id"].astype(str)
            x["owner"] = x["owner"].where(x["owner"].notna(), None)
            x["due_date"] = x["week"].map(dues)
            head = exp.id if ph.phase == 1 else f"{exp.id}-p{ph.phase}"
            x["task_id"] = (head + "-" + x["partner_id"] + "-w" + x["week"].astype(str) + "-"
                            + x["content_id"])
            parts.append(x.assign(experiment_id=exp.id, status="pending", wave=wave,
                                  phase=ph.phase)[cols])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True, eq=False)
class TaskList(ResultMixin):
    """The PRM tasks of an experiment, as stored in the workspace ``tasks`` table.

    Attributes:
        experiment_id / package: the experiment and the package version it delivers.
        n_partners: partners with tasks; n_tasks: tasks in all.
        n_treatment_tasks / n_waitlist_tasks: tasks of the treatment arms, and of the control
            partners after the horizon (``design.waitlist: true``).
        first_due / last_due: the earliest and latest due dates (ISO).
        weekend: the rule that moved due dates off weekends.
        stored: the tasks are in the workspace (false for a dry run).
        already_tasked: the tasks had been written before; these are the stored ones, with
            their current status.
        status_counts: tasks by status.
        frame: one row per task: the ``tasks`` columns plus ``arm``, ``partner_name`` and
            ``content_title`` (not in :meth:`to_dict`; :func:`write_tasks` writes it).
    """

    _title: ClassVar[str] = "PRM tasks"
    _title_ja: ClassVar[str] = "PRM タスク"
    _hidden: ClassVar[frozenset[str]] = frozenset({"frame"})
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"n_partners": "partners with tasks", "n_tasks": "tasks",
               "n_treatment_tasks": "treatment tasks",
               "n_waitlist_tasks": "waitlist tasks (after the horizon)",
               "first_due": "first due", "last_due": "last due", "weekend": "weekend rule",
               "already_tasked": "written before", "status_counts": "by status"},
        "ja": {"experiment_id": "実験", "package": "支援パッケージ", "n_partners": "タスクのあるパートナー",
               "n_tasks": "タスク数", "n_treatment_tasks": "介入群のタスク",
               "n_waitlist_tasks": "待機群のタスク（期間後）", "first_due": "最初の期限",
               "last_due": "最後の期限", "weekend": "週末の扱い", "stored": "保存済み",
               "already_tasked": "既に作成済み", "status_counts": "状態別"}}

    experiment_id: str
    package: str
    n_partners: int
    n_tasks: int
    n_treatment_tasks: int
    n_waitlist_tasks: int
    first_due: str | None
    last_due: str | None
    weekend: str
    stored: bool
    already_tasked: bool
    status_counts: dict[str, int]
    frame: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def _headline(self, lang: str) -> str | None:
        if lang == "ja":
            return f"{self.experiment_id}: {self.n_partners:,} パートナーに {self.n_tasks:,} 件"
        return f"{self.experiment_id}: {self.n_tasks:,} tasks for {self.n_partners:,} partners"

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        if self.frame.empty:
            return []
        f = self.frame
        plan = (f.groupby(["wave", "week", "content_id", "done_when"], sort=False)
                .agg(n_tasks=("task_id", "size"), first_due=("due_date", "min"),
                     last_due=("due_date", "max")).reset_index())
        for c in ("first_due", "last_due"):
            plan[c] = plan[c].map(lambda d: d.isoformat())
        return [("週ごとの計画" if lang == "ja" else "plan", plan)]

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-safe values (the tasks themselves are in :attr:`frame`)."""
        d = super().to_dict()
        d.pop("frame", None)
        return d

    def to_frame(self) -> pd.DataFrame:
        """The tasks, one row each (a copy of :attr:`frame`)."""
        return self.frame.copy()


def _decorate(ws: Workspace, exp: Experiment, tasks: pd.DataFrame, ledger: pd.DataFrame,
              phases: Mapping[int, _Phase]) -> pd.DataFrame:
    """Tasks with the partner's arm and name, the content's title and the first day of the
    wave (``wave_start``), in delivery order."""
    out = tasks.copy()
    out["due_date"] = pd.to_datetime(out["due_date"]).dt.date
    out["week"] = out["week"].astype("int64")
    out["phase"] = out["phase"].astype("int64")
    who = ledger[["partner_id", "phase", "arm", "partner_name"]].astype({"phase": "int64"})
    out = out.merge(who, on=["partner_id", "phase"], how="left", validate="many_to_one")
    starts = {f"{n}/treatment": ph.start for n, ph in phases.items()}
    starts.update({f"{n}/waitlist": ph.end for n, ph in phases.items()})
    out["wave_start"] = (out["phase"].astype(str) + "/" + out["wave"].astype(str)).map(starts)
    titles: dict[str, str] = {}
    if ws.has_table("contents"):
        got = ws.query("SELECT content_id, title FROM contents WHERE title IS NOT NULL")
        titles = dict(zip(got["content_id"].astype(str), got["title"].astype(str), strict=True))
    out["content_title"] = out["content_id"].map(titles)
    order = {i.content: n for n, i in enumerate(exp.package.items)}
    out["_wave"] = (out["wave"] != "treatment").astype(int)
    out["_item"] = out["content_id"].map(order).fillna(len(order))
    out = out.sort_values(["phase", "_wave", "partner_id", "week", "_item"], kind="stable")
    cols = ["task_id", "experiment_id", "partner_id", "partner_name", "arm", "week", "content_id",
            "content_title", "due_date", "status", "owner", "done_when", "wave", "phase",
            "wave_start", "updated_at"]
    return out[[c for c in cols if c in out.columns]].reset_index(drop=True)


def _compare(stored: pd.DataFrame, planned: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The planned tasks to add and the differences that make the plan a change.

    A wave of a phase with no stored task may be added (a new phase, or a waitlist decided
    later); a wave with stored tasks must be planned exactly as stored. Both frames carry
    ``phase``.
    """
    def group(f: pd.DataFrame) -> pd.Series:
        return f["phase"].astype(int).astype(str) + "/" + f["wave"].astype(str)

    have = set(group(stored))
    pg = group(planned)
    new = planned[~pg.isin(have)]
    old = planned[pg.isin(have)]
    s = stored.set_index("task_id")
    p = old.set_index("task_id")
    problems: list[str] = []
    removed = s.index.difference(p.index)
    added = p.index.difference(s.index)
    if len(removed):
        problems.append(f"{_count(len(removed), 'stored task')} no longer planned (e.g. "
                        + ", ".join(removed[:3]) + ")")
    if len(added):
        problems.append(f"{_count(len(added), 'task')} would be new in an already tasked wave (e.g. "
                        + ", ".join(added[:3]) + ")")
    both = s.index.intersection(p.index)
    a = s.loc[both, list(_COMPARED)].copy()
    b = p.loc[both, list(_COMPARED)].copy()
    a["due_date"] = pd.to_datetime(a["due_date"]).dt.date
    b["due_date"] = pd.to_datetime(b["due_date"]).dt.date
    a["week"], b["week"] = a["week"].astype(int), b["week"].astype(int)
    for col in _COMPARED:
        diff = a.index[(a[col].astype(str) != b[col].astype(str)).to_numpy()]
        if len(diff):
            t = diff[0]
            problems.append(f"{col} of {_count(len(diff), 'task')} (e.g. {t}: {a.at[t, col]} -> "
                            f"{b.at[t, col]})")
    return new, problems


def _make(ws: Workspace, exp: Experiment, dry_run: bool
          ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The tasks of ``exp`` (stored, or planned for a dry run), those added now and notes."""
    from supportlab.data.workspace import now_tz

    phases, ledger, notes = assigned_partners(ws, exp)
    where = exp.path or exp.id
    mine = phases.get(exp.design.phase)
    if mine is None:
        raise WorkspaceError(f"phase {exp.design.phase} of experiment {exp.id} is not assigned "
                             f"(assigned: phase {', '.join(map(str, sorted(phases)))})",
                             where=f"{where}: design.phase",
                             fix=f"assign it first: supportlab assign {exp.path or 'EXPERIMENT.yaml'}")
    if mine.package != exp.package.ref:
        raise ConfigError(f"experiment {exp.id} was assigned with package {mine.package}, the "
                          f"file now names {exp.package.ref}", where=f"{where}: package",
                          fix="a changed package is a new experiment id or a new phase "
                              "(design.phase), assigned first")
    if mine.placebo:
        raise ConfigError(f"experiment {exp.id} is a placebo (A/A) run on history: nothing "
                          "is delivered", where=f"{where}: design.placebo",
                          fix="tasks are for experiments delivered from now on")
    tasked = {n: ph for n, ph in phases.items()
              if ph.package == exp.package.ref and not ph.placebo}
    for n, ph in sorted(phases.items()):
        if n not in tasked and not ph.placebo:
            notes.append(f"phase {n} delivers {ph.package}: its tasks are left as they are")
    planned = _plan(exp, tasked, ledger)
    now = now_tz()
    with (ws.connection() if dry_run else ws.transaction()) as con:
        stored = _stored(con, exp.id, tasked)
        new, problems = _compare(stored, planned)
        if problems:
            raise ConfigError(
                f"experiment {exp.id} already has {len(stored):,} tasks and the plan has "
                "changed since they were written: " + "; ".join(problems), where=where,
                fix="the stored tasks stand (restore the file's package, dates and weekend "
                    "rule); a new plan needs a new experiment id or a new phase")
        if not new.empty and not dry_run:
            rows = new.assign(updated_at=now)
            _insert(con, "tasks", rows.drop(columns="phase"))
            _insert(con, "task_history", pd.DataFrame({
                "task_id": rows["task_id"], "status": rows["status"], "previous_status": None,
                "changed_at": now, "source": f"supportlab tasks {exp.id}"}))
            stored = _stored(con, exp.id, tasked)
        elif dry_run:
            stored = pd.concat([stored, new.assign(updated_at=pd.NaT)], ignore_index=True) \
                if len(stored) else new.assign(updated_at=pd.NaT)
    frame = _decorate(ws, exp, stored, ledger, tasked)
    return frame, new, notes


def make_tasks(ws: Workspace, exp: Experiment, *, as_of: dt.date | None = None,
               dry_run: bool = False) -> TaskList:
    """The PRM tasks of an assigned experiment, kept in the workspace ``tasks`` table.

    For every partner of a non-control arm, one task per package item: due on the last day of
    its week from the start (``start + 7 * week - 1``), moved off a weekend by the experiment's
    ``tasks.weekend`` rule, owned by the partner's manager, status ``pending``, wave
    ``treatment``. Control partners get nothing before the horizon; with ``design.waitlist:
    true`` they get the same tasks from the end of the horizon (wave ``waitlist``). The new
    tasks and their first status in ``task_history`` are written in one transaction.

    Calling it again returns the stored tasks with their current status (``already_tasked``);
    a wave not tasked yet (a new phase, a waitlist decided later) is added.

    Args:
        ws: the workspace holding the ledger.
        exp: the assigned experiment.
        as_of: the day the tasks are made (default: today); tasks already due before it are
            noted.
        dry_run: plan only, store nothing (the stored tasks are still returned when they exist).

    Raises:
        WorkspaceError: the experiment is not assigned.
        ConfigError: the experiment file names another package than the one assigned, the
            design is a placebo (A/A) run, or the plan differs from the stored tasks (a changed
            package, start, horizon or weekend rule); nothing is written.
    """
    day = as_of or dt.date.today()
    with ws.connection(write=not dry_run):  # one connection for every step
        frame, new, notes = _make(ws, exp, dry_run)
    already = len(frame) > len(new) and len(frame) > 0
    if already:
        notes.append(f"{len(frame) - len(new):,} tasks were written before: these are the stored "
                     "ones with their current status" + (f"; {len(new):,} added" if len(new)
                                                         else ""))
    if frame.empty:
        notes.append("no partner of a non-control arm: no tasks")
    late = int((frame["due_date"] < day).sum()) if len(frame) else 0
    if late and not already:
        notes.append(f"{late:,} tasks were due before {day}")
    missing = frame.loc[frame["owner"].isna(), "partner_id"].unique() if len(frame) else []
    warn: list[str] = []
    if len(missing):
        warn.append(f"{_count(len(missing), 'partner')} {_have(len(missing))} no manager, so no owner (e.g. "
                    + ", ".join(map(str, missing[:EXAMPLES])) + ")")
    counts = frame["status"].value_counts() if len(frame) else pd.Series(dtype=int)
    return TaskList(
        experiment_id=exp.id, package=exp.package.ref,
        n_partners=int(frame["partner_id"].nunique()) if len(frame) else 0, n_tasks=len(frame),
        n_treatment_tasks=int((frame["wave"] == "treatment").sum()) if len(frame) else 0,
        n_waitlist_tasks=int((frame["wave"] == "waitlist").sum()) if len(frame) else 0,
        first_due=frame["due_date"].min().isoformat() if len(frame) else None,
        last_due=frame["due_date"].max().isoformat() if len(frame) else None,
        weekend=exp.weekend, stored=not dry_run, already_tasked=already,
        status_counts={str(k): int(v) for k, v in counts.items()}, frame=frame,
        warnings=tuple(warn), notes=tuple(notes))


def _stored(con: duckdb.DuckDBPyConnection, experiment_id: str,
            phases: Mapping[int, _Phase]) -> pd.DataFrame:
    """The stored tasks of the experiment's ``phases``, with their ``phase``."""
    got = con.execute("SELECT task_id, experiment_id, partner_id, week, content_id, due_date, "
                      "status, owner, done_when, wave, updated_at FROM tasks "
                      "WHERE experiment_id = ?", [experiment_id]).df()
    got["phase"] = _id_phase(experiment_id, got) if len(got) else pd.Series(dtype="int64")
    return got[got["phase"].isin(list(phases))].reset_index(drop=True)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame) -> None:
    con.register("_task_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _task_rows")
    finally:
        con.unregister("_task_rows")


# -- the files ------------------------------------------------------------------------------------


def check_task_output(path: str | Path | None, format: str) -> Path | None:
    """The output file of ``format``, refused before any work when its name does not fit.

    ``None`` (standard output) is allowed for ``jsonl`` only.

    Example:
        >>> check_task_output("tasks.csv", "salesforce").name
        'tasks.csv'
        >>> check_task_output("tasks.csv", "jsonl")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        supportlab.errors.ConfigError: --out tasks.csv: a jsonl file must end in .jsonl or ...
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown task file format {format!r}",
                          fix=f"use one of {', '.join(FORMATS)}")
    if path is None or str(path) == "-":
        if format != "jsonl":
            raise ConfigError(f"a {format} task file needs a file name", where="--out",
                              fix=f"give --out FILE{FORMAT_SUFFIXES[format][0]} (only jsonl "
                                  "may go to standard output)")
        return None
    p = Path(path)
    ok = FORMAT_SUFFIXES[format]
    if p.suffix.lower() not in ok:
        raise ConfigError(f"a {format} file must end in {' or '.join(ok)}", where=f"--out {p}",
                          fix=f"name it e.g. {p.stem}{ok[0]}, or choose the --format that "
                              "fits the name")
    if p.is_dir():
        raise ConfigError("is a directory", where=f"--out {p}", fix="name a file in it")
    return p


def read_id_mapping(source: str | Path | Mapping[str, str], kind: str) -> dict[str, str]:
    """A Salesforce id mapping: ``accounts`` (``partner_id,AccountId``) or ``owners``
    (``manager,OwnerId``), from a CSV file (UTF-8, with or without BOM, or cp932) or a mapping.

    Column names are matched without regard to case; ``Id`` stands for the id column (as in a
    Salesforce export). In an owners file, a row with manager ``*`` gives the owner of tasks
    whose partner has no manager.

    Raises:
        InputFileError: the file cannot be read or lacks a column.
        DataValidationError: an id that is not a 15- or 18-character Salesforce id, or a key
            mapped to two ids (the lines are named).
    """
    key, value = {"accounts": ("partner_id", "AccountId"),
                  "owners": ("manager", "OwnerId")}[kind]
    if isinstance(source, Mapping):
        return {str(k): str(v) for k, v in source.items()}
    path = Path(source)
    try:
        text = path.read_bytes().decode(detect_encoding(path))
    except OSError as exc:
        raise InputFileError(f"cannot read the {kind} file ({exc.strerror or exc})",
                             where=str(path), fix="check the path") from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip() for h in next(reader, [])]
    low = [h.lower() for h in header]
    want = {"key": [key.lower()], "value": [value.lower(), "id"]}
    idx: dict[str, int] = {}
    for role, names in want.items():
        found = next((low.index(n) for n in names if n in low), None)
        if found is None:
            raise InputFileError(
                f"the {kind} file has no '{names[0] if role == 'key' else value}' column "
                f"(columns: {', '.join(header) or 'none'})", where=str(path),
                fix=f"give it the columns {key},{value}")
        idx[role] = found
    out: dict[str, str] = {}
    bad: list[str] = []
    clash: list[str] = []
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        k = row[idx["key"]].strip() if idx["key"] < len(row) else ""
        v = row[idx["value"]].strip() if idx["value"] < len(row) else ""
        if not k:
            continue
        if not _SF_ID.match(v):
            bad.append(f"line {reader.line_num}: {k} -> {v!r}")
        elif out.get(k, v) != v:
            clash.append(f"line {reader.line_num}: {k} -> {out[k]} and {v}")
        out.setdefault(k, v)
    for problems, what in ((bad, "is not a Salesforce id (15 or 18 letters and digits)"),
                           (clash, "is mapped to two ids")):
        if problems:
            raise DataValidationError(
                f"{_count(len(problems), 'row')} of the {kind} file: the {value} {what}: "
                + "; ".join(problems[:EXAMPLES]) + ("; ..." if len(problems) > EXAMPLES else ""),
                where=str(path), fix=f"give each {key} one {value} from a Salesforce export")
    return out


def _frame_of(tasks: TaskList | pd.DataFrame) -> pd.DataFrame:
    f = tasks.frame if isinstance(tasks, TaskList) else tasks
    missing = [c for c in ("task_id", "partner_id", "week", "content_id", "due_date")
               if c not in f.columns]
    if missing:
        raise ConfigError(f"the tasks lack columns {', '.join(missing)}",
                          fix="pass the TaskList of make_tasks")
    return f


def excel_safe(value: Any) -> Any:
    """A cell that Excel shows as text: one starting like a formula gets a leading ``'``.

    Example:
        >>> excel_safe("=HYPERLINK(\\"x\\")"), excel_safe("株式会社アルファ"), excel_safe(3)
        ('\\'=HYPERLINK("x")', '株式会社アルファ', 3)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _objects(values: Sequence[Any], index: pd.Index) -> pd.Series:
    return pd.Series(list(values), index=index, dtype=object)


def _dates(col: pd.Series) -> pd.Series:
    """Dates (or timestamps) as ISO ``YYYY-MM-DD`` strings, missing ones as ``None``."""
    d = pd.to_datetime(col, errors="coerce")
    iso = d.dt.strftime("%Y-%m-%d")
    return _objects([v if ok else None for v, ok in zip(iso, d.notna(), strict=True)], col.index)


def _texts(col: pd.Series, *, excel: bool = False) -> pd.Series:
    """Values as strings (object dtype), missing ones as ``None``; quoted for Excel if asked."""
    ok = col.notna().to_numpy()
    text = col.astype(object).where(col.notna(), "").astype(str)
    if excel:
        risky = text.str.startswith(_FORMULA_START).fillna(False).astype(bool)
        text = text.where(~risky, "'" + text)
    values = text.to_numpy(dtype=object)
    values[~ok] = None
    return _objects(values, col.index)


def _out_frame(f: pd.DataFrame, columns: Sequence[str], *, excel: bool) -> pd.DataFrame:
    """The columns of a file: dates ISO, ``week`` an integer, text quoted for Excel if asked."""
    out = {}
    for c in columns:
        col = f[c] if c in f.columns else pd.Series(None, index=f.index, dtype=object)
        if c in ("due_date", "start_date"):
            out[c] = _dates(col)
        elif c == "week":
            out[c] = col.astype("int64")
        else:
            out[c] = _texts(col, excel=excel)
    return pd.DataFrame(out, index=f.index)


def _csv_text(frame: pd.DataFrame, *, crlf: bool) -> str:
    return str(frame.to_csv(index=False, lineterminator="\r\n" if crlf else "\n", na_rep=""))


def _unknown(kind: str, keys: Sequence[str], tasks: int, source: str) -> str:
    return (f"{_count(len(keys), kind)} ({_count(tasks, 'task')}) {_have(len(keys))} no "
            f"mapping in {source}: {_examples(keys)}")


def _salesforce(f: pd.DataFrame, package: str | None, accounts: Mapping[str, str],
                owners: Mapping[str, str], sources: tuple[str, str]) -> pd.DataFrame:
    t = _out_frame(f, [*TASK_FILE_COLUMNS, "content_title"], excel=False)
    pids = t["partner_id"].astype(str)
    mgr = t["owner"].where(t["owner"].notna(), NO_MANAGER).astype(str)
    acc, own = pids.map(accounts), mgr.map(owners)
    problems: list[str] = []
    if acc.isna().any():
        problems.append(_unknown("partner", sorted(set(pids[acc.isna()])),
                                 int(acc.isna().sum()), sources[0]))
    if own.isna().any():
        shown = sorted(m if m != NO_MANAGER else "(no manager)" for m in set(mgr[own.isna()]))
        problems.append(_unknown("manager", shown, int(own.isna().sum()), sources[1]))
    if problems:
        raise DataValidationError(
            "cannot resolve the Salesforce ids of every task: " + "; ".join(problems),
            where=", ".join(s for s in sources if s),
            fix="add a partner_id,AccountId row for each partner to the accounts file and a "
                "manager,OwnerId row for each manager to the owners file (a manager '*' row "
                "owns the tasks of partners without a manager); nothing was written")
    week = t["week"].astype(str)
    content = t["content_id"].astype(str)
    title = t["content_title"]
    what = (title.astype(str) + " (" + content + ")").where(title.notna(), content)
    name = t["partner_name"]
    partner = (name.astype(str) + " (" + pids + ")").where(name.notna(), pids)
    exp_line = t["experiment_id"].astype(str) + (f" ({package})" if package else "")
    status = t["status"].map(SALESFORCE_STATUSES).where(t["status"].notna(), "Not Started")
    return pd.DataFrame({
        SALESFORCE_ID_FIELD: t["task_id"],
        "Subject": (what + " — week " + week).str.slice(0, 255),
        "ActivityDate": t["due_date"], "Status": status.fillna("Not Started"),
        "Priority": "Normal", "OwnerId": own, "WhatId": acc,
        "Description": ("supportlab task " + t["task_id"].astype(str) + "\nexperiment: "
                        + exp_line + "\nweek " + week + ": " + content + "\ndone when: "
                        + t["done_when"].fillna("—").astype(str) + "\npartner: " + partner),
    }, index=t.index)


def _groups(f: pd.DataFrame) -> pd.DataFrame:
    head = f["experiment_id"].astype(str)
    if "phase" in f.columns:
        later = f["phase"].fillna(1).astype(int) > 1
        head = head.where(~later, head + "-p" + f["phase"].fillna(1).astype(int).astype(str))
    arm = f["arm"].where(f["wave"] == "treatment", "waitlist").astype(str)
    g = f.assign(group=head + "-" + arm, phase=f.get("phase", 1))
    first = g.groupby(["partner_id", "phase", "wave"], sort=False).agg(
        partner_name=("partner_name", "first"), group=("group", "first"),
        experiment_id=("experiment_id", "first"), arm=("arm", "first"),
        start_date=("wave_start", "first")).reset_index()
    return _out_frame(first, GROUP_COLUMNS, excel=True)


def render_tasks(tasks: TaskList | pd.DataFrame, format: str, *,
                 accounts: str | Path | Mapping[str, str] | None = None,
                 owners: str | Path | Mapping[str, str] | None = None) -> str:
    """The text of a task file (see :func:`write_tasks`); raises before anything is written."""
    if format not in FORMATS:
        raise ConfigError(f"unknown task file format {format!r}",
                          fix=f"use one of {', '.join(FORMATS)}")
    f = _frame_of(tasks)
    if format == "jsonl":
        records = _out_frame(f, TASK_FILE_COLUMNS, excel=False).to_dict(orient="records")
        return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
    if format == "csv":
        return _csv_text(_out_frame(f, TASK_FILE_COLUMNS, excel=True), crlf=True)
    if format == "groups":
        return _csv_text(_groups(f), crlf=True)
    if accounts is None or owners is None:
        raise ConfigError("a Salesforce Task file needs the account and owner ids",
                          where="--accounts/--owners",
                          fix="give --accounts FILE (partner_id,AccountId) and --owners FILE "
                              "(manager,OwnerId)")
    acc, own = read_id_mapping(accounts, "accounts"), read_id_mapping(owners, "owners")
    names = tuple("(given mapping)" if isinstance(s, Mapping) else str(s)
                  for s in (accounts, owners))
    package = tasks.package if isinstance(tasks, TaskList) else None
    return _csv_text(_salesforce(f, package, acc, own, (names[0], names[1])), crlf=False)


def write_tasks(tasks: TaskList | pd.DataFrame, path: str | Path, format: str = "csv", *,
                accounts: str | Path | Mapping[str, str] | None = None,
                owners: str | Path | Mapping[str, str] | None = None) -> Path:
    """Write a task file for the PRM, atomically (nothing is written when anything fails).

    Formats:
        ``csv``: UTF-8 with a byte-order mark and CRLF lines (Excel opens it with Japanese
        intact); the DESIGN §4 task columns plus ``partner_name``, ``owner``, ``done_when`` and
        ``wave``; cells Excel would take for formulas start with ``'``.
        ``jsonl``: one JSON object per task with the same columns, dates as ISO strings.
        ``salesforce``: a Task CSV for Data Loader or Bulk API 2.0 (UTF-8, LF lines): field
        API names ``Supportlab_Task_Id__c`` (the external id to upsert on), ``Subject``,
        ``ActivityDate`` (YYYY-MM-DD), ``Status`` (``Not Started`` for new tasks), ``Priority``,
        ``OwnerId`` (the manager's user, from ``owners``) and ``WhatId`` (the partner's Account,
        from ``accounts``), ``Description``.
        ``groups``: one row per partner and wave: ``partner_id, partner_name, group``
        (``<experiment>-<arm>``, or ``<experiment>-waitlist``; ``<experiment>-p<N>-...`` from
        phase 2 on), ``experiment_id, arm, wave, start_date``, for PRMs that assign programs
        to partner groups.

    Args:
        tasks: the tasks (:func:`make_tasks`).
        path: the file; its suffix must fit the format (:func:`check_task_output`).
        format: ``csv``, ``jsonl``, ``salesforce`` or ``groups``.
        accounts / owners: for ``salesforce``: CSV files (or mappings) ``partner_id,AccountId``
            and ``manager,OwnerId`` (:func:`read_id_mapping`).

    Raises:
        DataValidationError: a task's partner or manager has no Salesforce id (the unknown ids
            are listed, with their count); no file is written.
    """
    out = check_task_output(path, format)
    assert out is not None
    text = render_tasks(tasks, format, accounts=accounts, owners=owners)
    encoding = "utf-8-sig" if format in ("csv", "groups") else "utf-8"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with tmp.open("w", encoding=encoding, newline="") as fh:
            fh.write(text)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


# -- the round trip -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StatusUpdate(ResultMixin):
    """What a PRM task export changed in the workspace ``tasks`` table.

    Attributes:
        source: the export read.
        as_of: the date tasks past their due date became overdue as of.
        n_rows: rows of the export; n_matched: rows naming a known task.
        n_changed: status changes kept in ``task_history`` (file and overdue together).
        n_done / n_overdue: tasks that became done, and overdue, in this update.
        n_unchanged: known tasks whose status stayed.
        n_unknown: task ids of the export the workspace does not hold.
        unknown_task_ids: the first of them.
        status_counts: every task by status after the update.
        changes: one row per change (``task_id, status, previous_status, changed_at,
            source``).
    """

    _title: ClassVar[str] = "Task status update"
    _title_ja: ClassVar[str] = "タスク状態の更新"
    _hidden: ClassVar[frozenset[str]] = frozenset({"changes"})
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"n_rows": "rows read", "n_matched": "rows of known tasks",
               "n_changed": "changes kept", "n_done": "now done", "n_overdue": "now overdue",
               "n_unchanged": "unchanged", "n_unknown": "unknown task ids",
               "unknown_task_ids": "unknown (first)", "status_counts": "tasks by status",
               "as_of": "overdue as of"},
        "ja": {"source": "ファイル", "as_of": "期限切れの基準日", "n_rows": "読んだ行",
               "n_matched": "既知のタスクの行", "n_changed": "記録した変更", "n_done": "完了になった",
               "n_overdue": "期限切れになった", "n_unchanged": "変化なし",
               "n_unknown": "不明なタスクID", "unknown_task_ids": "不明なID（先頭）",
               "status_counts": "状態別のタスク"}}

    source: str
    as_of: str
    n_rows: int
    n_matched: int
    n_changed: int
    n_done: int
    n_overdue: int
    n_unchanged: int
    n_unknown: int
    unknown_task_ids: tuple[str, ...]
    status_counts: dict[str, int]
    changes: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def _headline(self, lang: str) -> str | None:
        if lang == "ja":
            return f"{self.n_changed:,} 件の変更（完了 {self.n_done:,}、期限切れ {self.n_overdue:,}）"
        return (f"{self.n_changed:,} changes ({self.n_done:,} done, {self.n_overdue:,} "
                "overdue)")

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-safe values (the changes are in :attr:`changes`)."""
        d = super().to_dict()
        d.pop("changes", None)
        return d


_ID_COLUMNS = ("task_id", SALESFORCE_ID_FIELD.lower())


def _norm_word(word: str) -> str:
    return " ".join(word.strip().lower().replace("_", " ").split())


def _status_words(extra: Mapping[str, str] | None) -> dict[str, str]:
    words = {_norm_word(k): v for k, v in STATUS_WORDS.items()}
    for k, v in (extra or {}).items():
        if v not in TASK_STATUSES and v != OPEN:
            raise ConfigError(f"status map: '{k}' -> '{v}' is not a task status",
                              fix=f"map to one of {', '.join(TASK_STATUSES)} (or '{OPEN}': "
                                  "not done yet)")
        words[_norm_word(k)] = v
    return words


def _unquote(v: str) -> str:
    """Undo :func:`excel_safe` (a file written by ``tasks --format csv`` read back)."""
    return v[1:] if v.startswith("'") and v[1:2] in _FORMULA_START else v


def read_task_export(path: str | Path) -> list[tuple[int, str, str]]:
    """The rows of a PRM task export as ``(line, task_id, status word)``.

    CSV (UTF-8 with or without BOM, or cp932) or JSON Lines, by the suffix; the id column is
    ``task_id`` or ``Supportlab_Task_Id__c`` and the status column ``status``, in any case.

    Raises:
        ConfigError: the suffix is neither CSV nor JSON Lines.
        InputFileError: the file cannot be read, a column is missing or a line is not JSON.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise ConfigError(f"cannot read '{suffix or '(no suffix)'}' task exports", where=str(p),
                          fix="export the tasks as CSV (.csv) or JSON Lines (.jsonl)")
    try:
        text = p.read_bytes().decode(detect_encoding(p)).lstrip("\ufeff")
    except OSError as exc:
        raise InputFileError(f"cannot read the task export ({exc.strerror or exc})",
                             where=str(p), fix="check the path") from None

    def pick(names: Sequence[str]) -> tuple[str | None, str | None]:
        low = {n.strip().lower(): n for n in names}
        idc = next((low[c] for c in _ID_COLUMNS if c in low), None)
        return idc, low.get("status")

    def missing(names: Sequence[str], where: str) -> InputFileError:
        return InputFileError(
            f"the task export has no task_id (or {SALESFORCE_ID_FIELD}) and status columns "
            f"(columns: {', '.join(map(str, names)) or 'none'})", where=where,
            fix="export the task id and the status of each task")

    rows: list[tuple[int, str, str]] = []
    if suffix == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        idc, stc = pick(header)
        if idc is None or stc is None:
            raise missing(header, str(p))
        i, s = header.index(idc), header.index(stc)
        for r in reader:
            if not any(c.strip() for c in r):
                continue
            rows.append((reader.line_num, _unquote(r[i].strip()) if i < len(r) else "",
                         r[s].strip() if s < len(r) else ""))
        return rows
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"line {n} is not JSON ({exc.msg})", where=str(p),
                                 fix="one JSON object per line") from None
        if not isinstance(obj, dict):
            raise InputFileError(f"line {n} is not a JSON object", where=str(p),
                                 fix="one JSON object per line")
        idc, stc = pick(list(obj))
        if idc is None or stc is None:
            raise missing(list(obj), f"{p}: line {n}")
        rows.append((n, "" if obj[idc] is None else str(obj[idc]).strip(),
                     "" if obj[stc] is None else str(obj[stc]).strip()))
    return rows


def _examples(items: Sequence[str]) -> str:
    return ", ".join(items[:EXAMPLES]) + (", ..." if len(items) > EXAMPLES else "")


def update_task_status(ws: Workspace, path: str | Path, *, as_of: dt.date | None = None,
                       strict: bool = False,
                       status_map: Mapping[str, str] | None = None) -> StatusUpdate:
    """Update task status from a PRM task export, keeping every change in ``task_history``.

    Status words are supportlab's (``pending``, ``sent``, ``done``, ...) or Salesforce's
    (``Completed`` -> done, ``In Progress`` -> sent, ``Deferred`` -> skipped, ``Not Started``:
    not done yet, so pending, sent and overdue tasks stay as they are), in any case; other
    words can be mapped with ``status_map``. Tasks past their due date (before ``as_of``) and
    not done, skipped or cancelled become ``overdue``, a change kept like the others. One
    transaction: ``tasks.status`` and ``updated_at`` change and ``task_history`` grows together.

    Args:
        ws: the workspace holding the tasks.
        path: the export (CSV or JSON Lines; see :func:`read_task_export`).
        as_of: the date of the export (default: today; not in the future).
        strict: unknown task ids are an error instead of a warning.
        status_map: more status words, e.g. ``{"済": "done"}``.

    Raises:
        DataValidationError: unknown status words (the file lines are named), a row without a
            task id, a task given two statuses, or (``strict``) unknown task ids; nothing is
            written.
        WorkspaceError: the workspace holds no tasks.
    """
    from supportlab.data.workspace import now_tz

    day = as_of or dt.date.today()
    if day > dt.date.today():
        raise ConfigError(f"as of {day} is in the future: overdue means past its due date by "
                          "now", fix="give today's date or an earlier one")
    words = _status_words(status_map)
    p = Path(path)
    rows = read_task_export(p)
    bad = [f"line {n} {w!r}" for n, _, w in rows if _norm_word(w) not in words]
    if bad:
        raise DataValidationError(
            f"{_count(len(bad), 'row')} {_have(len(bad))} a status that is not a task status: "
            f"{_examples(bad)}",
            where=str(p),
            fix=f"use {', '.join(TASK_STATUSES)} or the Salesforce words (Completed, Not "
                "Started, In Progress, Deferred), or map other words (--map WORD=STATUS); "
                "nothing was written")
    blank = [f"line {n}" for n, t, _ in rows if not t]
    if blank:
        raise DataValidationError(f"{_count(len(blank), 'row')} {_have(len(blank))} no task id: "
                                  f"{_examples(blank)}",
                                  where=str(p), fix="export the task id of every row; nothing "
                                                    "was written")
    given: dict[str, tuple[int, str]] = {}
    twice: list[str] = []
    for n, t, w in rows:
        st = words[_norm_word(w)]
        if t in given and given[t][1] != st:
            twice.append(f"{t} (lines {given[t][0]} and {n})")
        given.setdefault(t, (n, st))
    if twice:
        raise DataValidationError(f"{_count(len(twice), 'task')} given two statuses: "
                                  f"{_examples(twice)}", where=str(p),
                                  fix="export each task once; nothing was written")
    now = now_tz()
    source = str(p)
    with ws.transaction() as con:
        cur = con.execute("SELECT task_id, status, due_date FROM tasks").df()
        if cur.empty:
            raise WorkspaceError("the workspace holds no tasks", where=str(ws.path),
                                 fix="write them first: supportlab tasks EXPERIMENT.yaml")
        known = set(cur["task_id"])
        unknown = [t for t in given if t not in known]
        if unknown and strict:
            raise DataValidationError(
                f"{_count(len(unknown), 'task id')} of the export not in the workspace: "
                f"{_examples(unknown)}", where=str(p),
                fix="check the export is of this workspace's tasks, or drop --strict to skip "
                    "them with a warning; nothing was written")
        status = cur["status"].astype(str)
        want = cur["task_id"].map({t: s for t, (_, s) in given.items()})
        from_file = want.notna()
        is_open = want == OPEN
        target = want.where(~is_open & from_file, status)
        reopened = is_open & status.isin(CLOSED)
        target = target.where(~reopened, "pending")
        due = pd.to_datetime(cur["due_date"]).dt.date
        late = target.isin(["pending", "sent"]) & (due < day)
        by_file = from_file & (target != status)
        target = target.where(~late, "overdue")
        changed = target != status
        src = pd.Series(source, index=cur.index)
        src = src.where(by_file | ~late, f"overdue as of {day}")
        src = src.where(~(by_file & late), f"{source}; overdue as of {day}")
        changes = pd.DataFrame({"task_id": cur["task_id"][changed], "status": target[changed],
                                "previous_status": status[changed], "changed_at": now,
                                "source": src[changed]}).reset_index(drop=True)
        if len(changes):
            con.register("_status_changes", changes)
            try:
                con.execute("UPDATE tasks SET status = c.status, updated_at = c.changed_at "
                            "FROM _status_changes c WHERE tasks.task_id = c.task_id")
                con.execute("INSERT INTO task_history BY NAME SELECT * FROM _status_changes")
            finally:
                con.unregister("_status_changes")
        counts = target.value_counts()
    warn: list[str] = []
    if unknown:
        warn.append(f"{_count(len(unknown), 'task id')} of {p.name} not in the workspace, "
                    f"skipped: {_examples(unknown)}")
        warnings.warn(warn[-1], UserWarning, stacklevel=2)
    n_matched = sum(1 for _, t, _ in rows if t in known)
    notes = [] if len(changes) else ["nothing changed"]
    return StatusUpdate(
        source=source, as_of=day.isoformat(), n_rows=len(rows), n_matched=n_matched,
        n_changed=len(changes), n_done=int((changes["status"] == "done").sum()),
        n_overdue=int((changes["status"] == "overdue").sum()),
        n_unchanged=int((from_file & ~changed).sum()), n_unknown=len(unknown),
        unknown_task_ids=tuple(unknown[:EXAMPLES]),
        status_counts={str(k): int(v) for k, v in counts.items()}, changes=changes,
        warnings=tuple(warn), notes=tuple(notes))
