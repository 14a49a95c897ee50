"""What an evaluation reads from the logs, read once for many evaluations.

An evaluation (:func:`supportlab.design.evaluate.evaluate`) takes three things from the engine:
the day of the last event (which fixes the post window), each assigned partner's metrics over
the pre window, the post window and every earlier look's window together with the package's
progress (opened, each item's ``done_when``), and the partner attributes as of the start (for
segments). Everything else comes from the workspace's ledger and from :mod:`supportlab.stats`.

:func:`read_inputs` reads them for one experiment, in one query. :func:`iter_inputs` and
:func:`shared_inputs` read them for many with what they need alike read once: one workspace
connection and one engine session, the metric catalogue, the data fingerprint, the last event
day, the partner attributes once per start date, and the metrics that no package changes in one
query over every experiment's windows and assigned partners; then each experiment's own columns
(its package's progress and ``package_completion``), one query each. (One query over every
experiment, each joined in by partner, was measured slower on DuckDB: compiling a join of twenty
subqueries costs more than it saves.)

``supportlab run`` reads them in its main process, each experiment's saved as Parquet
(:meth:`SharedInputs.save`) and handed to its report notebook as soon as it is read, so that the
report notebooks never open the engine: no Spark session per notebook, and in a fresh kernel
no ibis and sqlglot to import and warm (about 0.6 s of a report on DuckDB). The inputs carry the
workspace's data fingerprint: an evaluation given inputs of other data reads the logs again and
says so.

Example:
    >>> EvaluationInputs.__name__, SharedInputs.__name__
    ('EvaluationInputs', 'SharedInputs')
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from supportlab.config.experiment import Experiment
from supportlab.design.spec import DesignSpec
from supportlab.errors import ConfigError, DataValidationError, SupportlabError
from supportlab.vocab import PASS_SCORE

if TYPE_CHECKING:  # pragma: no cover
    from supportlab.data.engine import Engine
    from supportlab.data.workspace import Workspace
    from supportlab.features.metrics import Metric, Window

__all__ = ["EvaluationInputs", "SharedInputs", "Timing", "iter_inputs", "load_inputs",
           "read_inputs", "resolve_timing", "shared_inputs"]

#: prefix of the package-progress columns (never a catalogue name)
PKG = "pkg_"
#: a gap this long between the end of the logs and the evaluation date is a weekend or a
#: holiday, not missing data
DATA_GAP_DAYS = 7
#: the file of a saved :class:`SharedInputs` that lists what the folder holds
INDEX = "inputs.json"
#: bump when the saved layout changes (an older folder is then not used)
LAYOUT = 1


# -- timing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Where an evaluation stands: its post window's end, the look, and what was said about it."""

    as_of: dt.date  # exclusive end of the post window
    final: bool
    look: int
    looks: int
    look_ends: tuple[dt.date, ...]  # earlier looks' window ends (exclusive)
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def resolve_timing(spec: DesignSpec, exp: Experiment, last: dt.date | None,
                   as_of: dt.date | str | None) -> Timing:
    """The post window's end and the look, from the asked ``as_of`` (None: today) and the day of
    the last event (``last``, None without events).

    Raises:
        ConfigError: ``as_of`` in the future.
        DataValidationError: no post-period data, or an ``as_of`` after the last data.
    """
    where = exp.path or exp.id
    start, end = spec.start, spec.end
    today = dt.date.today()
    given = None if as_of is None else pd.Timestamp(as_of).date()
    if given is not None and given > today:
        raise ConfigError(f"as of {given} is in the future: an evaluation reads what partners "
                          "did", where="--as-of / as_of",
                          fix=f"give today's date ({today}) or an earlier one")
    data_end = None if last is None else last + dt.timedelta(days=1)
    if data_end is None or data_end <= start:
        raise DataValidationError(
            f"experiment {exp.id} has no post-period data yet: it starts on {start} and "
            + ("the workspace holds no events" if last is None
               else f"the logs end on {last}"), where=where,
            fix="evaluate once events since the start are ingested (in a simulated workspace: "
                f"supportlab simulate-delivery {exp.path or 'EXPERIMENT.yaml'})")
    notes: list[str] = []
    warnings: list[str] = []
    day = min(given if given is not None else today, end)
    if day <= start:
        raise DataValidationError(
            f"experiment {exp.id} has no post-period data as of {day}: it starts on {start}",
            where=where, fix=f"evaluate on {start + dt.timedelta(days=1)} or later (--as-of)")
    if data_end < day - dt.timedelta(days=DATA_GAP_DAYS):
        if given is not None:
            raise DataValidationError(
                f"as of {given} is after the last data: the latest event is on {last}, so "
                f"the evaluation would count {(day - data_end).days:,} day(s) without data as "
                "inactivity", where="events",
                fix=f"give --as-of {data_end} or earlier, or ingest newer events")
        notes.append(f"the logs end on {last}: evaluated as of {data_end}")
        day = data_end
    elif data_end < day:
        notes.append(f"the logs end on {last}; the days up to {day} hold no events "
                     "(a weekend or holiday, or events not yet ingested)")
    final = day >= end
    horizon = (end - start).days
    looks = max(int(exp.looks), 1)
    elapsed = (day - start).days
    look = looks if final else min(looks, max(1, math.ceil(elapsed * looks / horizon)))
    planned = [start + dt.timedelta(days=round(j * horizon / looks)) for j in range(1, looks)]
    earlier = tuple(d for d in planned[: look - 1] if start < d < day)
    if not final and looks == 1:
        warnings.append(f"interim: evaluated as of {day}, before the planned horizon ({end}); "
                        "the decision waits for the horizon and stops early only for harm")
    return Timing(day, final, look, looks, earlier, tuple(notes), tuple(warnings))


# -- the engine's part ---------------------------------------------------------------------------


def _instant(ts: pd.Timestamp) -> Any:
    import ibis

    return ibis.timestamp(ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f"), timezone="UTC")


def windows(spec: DesignSpec, timing: Timing, tz: str) -> list[Window]:
    """The pre window (``pre_days`` before the start), the post window ``[start, as_of)`` and
    every earlier look's window, in that order."""
    from supportlab.features.metrics import Window

    start = pd.Timestamp(spec.start).tz_localize(tz)
    post_end = pd.Timestamp(timing.as_of).tz_localize(tz)
    out = [Window("pre", start, start - pd.Timedelta(days=spec.pre_days)),
           Window("post", post_end, start)]
    out += [Window(f"look{j}", pd.Timestamp(d).tz_localize(tz), start)
            for j, d in enumerate(timing.look_ends, start=1)]
    return out


def _progress_table(engine: Engine, exp: Experiment, start: pd.Timestamp, end: pd.Timestamp
                    ) -> tuple[Any, list[tuple[int, list[str]]]]:
    """Per partner, in the engine: events on the package's contents in ``[start, end)``
    (``pkg_opened``) and each item's ``done_when`` events (``pkg_item<k>``), with the item
    columns of each week. Only the package's contents in the window are aggregated."""
    e = engine.table("events")
    items = exp.package.items
    contents = sorted({i.content for i in items})
    f = e.filter((e.ts >= _instant(start)) & (e.ts < _instant(end)),
                 e.content_id.isin(contents))
    aggs: dict[str, Any] = {f"{PKG}opened": f.count()}
    weeks: list[tuple[int, list[str]]] = []
    k = 0
    for step in exp.package.steps:
        names = []
        for item in step.items:
            if item.done_when == "test_pass":
                done = (f.event_type == "test_submit") & (f.value >= PASS_SCORE)
            else:
                done = f.event_type == item.done_when
            aggs[f"{PKG}item{k}"] = f.count(where=done & (f.content_id == item.content))
            names.append(f"{PKG}item{k}")
            k += 1
        weeks.append((step.week, names))
    return f.group_by("partner_id").aggregate(**aggs).rename(_pkg_pid="partner_id"), weeks


def _metric_columns(exp: Experiment, wins: Sequence[Window]) -> list[str]:
    """The metric columns of an evaluation's frame, in the order one query gives them."""
    return [f"{name}_{w.name}" for name in exp.metrics.names for w in wins]



def _package_bound(names: Sequence[str], catalogue: Mapping[str, Metric]) -> list[str]:
    """Those of ``names`` whose value depends on the package (``package_completion``, or a
    ratio with such a part)."""
    from supportlab.features.metrics import resolve

    out = []
    for m in resolve(list(names), dict(catalogue)):
        parts = [m.numerator, m.denominator] if m.kind == "ratio" else []
        kinds = {m.kind, *(catalogue[p].kind for p in parts if p is not None and p in catalogue)}
        if "package_completion" in kinds:
            out.append(m.name)
    return out



def _log_columns(engine: Engine, exp: Experiment, wins: Sequence[Window],
                 partners: Sequence[str], catalogue: Mapping[str, Metric],
                 metrics: Sequence[str]) -> pd.DataFrame:
    """Per partner of ``partners``: ``metrics`` over ``wins`` (``<metric>_<window>``) and the
    package's progress columns, in one engine query."""
    import ibis

    from supportlab.features.metrics import metrics_table

    # the partners as a table, not a list of literals: an IN list of 20,000 ids costs the
    # query compiler seconds, a semi-join nothing
    assigned = ibis.memtable(pd.DataFrame({"partner_id": pd.Series(partners, dtype=str)}))
    q = metrics_table(engine, list(metrics), wins, package=exp.package, catalogue=catalogue,
                      partners=assigned, suffix=True)
    progress, _ = _progress_table(engine, exp, wins[1].start, wins[1].end)
    q = q.left_join(progress, q.partner_id == progress._pkg_pid).drop("_pkg_pid", "joined_at")
    m = engine.execute(q).set_index("partner_id")
    m.index = m.index.astype(str)
    return m


def _weeks(exp: Experiment) -> tuple[tuple[int, tuple[str, ...]], ...]:
    out, k = [], 0
    for step in exp.package.steps:
        out.append((step.week, tuple(f"{PKG}item{k + i}" for i in range(len(step.items)))))
        k += len(step.items)
    return tuple(out)


# -- the inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationInputs:
    """What one evaluation reads from the engine, read ahead.

    Attributes:
        experiment_id: the experiment they are for.
        design_hash: the stored design they were read under.
        as_of: the evaluation date asked for (None: the default, today capped at the data).
        last_data_day: the day of the latest event.
        fingerprint: the workspace's data fingerprint when they were read.
        columns: per assigned partner (index ``partner_id``): ``<metric>_<window>`` for the
            pre, post and earlier looks' windows and the package's progress (``pkg_``).
        attributes: every partner's attributes as of the start (for segments), or None when
            they were not read (an experiment without segments, read on its own).
    """

    experiment_id: str
    design_hash: str
    as_of: str | None
    last_data_day: dt.date | None
    fingerprint: str
    columns: pd.DataFrame = field(repr=False)
    attributes: pd.DataFrame | None = field(repr=False)

    def matches(self, exp: Experiment, spec: DesignSpec, as_of: dt.date | str | None,
                fingerprint: str) -> str | None:
        """None when these inputs are this evaluation's; else why not (for a note)."""
        if self.experiment_id != exp.id or self.design_hash != spec.design_hash:
            return f"they are for {self.experiment_id} under another design"
        if self.as_of != _as_of_text(as_of):
            return f"they are as of {self.as_of or 'the default date'}"
        if self.fingerprint != fingerprint:
            return "the workspace's data changed since they were read"
        return None


def _as_of_text(as_of: dt.date | str | None) -> str | None:
    return None if as_of is None else pd.Timestamp(as_of).date().isoformat()


@dataclass(frozen=True)
class SharedInputs(Mapping[str, EvaluationInputs]):
    """The inputs of several evaluations, read in one engine session (:func:`shared_inputs`).

    A mapping from experiment id to :class:`EvaluationInputs`; ``failed`` holds the
    experiments whose inputs could not be read and why (their evaluation reads on its own and
    fails with its own message).
    """

    inputs: Mapping[str, EvaluationInputs]
    failed: Mapping[str, str]
    seconds: float
    queries: int

    def __getitem__(self, key: str) -> EvaluationInputs:
        return self.inputs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def __str__(self) -> str:
        head = (f"inputs of {len(self.inputs)} experiment(s) read in {self.seconds:.2f} s "
                f"({self.queries} engine queries)")
        return head + "".join(f"\n  {k}: not read ({v})" for k, v in self.failed.items())

    def save(self, folder: str | Path) -> Path:
        """Write every experiment's inputs as Parquet under ``folder`` with an index
        (``inputs.json``); returns the folder. :func:`load_inputs` reads one back."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {"layout": LAYOUT, "experiments": {}, "failed": dict(self.failed)}
        attrs: dict[int, str] = {}
        for n, (eid, inp) in enumerate(sorted(self.inputs.items())):
            inp.columns.to_parquet(out / f"columns-{n}.parquet")
            key = id(inp.attributes)
            if inp.attributes is not None and key not in attrs:
                attrs[key] = f"attributes-{len(attrs)}.parquet"
                inp.attributes.to_parquet(out / attrs[key])
            index["experiments"][eid] = {
                "design_hash": inp.design_hash, "as_of": inp.as_of,
                "last_data_day": None if inp.last_data_day is None
                else inp.last_data_day.isoformat(),
                "fingerprint": inp.fingerprint, "columns": f"columns-{n}.parquet",
                "attributes": attrs.get(key)}
        (out / INDEX).write_text(json.dumps(index, indent=1, sort_keys=True), encoding="utf-8")
        return out


def load_inputs(folder: str | Path, experiment_id: str) -> EvaluationInputs | None:
    """One experiment's inputs from a folder :meth:`SharedInputs.save` wrote, or None when the
    folder holds none for it (the evaluation then reads the logs itself).

    Raises:
        ConfigError: ``folder`` is not such a folder (no index, or another layout).
    """
    path = Path(folder)
    try:
        index = json.loads((path / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError("not a folder of shared evaluation inputs", where=str(path),
                          fix="give the folder SharedInputs.save() wrote, or no inputs") from None
    if index.get("layout") != LAYOUT:
        raise ConfigError(f"shared inputs of layout {index.get('layout')}, not {LAYOUT}",
                          where=str(path), fix="read them again with this version")
    entry = index["experiments"].get(experiment_id)
    if entry is None:
        return None
    last = entry["last_data_day"]
    return EvaluationInputs(
        experiment_id=experiment_id, design_hash=entry["design_hash"], as_of=entry["as_of"],
        last_data_day=None if last is None else dt.date.fromisoformat(last),
        fingerprint=entry["fingerprint"],
        columns=pd.read_parquet(path / entry["columns"]),
        attributes=None if entry["attributes"] is None
        else pd.read_parquet(path / entry["attributes"]))


def read_inputs(ws: Workspace, exp: Experiment, *, as_of: dt.date | str | None = None,
                engine: Engine | None = None) -> EvaluationInputs:
    """One experiment's inputs (what :func:`~supportlab.design.evaluate.evaluate` reads from
    the engine): its metrics and its package's progress in one query.

    Raises:
        WorkspaceError: the experiment is not assigned.
        DataValidationError, ConfigError: as for the evaluation's dates.
    """
    for _, got in iter_inputs(ws, [exp], as_of=as_of, engine=engine, strict=True,
                              attributes=bool(exp.segments)):
        assert isinstance(got, EvaluationInputs)
        return got
    raise AssertionError("unreachable")  # pragma: no cover


def shared_inputs(ws: Workspace, experiments: Sequence[Experiment], *,
                  as_of: dt.date | str | None = None, engine: Engine | None = None,
                  strict: bool = False, attributes: bool = True) -> SharedInputs:
    """The inputs of every experiment's evaluation, read in one engine session
    (:func:`iter_inputs`, collected).

    Args:
        ws: the workspace (ledger and designs; its engine for the logs).
        experiments: the experiments to evaluate.
        as_of: the evaluation date of every one (default: each one's own default).
        engine: where the logs are (default: the workspace's).
        strict: raise the first experiment's error instead of recording it in ``failed``.
        attributes: read the partner attributes (segments need them; a report's exploratory
            segments too).
    """
    t0 = time.perf_counter()
    inputs: dict[str, EvaluationInputs] = {}
    failed: dict[str, str] = {}
    for exp, got in iter_inputs(ws, experiments, as_of=as_of, engine=engine, strict=strict,
                                attributes=attributes):
        if isinstance(got, EvaluationInputs):
            inputs[exp.id] = got
        else:
            failed[exp.id] = got
    n_attrs = len({id(i.attributes) for i in inputs.values() if i.attributes is not None})
    common = len(inputs) > 1
    return SharedInputs(inputs, failed, time.perf_counter() - t0,
                        1 + common + len(inputs) + n_attrs)


def iter_inputs(ws: Workspace, experiments: Sequence[Experiment], *,
                as_of: dt.date | str | None = None, engine: Engine | None = None,
                strict: bool = False, attributes: bool = True
                ) -> Iterator[tuple[Experiment, EvaluationInputs | str]]:
    """Each experiment with its inputs (or why they could not be read), as soon as they are
    read, so that a caller can start each evaluation while the next is read.

    What every evaluation needs alike is read once: one workspace connection and one engine
    session, the metric catalogue, the data fingerprint, the day of the last event, the
    partner attributes once per start date, and the metrics no package changes in one query
    over every experiment's windows and partners; then each experiment's own columns (its
    package's progress and ``package_completion``), one query each. Arguments as for
    :func:`shared_inputs`.
    """
    from supportlab.data.engine import connect
    from supportlab.data.workspace import data_fingerprint
    from supportlab.design.evaluate import read_assignments
    from supportlab.features.metrics import last_data_day, load_metrics
    from supportlab.features.segments import partner_attributes

    # one workspace connection for every read (nested blocks share it)
    with ws.connection():
        eng = engine if engine is not None else connect(ws)
        tz = ws.config.timezone
        catalogue = load_metrics(ws.config.experiments_path / "metrics.yaml")
        fingerprint = data_fingerprint(ws)
        last = last_data_day(eng)
        plans: dict[int, tuple[DesignSpec, pd.DataFrame, list[Window]] | str] = {}
        bound: set[str] = set()
        for i, exp in enumerate(experiments):
            try:
                spec, ledger = read_assignments(ws, exp)
                timing = resolve_timing(spec, exp, last, as_of)
                bound.update(_package_bound(exp.metrics.names, catalogue))
                plans[i] = (spec, ledger, windows(spec, timing, tz))
            except SupportlabError as exc:
                if strict:
                    raise
                plans[i] = str(exc).splitlines()[0]
        read = [p for p in plans.values() if not isinstance(p, str)]
        # the metrics no package changes, for every experiment at once: one query over every
        # window (named by its bounds, so that experiments of the same dates share columns)
        # and every assigned partner
        free = sorted({n for i, exp in enumerate(experiments) if not isinstance(plans[i], str)
                       for n in exp.metrics.names} - bound) if len(read) > 1 else []
        common = _common_columns(eng, free, read, catalogue) if free else None
        attrs: dict[dt.date, pd.DataFrame] = {}
        for i, exp in enumerate(experiments):
            plan = plans[i]
            if isinstance(plan, str):
                yield exp, plan
                continue
            spec, ledger, wins = plan
            try:
                own = [n for n in exp.metrics.names if n not in free]
                cols = _log_columns(eng, exp, wins, [str(p) for p in ledger.index],
                                    catalogue, own)
                if common is not None:
                    # both come from the partners table: a partner missing there is missing
                    # from both, as in a query of its own
                    mine = [(n, w) for n in exp.metrics.names if n in free for w in wins]
                    part = common.loc[cols.index, [f"{n}_{_key(w)}" for n, w in mine]]
                    part.columns = [f"{n}_{w.name}" for n, w in mine]
                    cols = cols.join(part, how="left")
                    cols = cols[[*_metric_columns(exp, wins),
                                 *(c for c in cols.columns if c.startswith(PKG))]]
                if attributes and spec.start not in attrs:
                    attrs[spec.start] = partner_attributes(eng, spec.start)
            except SupportlabError as exc:
                if strict:
                    raise
                yield exp, str(exc).splitlines()[0]
                continue
            yield exp, EvaluationInputs(
                experiment_id=exp.id, design_hash=spec.design_hash, as_of=_as_of_text(as_of),
                last_data_day=last, fingerprint=fingerprint, columns=cols,
                attributes=attrs.get(spec.start))


def _key(w: Window) -> str:
    assert w.start is not None
    return f"w{w.start.value}_{w.end.value}"


def _common_columns(engine: Engine, metrics: Sequence[str],
                    read: Sequence[tuple[DesignSpec, pd.DataFrame, list[Window]]],
                    catalogue: Mapping[str, Metric]) -> pd.DataFrame:
    """``metrics`` (none depends on a package) of every partner of ``read``'s ledgers over every
    window of theirs, one query; columns ``<metric>_<window key>``."""
    import ibis

    from supportlab.features.metrics import Window, metrics_table

    wins = {_key(w): Window(_key(w), w.end, w.start) for _, _, ws_ in read for w in ws_}
    partners = sorted({str(p) for _, ledger, _ in read for p in ledger.index})
    ids = ibis.memtable(pd.DataFrame({"partner_id": pd.Series(partners, dtype=str)}))
    q = metrics_table(engine, list(metrics), list(wins.values()), catalogue=catalogue,
                      partners=ids, suffix=True).drop("joined_at")
    out = engine.execute(q).set_index("partner_id")
    out.index = out.index.astype(str)
    return out


def assemble(ledger: pd.DataFrame, columns: pd.DataFrame, exp: Experiment
             ) -> tuple[pd.DataFrame, list[str], list[str]]:
    """One row per assigned partner: the ledger's columns, every metric's pre/post/look value,
    ``opened``, ``week<k>_done`` and ``completion``; the funnel's stages and their labels.

    Raises:
        DataValidationError: assigned partners missing from the partners table.
    """
    import numpy as np

    df = ledger.join(columns, how="left")
    metric_cols = [c for c in columns.columns if not c.startswith(PKG)]
    missing = df.index[df[metric_cols].isna().all(axis=1).to_numpy()]
    if len(missing) and metric_cols:
        raise DataValidationError(
            f"{len(missing):,} assigned partner(s) of {exp.id} are not in the partners table "
            f"(e.g. {', '.join(map(str, missing[:3]))})", where="partners",
            fix="the logs must hold every assigned partner: re-ingest the partners export")
    pkg_cols = [c for c in columns.columns if c.startswith(PKG)]
    df[pkg_cols] = df[pkg_cols].fillna(0).astype("int64") > 0
    weeks = _weeks(exp)
    items = [n for _, ns in weeks for n in ns]
    df["opened"] = df[f"{PKG}opened"].astype(int)
    done = np.ones(len(df), dtype=bool)
    stages = ["opened"]
    for week, ns in weeks:
        for n in ns:
            done &= df[n].to_numpy()
        col = f"week{week}_done"
        df[col] = done.astype(int)
        stages.append(col)
    df["completion"] = (df[items].sum(axis=1) / max(len(items), 1)).astype(float)
    return df.drop(columns=pkg_cols), stages, ["opened", *(f"week {w} done" for w, _ in weeks)]
