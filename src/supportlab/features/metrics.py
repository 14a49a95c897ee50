"""Per-partner metrics, defined declaratively and computed in the engine.

A metric aggregates one table per partner over a time window. Kinds:

============================  ============================================================
``count``                     rows matching the filter in the window
``sum`` / ``mean``            of ``column`` (``min`` and ``max`` too)
``any``                       True when at least one row matches
``distinct_count``            distinct values of ``column``
``days_since_last``           whole days from the latest matching row to the window's end
``latest``                    ``column`` of the latest matching row before the window's end
``ratio``                     ``numerator`` / ``denominator`` (two other metrics; NaN if 0)
``package_completion``        share of a package's items done (each item's ``done_when``)
============================  ============================================================

Windows are half-open ``[start, end)`` instants. ``lookback_days`` fixes a metric's window to the
last N days before the end (``logins_30d``). ``days_since_last`` and ``latest`` look at all history
before the end. A partner with no rows gets 0 for counts and sums, False for ``any``, NaN for means
and ``latest``; for ``days_since_last`` the ``if_never`` setting decides: ``joined`` (default: days
since the partner joined, i.e. the whole time without one; NaN if ``joined_at`` is unknown), ``null``
(NaN) or a number.

Define extra metrics in ``experiments/metrics.yaml``::

    metrics:
      webinar_views:
        kind: count
        table: events
        where: {event_type: view, content_type: campaign}
        lookback_days: 30

``where`` maps a column to a value, a list of values, or operators
``{gte: 70}`` (``gt``, ``lt``, ``lte``, ``ne``, ``in``, ``not_in``, ``is_null``). On events, the
content columns ``content_type`` and ``product`` are available too (joined from ``contents``).

Example:
    >>> builtin_metrics()["logins_30d"].lookback_days
    30
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import yaml

from supportlab.config.experiment import Experiment, Package
from supportlab.data.engine import Engine
from supportlab.data.schemas import TABLES
from supportlab.errors import ConfigError
from supportlab.vocab import PASS_SCORE

KINDS = ("count", "sum", "mean", "min", "max", "any", "distinct_count", "days_since_last",
         "latest", "ratio", "package_completion")
#: the time column each table is windowed by, unless a metric names another
DEFAULT_TIME = {"events": "ts", "deals": "registered_at", "tasks": "due_date",
                "assignments": "assigned_at"}
_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "is_null")
_CONTENT_COLUMNS = ("content_type", "product")


@dataclass(frozen=True)
class Metric:
    """A per-partner metric definition."""

    name: str
    kind: str
    table: str = "events"
    column: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    time: str | None = None
    lookback_days: int | None = None
    numerator: str | None = None
    denominator: str | None = None
    if_never: str | float = "joined"
    description: str = ""

    @property
    def time_column(self) -> str:
        return self.time or DEFAULT_TIME.get(self.table, "ts")


@dataclass(frozen=True)
class Window:
    """A half-open window ``[start, end)`` of instants; ``start=None`` means all history."""

    name: str
    end: pd.Timestamp
    start: pd.Timestamp | None = None

    def days(self) -> float:
        return math.inf if self.start is None else (self.end - self.start) / pd.Timedelta(days=1)


def _instant(day: dt.date | str | pd.Timestamp, tz: str) -> pd.Timestamp:
    ts = pd.Timestamp(day)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts


def window_asof(as_of: dt.date | str, tz: str, lookback_days: int | None = 365,
                name: str = "asof") -> Window:
    """The window ending at the start of ``as_of`` (midnight, workspace zone)."""
    end = _instant(as_of, tz)
    start = None if lookback_days is None else end - pd.Timedelta(days=lookback_days)
    return Window(name, end, start)


def experiment_windows(exp: Experiment, tz: str, post_days: int | None = None
                       ) -> tuple[Window, Window]:
    """The pre window ``[start − pre_days, start)`` and the post window ``[start, start + horizon)``.

    Args:
        exp: the experiment.
        tz: workspace timezone (the start date is midnight there).
        post_days: shorten the post window (an interim look); default the whole horizon.
    """
    start = _instant(exp.design.start, tz)
    pre = Window("pre", start, start - pd.Timedelta(days=exp.design.pre_days))
    days = exp.design.horizon_days if post_days is None else min(post_days,
                                                                  exp.design.horizon_days)
    post = Window("post", start + pd.Timedelta(days=days), start)
    return pre, post


# -- definitions ----------------------------------------------------------------------------------

_BUILTIN: list[dict[str, Any]] = [
    dict(name="logins", kind="count", where={"event_type": "login"},
         description="portal logins in the window"),
    dict(name="portal_logins", kind="count", where={"event_type": "login"},
         description="portal logins in the window (guardrail)"),
    dict(name="logins_30d", kind="count", where={"event_type": "login"}, lookback_days=30,
         description="portal logins in the last 30 days"),
    dict(name="active_users", kind="distinct_count", column="user_id",
         where={"event_type": "login"}, description="distinct users who logged in"),
    dict(name="days_since_last_login", kind="days_since_last", where={"event_type": "login"},
         description="whole days since the last login; never logged in: days since joining"),
    dict(name="video_completed", kind="any", where={"event_type": "video_complete"},
         description="completed at least one video"),
    dict(name="videos_completed", kind="count", where={"event_type": "video_complete"},
         description="video completions"),
    dict(name="template_downloaded", kind="any",
         where={"event_type": "download", "content_type": "template"},
         description="downloaded at least one template"),
    dict(name="downloads", kind="count", where={"event_type": "download"},
         description="downloads"),
    dict(name="trainings_completed", kind="count", where={"event_type": "training_complete"},
         description="trainings completed"),
    dict(name="latest_test_score", kind="latest", column="value",
         where={"event_type": "test_submit"}, description="score of the latest test (0–100)"),
    dict(name="material_uses", kind="count", where={"event_type": "material_use"},
         description="uses of sales materials"),
    dict(name="content_views", kind="count", where={"event_type": ["view", "campaign_view"]},
         description="content and campaign views"),
    dict(name="package_completion", kind="package_completion",
         description="share of the package's items done (each item's done_when)"),
    dict(name="completion_rate", kind="package_completion",
         description="support completion rate (支援消化率): share of the package's items done"),
    dict(name="deals_registered", kind="count", table="deals",
         description="deal registrations"),
    dict(name="pipeline_amount", kind="sum", table="deals", column="amount",
         description="amount of deals registered"),
    dict(name="deals_won", kind="count", table="deals", where={"won": True}, time="closed_at",
         description="deals won (by close date)"),
    dict(name="deals_closed", kind="count", table="deals", where={"won": {"is_null": False}},
         time="closed_at", description="deals closed, won or lost (by close date)"),
    dict(name="won_revenue", kind="sum", table="deals", column="amount", where={"won": True},
         time="closed_at", description="revenue of deals won (by close date)"),
    dict(name="win_rate", kind="ratio", numerator="deals_won", denominator="deals_closed",
         description="deals won / deals closed"),
]


def _where(path: str | None, keys: Sequence[Any]) -> str:
    kp = ".".join(str(k) for k in keys)
    return f"{path}: {kp}" if path else kp


def metric_from_dict(name: str, d: Mapping[str, Any], path: str | None = None) -> Metric:
    """Build and check one metric definition (``path`` only for error messages)."""
    keys = ["metrics", name]
    if not isinstance(d, Mapping):
        raise ConfigError("a metric must be a mapping with at least 'kind'",
                          where=_where(path, keys), fix="write e.g. {kind: count, table: events}")
    allowed = ("kind", "table", "column", "where", "time", "lookback_days", "numerator",
               "denominator", "if_never", "description", "name")
    for k in d:
        if k not in allowed:
            near = difflib.get_close_matches(str(k), allowed, n=1)
            raise ConfigError(f"unknown key '{k}'", where=_where(path, keys),
                              fix=(f"did you mean '{near[0]}'? " if near else "") +
                              f"allowed keys: {', '.join(allowed)}")
    kind = d.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"kind '{kind}' is not a metric kind", where=_where(path, [*keys, "kind"]),
                          fix=f"allowed kinds: {', '.join(KINDS)}")
    table = d.get("table", "events")
    if table not in TABLES:
        raise ConfigError(f"table '{table}' is not a workspace table",
                          where=_where(path, [*keys, "table"]),
                          fix=f"allowed tables: {', '.join(TABLES)}")
    cols = set(TABLES[table].column_names) | (set(_CONTENT_COLUMNS) if table == "events"
                                              else set())
    column = d.get("column")
    if kind in ("sum", "mean", "min", "max", "distinct_count", "latest"):
        if column is None:
            raise ConfigError(f"a {kind} metric needs 'column'", where=_where(path, keys),
                              fix=f"add column: one of {', '.join(sorted(cols))}")
    if column is not None and column not in cols:
        raise ConfigError(f"column '{column}' is not in {table}",
                          where=_where(path, [*keys, "column"]),
                          fix=f"columns of {table}: {', '.join(sorted(cols))}")
    where = d.get("where") or {}
    if not isinstance(where, Mapping):
        raise ConfigError("'where' must map columns to values", where=_where(path, [*keys, "where"]),
                          fix="write e.g. where: {event_type: login}")
    for col, cond in where.items():
        if col not in cols:
            raise ConfigError(f"filter column '{col}' is not in {table}",
                              where=_where(path, [*keys, "where", col]),
                              fix=f"columns of {table}: {', '.join(sorted(cols))}")
        if isinstance(cond, Mapping):
            for op in cond:
                if op not in _OPS:
                    raise ConfigError(f"unknown operator '{op}'",
                                      where=_where(path, [*keys, "where", col, op]),
                                      fix=f"allowed operators: {', '.join(_OPS)}")
    time = d.get("time")
    if time is not None and time not in TABLES[table].column_names:
        raise ConfigError(f"time column '{time}' is not in {table}",
                          where=_where(path, [*keys, "time"]))
    lb = d.get("lookback_days")
    if lb is not None and (not isinstance(lb, int) or isinstance(lb, bool) or lb < 1):
        raise ConfigError(f"lookback_days == {lb!r}, must be a whole number >= 1",
                          where=_where(path, [*keys, "lookback_days"]))
    if kind == "ratio" and not (d.get("numerator") and d.get("denominator")):
        raise ConfigError("a ratio metric needs 'numerator' and 'denominator' (metric names)",
                          where=_where(path, keys))
    if_never = d.get("if_never", "joined")
    if not (if_never in ("joined", "null") or isinstance(if_never, (int, float))):
        raise ConfigError(f"if_never == {if_never!r}, must be 'joined', 'null' or a number",
                          where=_where(path, [*keys, "if_never"]))
    return Metric(name=name, kind=kind, table=table, column=column, where=dict(where),
                  time=time, lookback_days=lb, numerator=d.get("numerator"),
                  denominator=d.get("denominator"), if_never=if_never,
                  description=str(d.get("description", "")))


def builtin_metrics() -> dict[str, Metric]:
    """The built-in metric catalogue."""
    out = {}
    for d in _BUILTIN:
        d = dict(d)
        name = d.pop("name")
        out[name] = metric_from_dict(name, d)
    return out


def load_metrics(path: str | Path | None = None) -> dict[str, Metric]:
    """Built-in metrics plus (overridden by) those of a YAML file, if it exists."""
    catalogue = builtin_metrics()
    if path is None or not Path(path).is_file():
        return catalogue
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc})", where=str(p)) from None
    if not isinstance(raw, Mapping) or (raw and "metrics" not in raw) \
            or not isinstance(raw.get("metrics") or {}, Mapping):
        raise ConfigError("expected a mapping with a 'metrics' key", where=str(p),
                          fix="start the file with 'metrics:' and indent the definitions "
                              "below it")
    for name, d in (raw.get("metrics") or {}).items():
        catalogue[str(name)] = metric_from_dict(str(name), d, str(p))
    for m in catalogue.values():
        if m.kind == "ratio":
            for part in (m.numerator, m.denominator):
                if part not in catalogue:
                    raise ConfigError(f"ratio '{m.name}' refers to unknown metric '{part}'",
                                      where=str(p), fix="define it or fix the name")
    return catalogue


def resolve(names: Iterable[str], catalogue: Mapping[str, Metric]) -> list[Metric]:
    """Look metrics up by name, with a suggestion for typos."""
    out = []
    for n in names:
        if n not in catalogue:
            near = difflib.get_close_matches(n, list(catalogue), n=1)
            raise ConfigError(f"unknown metric '{n}'",
                              fix=(f"did you mean '{near[0]}'? " if near else "") +
                              "define it in experiments/metrics.yaml or use a built-in: "
                              + ", ".join(sorted(catalogue)))
        out.append(catalogue[n])
    return out


# -- compilation ----------------------------------------------------------------------------------


def _lit_ts(ts: pd.Timestamp) -> ibis.Expr:
    utc = ts.tz_convert("UTC")
    return ibis.timestamp(utc.strftime("%Y-%m-%dT%H:%M:%S.%f"), timezone="UTC")


def _op(c: ibis.Expr, op: str, v: Any) -> ibis.Expr:
    if op == "eq":
        return c == v
    if op == "ne":
        return c != v
    if op == "gt":
        return c > v
    if op == "gte":
        return c >= v
    if op == "lt":
        return c < v
    if op == "lte":
        return c <= v
    if op == "in":
        return c.isin(list(v))
    if op == "not_in":
        return ~c.isin(list(v))
    if op == "is_null":
        return c.isnull() if v else c.notnull()
    raise AssertionError(op)


def _filter(t: ibis.Table, where: Mapping[str, Any]) -> ibis.Expr | None:
    conds = []
    for col, cond in where.items():
        c = t[col]
        if isinstance(cond, Mapping):
            conds.extend(_op(c, op, v) for op, v in cond.items())
        elif isinstance(cond, (list, tuple)):
            conds.append(c.isin(list(cond)))
        elif cond is None:
            conds.append(c.isnull())
        else:
            conds.append(c == cond)
    return _and(*conds)


def _and(*conds: ibis.Expr | None) -> ibis.Expr | None:
    real = [c for c in conds if c is not None]
    if not real:
        return None
    out = real[0]
    for c in real[1:]:
        out = out & c
    return out


def _window_cond(t: ibis.Table, m: Metric, w: Window, all_history: bool) -> ibis.Expr | None:
    col = t[m.time_column]
    end = _lit_ts(w.end)
    if all_history:
        return col < end
    start = w.end - pd.Timedelta(days=m.lookback_days) if m.lookback_days else w.start
    if start is None:
        return col < end
    return (col >= _lit_ts(start)) & (col < end)


@dataclass(frozen=True)
class _Agg:
    column: str          # output column name in the engine result
    metric: Metric
    window: Window
    part: str = ""       # package item index for package_completion


def _table_for(engine: Engine, table: str, metrics: Sequence[Metric]) -> ibis.Table:
    t = engine.table(table)
    if table == "events" and any(k in _CONTENT_COLUMNS for m in metrics for k in m.where):
        c = engine.table("contents").select(
            _c_id=engine.table("contents").content_id,
            content_type=engine.table("contents").content_type,
            product=engine.table("contents").product)
        t = t.left_join(c, t.content_id == c._c_id).drop("_c_id")
    return t


def _aggregations(t: ibis.Table, specs: list[_Agg], package: Package | None
                  ) -> dict[str, ibis.Expr]:
    aggs: dict[str, ibis.Expr] = {}
    for s in specs:
        m, w = s.metric, s.window
        history = m.kind in ("days_since_last", "latest")
        cond = _and(_filter(t, m.where), _window_cond(t, m, w, history))
        if m.kind in ("count", "any"):
            aggs[s.column] = t.count(where=cond)
        elif m.kind == "sum":
            aggs[s.column] = t[m.column].sum(where=cond)
        elif m.kind == "mean":
            aggs[s.column] = t[m.column].mean(where=cond)
        elif m.kind == "min":
            aggs[s.column] = t[m.column].min(where=cond)
        elif m.kind == "max":
            aggs[s.column] = t[m.column].max(where=cond)
        elif m.kind == "distinct_count":
            aggs[s.column] = t[m.column].nunique(where=cond)
        elif m.kind == "days_since_last":
            aggs[s.column] = t[m.time_column].max(where=cond)
        elif m.kind == "latest":
            cond = _and(cond, t[m.column].notnull())
            aggs[s.column] = t[m.column].argmax(t[m.time_column], where=cond)
        elif m.kind == "package_completion":
            item = package.items[int(s.part)]
            if item.done_when == "test_pass":
                done = (t.event_type == "test_submit") & (t.value >= PASS_SCORE)
            else:
                done = t.event_type == item.done_when
            aggs[s.column] = t.count(where=_and(cond, done, t.content_id == item.content))
    return aggs


def compute_metrics(engine: Engine, metrics: Sequence[Metric | str],
                    windows: Sequence[Window], *, package: Package | None = None,
                    catalogue: Mapping[str, Metric] | None = None,
                    partners: Sequence[str] | None = None,
                    suffix: bool | None = None) -> pd.DataFrame:
    """Compute metrics per partner, in the engine, for one or more windows.

    One grouped query per table covers every metric and window. Only the per-partner results
    come back to pandas.

    Args:
        engine: where the tables live (:func:`supportlab.data.engine.connect`).
        metrics: metric definitions or names from ``catalogue``.
        windows: the windows; with several, columns are named ``<metric>_<window>``.
        package: needed for ``package_completion`` metrics.
        catalogue: metric definitions (default: built-ins).
        partners: restrict to these partners (default: every partner).
        suffix: force (or suppress) the ``_<window>`` suffix.

    Returns:
        A DataFrame indexed by ``partner_id``, one column per metric and window.
    """
    catalogue = dict(catalogue or builtin_metrics())
    ms: list[Metric] = [catalogue[m] if isinstance(m, str) and m in catalogue else m
                        for m in metrics]
    ms = resolve([m if isinstance(m, str) else m.name for m in ms],
                 {**catalogue, **{m.name: m for m in ms if isinstance(m, Metric)}})
    use_suffix = len(windows) > 1 if suffix is None else suffix
    # ratios need their parts
    needed: dict[str, Metric] = {}
    for m in ms:
        if m.kind == "ratio":
            for part in (m.numerator, m.denominator):
                needed.setdefault(part, catalogue[part])
        else:
            needed.setdefault(m.name, m)
    if any(m.kind == "package_completion" for m in needed.values()) and package is None:
        raise ConfigError("completion_rate / package_completion need a package",
                          fix="name one: --package ID[@VERSION] on the command line, or "
                              "package= in Python (an experiment's targets use its package)")
    base = engine.table("partners")
    base = base.select("partner_id", "joined_at")
    if partners is not None:
        base = base.filter(base.partner_id.isin(list(partners)))
    by_table: dict[str, list[_Agg]] = {}
    for m in needed.values():
        for w in windows:
            col = f"{m.name}__{w.name}"
            if m.kind == "package_completion":
                for i in range(len(package.items)):
                    by_table.setdefault(m.table, []).append(_Agg(f"{col}__{i}", m, w, str(i)))
            else:
                by_table.setdefault(m.table, []).append(_Agg(col, m, w))
    for table, specs in by_table.items():
        if not engine.has_table(table):
            raise ConfigError(f"metrics need table '{table}', which is not in the engine",
                              fix="load it first (supportlab ingest)")
        t = _table_for(engine, table, [s.metric for s in specs])
        if partners is not None:
            t = t.filter(t.partner_id.isin(list(partners)))
        q = t.group_by("partner_id").aggregate(**_aggregations(t, specs, package))
        q = q.rename(_pid="partner_id")
        base = base.left_join(q, base.partner_id == q._pid).drop("_pid")
    # one query: the engine plans every table's aggregation and the joins together
    result = engine.execute(base).set_index("partner_id")
    out = pd.DataFrame(index=result.index)
    joined = pd.to_datetime(result["joined_at"])
    for m in ms:
        for w in windows:
            name = f"{m.name}_{w.name}" if use_suffix else m.name
            out[name] = _finish(m, w, result, joined, catalogue, package)
    out.index.name = "partner_id"
    return out.sort_index()


def _utc(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    if getattr(s.dt, "tz", None) is None:
        return s.dt.tz_localize("UTC")
    return s.dt.tz_convert("UTC")


def _finish(m: Metric, w: Window, r: pd.DataFrame, joined: pd.Series,
            catalogue: Mapping[str, Metric], package: Package | None) -> pd.Series:
    col = f"{m.name}__{w.name}"
    if m.kind in ("count", "distinct_count"):
        return r[col].fillna(0).astype("int64")
    if m.kind == "sum":
        return r[col].astype("float64").fillna(0.0)
    if m.kind == "any":
        return r[col].fillna(0).astype("int64") > 0
    if m.kind in ("mean", "min", "max", "latest"):
        return pd.to_numeric(r[col], errors="coerce").astype("float64")
    if m.kind == "days_since_last":
        end = w.end.tz_convert("UTC")
        last = _utc(r[col])
        days = np.floor((end - last) / pd.Timedelta(days=1))
        if m.if_never == "joined":
            j = joined.dt.tz_localize(w.end.tz) if joined.dt.tz is None else joined
            since = np.floor((w.end - j) / pd.Timedelta(days=1))
            # a partner who joins after the window's end was not a partner yet: no value
            days = days.fillna(since.where(since >= 0))
        elif m.if_never != "null":
            days = days.fillna(float(m.if_never))
        return days.astype("float64")
    if m.kind == "ratio":
        num = _finish(catalogue[m.numerator], w, r, joined, catalogue, package)
        den = _finish(catalogue[m.denominator], w, r, joined, catalogue, package)
        return (num.astype("float64") / den.astype("float64").where(den != 0)).astype("float64")
    if m.kind == "package_completion":
        n = len(package.items)
        done = sum((r[f"{col}__{i}"].fillna(0) > 0).astype("float64") for i in range(n))
        return done / n
    raise AssertionError(m.kind)


def with_window_names(metrics: Sequence[str], windows: Sequence[Window]) -> list[str]:
    """Column names :func:`compute_metrics` produces for several windows."""
    return [f"{m}_{w.name}" for m in metrics for w in windows]


def rename_window(w: Window, name: str) -> Window:
    return replace(w, name=name)
