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

``where`` is a rule of the one condition language over the table's columns
(``where: "event_type == 'test_submit' and value >= 70"``), or its mapping form: a column to a
value, a list of values, or operators ``{gte: 70}`` (``gt``, ``lt``, ``lte``, ``ne``, ``in``,
``not_in``, ``is_null``), see :mod:`supportlab.features.rules.sugar`. On events, the content
columns ``content_type`` and ``product`` are available too (joined from ``contents``).

With an as-of window (:func:`window_asof`), partners who had not joined by the date are left
out, and a date in the future or after the last event is refused (:func:`check_as_of`).

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
import pandas as pd

from supportlab.config.experiment import Experiment, Package
from supportlab.data.engine import Engine
from supportlab.data.schemas import TABLES
from supportlab.errors import ConfigError, DataValidationError
from supportlab.features.rules import Rule, condition_rule
from supportlab.features.rules.compile import selected
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
    where: str | Mapping[str, Any] = field(default_factory=dict)
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
    """A half-open window ``[start, end)`` of instants; ``start=None`` means all history.

    ``as_of`` marks a window ending at a targeting or scoring date (:func:`window_asof`): its
    metrics leave out partners who had not joined by then.
    """

    name: str
    end: pd.Timestamp
    start: pd.Timestamp | None = None
    as_of: bool = False

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
    return Window(name, end, start, as_of=True)


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
    """Build and check one metric definition (``path`` only for error messages).

    The shape is checked by the one configuration loader (every problem at once, key paths
    ``metrics.NAME.*``), the tables and columns against the workspace schemas.
    """
    from supportlab.config.checks import metric_problems
    from supportlab.config.loader import validate
    from supportlab.config.models import MetricSpec, plain

    keys = ["metrics", name]
    tables = {t: TABLES[t].column_names for t in TABLES}
    spec = validate(MetricSpec, d, source=path, prefix=("metrics", name),
                    checks=[lambda raw: metric_problems(name, raw, tables,
                                                        {"events": _CONTENT_COLUMNS})])
    cols = set(TABLES[spec.table].column_names) | (set(_CONTENT_COLUMNS) if spec.table == "events"
                                                   else set())
    where = spec.where if spec.where is not None else {}
    if isinstance(where, str):  # a rule over the table's columns
        rule = condition_rule(where, _where(path, [*keys, "where"]), carries=False)
        for col in sorted(rule.names if rule is not None else ()):
            if col not in cols:
                raise ConfigError(f"filter column '{col}' is not in {spec.table}",
                                  where=_where(path, [*keys, "where"]),
                                  fix=f"columns of {spec.table}: {', '.join(sorted(cols))}")
    return Metric(name=name, kind=spec.kind, table=spec.table, column=spec.column,
                  where=where if isinstance(where, str) else plain(where),
                  time=spec.time, lookback_days=spec.lookback_days, numerator=spec.numerator,
                  denominator=spec.denominator, if_never=spec.if_never,
                  description=spec.description)


def builtin_metrics() -> dict[str, Metric]:
    """The built-in metric catalogue."""
    out = {}
    for d in _BUILTIN:
        d = dict(d)
        name = d.pop("name")
        out[name] = metric_from_dict(name, d)
    return out


def load_metrics(path: str | Path | None = None) -> dict[str, Metric]:
    """Built-in metrics plus (overridden by) those of a YAML file, if it exists.

    Every problem of the file is reported at once (:mod:`supportlab.config.loader`).
    """
    from supportlab.config.checks import metric_problems
    from supportlab.config.loader import read_document, validate
    from supportlab.config.models import MetricsFile
    from supportlab.config.problems import Problem, did_you_mean

    catalogue = builtin_metrics()
    if path is None or not Path(path).is_file():
        return catalogue
    p = Path(path)
    doc = read_document(p)
    tables = {t: TABLES[t].column_names for t in TABLES}

    def problems(raw: Any) -> list[Problem]:
        defs = raw.get("metrics") if isinstance(raw, Mapping) else None
        if not isinstance(defs, Mapping):
            return []
        known = sorted({*catalogue, *map(str, defs)})
        out = []
        for name, d in defs.items():
            out += [Problem(("metrics", name, *q.loc), q.what, q.fix) for q in
                    metric_problems(str(name), d, tables, {"events": _CONTENT_COLUMNS})]
            if isinstance(d, Mapping) and d.get("kind") == "ratio":
                for part in ("numerator", "denominator"):
                    ref = d.get(part)
                    if isinstance(ref, str) and ref not in known:
                        out.append(Problem(("metrics", name, part), f"unknown metric '{ref}'",
                                           did_you_mean(ref, known, label="metrics")))
        return out

    spec = validate(MetricsFile, doc.data, source=str(p), document=doc, checks=[problems])
    for name in spec.metrics:
        catalogue[name] = metric_from_dict(name, doc.data["metrics"][name], str(p))
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

_DAY_SECONDS = 86_400


def _lit_ts(ts: pd.Timestamp) -> ibis.Expr:
    utc = ts.tz_convert("UTC")
    return ibis.timestamp(utc.strftime("%Y-%m-%dT%H:%M:%S.%f"), timezone="UTC")


def _lit_naive(ts: pd.Timestamp) -> ibis.Expr:
    return ibis.timestamp(ts.tz_localize(None).strftime("%Y-%m-%dT%H:%M:%S.%f"))


def where_rule(m: Metric) -> Rule | None:
    """The metric's ``where`` filter as a rule (its mapping form is shorthand for one)."""
    return condition_rule(m.where or None, f"metrics.{m.name}.where", carries=False)


def _filter(t: ibis.Table, m: Metric, tz: str) -> ibis.Expr | None:
    rule = where_rule(m)
    return None if rule is None else selected(rule.to_ibis(t, tz=tz))


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
    names: set[str] = set()
    for m in metrics:
        rule = where_rule(m)
        names |= set(rule.names) if rule is not None else set()
    if table == "events" and names & set(_CONTENT_COLUMNS):
        contents = engine.table("contents")
        c = contents.select(_c_id=contents.content_id, content_type=contents.content_type,
                            product=contents.product)
        t = t.left_join(c, t.content_id == c._c_id).drop("_c_id")
    return t


def _aggregations(t: ibis.Table, specs: list[_Agg], package: Package | None, tz: str
                  ) -> dict[str, ibis.Expr]:
    aggs: dict[str, ibis.Expr] = {}
    for s in specs:
        m, w = s.metric, s.window
        history = m.kind in ("days_since_last", "latest")
        cond = _and(_filter(t, m, tz), _window_cond(t, m, w, history))
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
            assert package is not None
            item = package.items[int(s.part)]
            if item.done_when == "test_pass":
                done = (t.event_type == "test_submit") & (t.value >= PASS_SCORE)
            else:
                done = t.event_type == item.done_when
            aggs[s.column] = t.count(where=_and(cond, done, t.content_id == item.content))
    return aggs


def _resolve_all(metrics: Sequence[Metric | str], catalogue: Mapping[str, Metric]
                 ) -> tuple[list[Metric], dict[str, Metric]]:
    ms: list[Metric | str] = [catalogue[m] if isinstance(m, str) and m in catalogue else m
                              for m in metrics]
    resolved = resolve([m if isinstance(m, str) else m.name for m in ms],
                       {**catalogue, **{m.name: m for m in ms if isinstance(m, Metric)}})
    needed: dict[str, Metric] = {}
    for m in resolved:  # ratios need their parts
        if m.kind == "ratio":
            for part in (m.numerator, m.denominator):
                assert part is not None
                needed.setdefault(part, catalogue[part])
        else:
            needed.setdefault(m.name, m)
    return resolved, needed


def metrics_table(engine: Engine, metrics: Sequence[Metric | str], windows: Sequence[Window],
                  *, package: Package | None = None,
                  catalogue: Mapping[str, Metric] | None = None,
                  partners: Sequence[str] | ibis.Table | None = None,
                  suffix: bool | None = None, prefix: str = "") -> ibis.Table:
    """The metrics of every partner as one ibis table, not yet executed.

    Every value is computed in the engine, so this table can be joined with other per-partner
    expressions (segments, the support score, a rule) into a single query. Columns:
    ``partner_id``, ``joined_at`` and one column per metric and window, named as in
    :func:`compute_metrics` (after ``prefix``).

    Args:
        engine, metrics, windows, package, catalogue, suffix: as for :func:`compute_metrics`.
        partners: restrict to these partners (ids, or a table with ``partner_id``).
        prefix: put before every metric column's name.
    """
    catalogue = dict(catalogue or builtin_metrics())
    ms, needed = _resolve_all(metrics, catalogue)
    use_suffix = len(windows) > 1 if suffix is None else suffix
    if any(m.kind == "package_completion" for m in needed.values()) and package is None:
        raise ConfigError("completion_rate / package_completion need a package",
                          fix="name one: --package ID[@VERSION] on the command line, or "
                              "package= in Python (an experiment's targets use its package)")
    base = engine.table("partners").select("partner_id", "joined_at")
    if isinstance(partners, ibis.Table):
        base = base.filter(base.partner_id.isin(partners.partner_id))
    elif partners is not None:
        base = base.filter(base.partner_id.isin(list(partners)))
    by_table: dict[str, list[_Agg]] = {}
    for m in needed.values():
        for w in windows:
            col = f"{m.name}__{w.name}"
            if m.kind == "package_completion":
                assert package is not None
                for i in range(len(package.items)):
                    by_table.setdefault(m.table, []).append(_Agg(f"{col}__{i}", m, w, str(i)))
            else:
                by_table.setdefault(m.table, []).append(_Agg(col, m, w))
    for table, specs in by_table.items():
        if not engine.has_table(table):
            raise ConfigError(f"metrics need table '{table}', which is not in the engine",
                              fix="load it first (supportlab ingest)")
        t = _table_for(engine, table, [s.metric for s in specs])
        if partners is not None and not isinstance(partners, ibis.Table):
            t = t.filter(t.partner_id.isin(list(partners)))
        q = t.group_by("partner_id").aggregate(**_aggregations(t, specs, package, engine.timezone))
        q = q.rename(_pid="partner_id")
        base = base.left_join(q, base.partner_id == q._pid).drop("_pid")
    finished = {}
    for m in ms:
        for w in windows:
            name = f"{m.name}_{w.name}" if use_suffix else m.name
            finished[prefix + name] = _finish(m, w, base, catalogue, package)
    return base.select("partner_id", "joined_at", **finished)


def _days_between(end: ibis.Expr, start: ibis.Expr) -> ibis.Expr:
    return ((end.epoch_seconds() - start.epoch_seconds()) / _DAY_SECONDS).floor().cast("float64")


def _finish(m: Metric, w: Window, r: ibis.Table, catalogue: Mapping[str, Metric],
            package: Package | None) -> ibis.Expr:
    col = f"{m.name}__{w.name}"
    if m.kind in ("count", "distinct_count"):
        return r[col].fill_null(0).cast("int64")
    if m.kind == "sum":
        return r[col].cast("float64").fill_null(0.0)
    if m.kind == "any":
        return r[col].fill_null(0) > 0
    if m.kind in ("mean", "min", "max", "latest"):
        return r[col].cast("float64")
    if m.kind == "days_since_last":
        days = _days_between(_lit_ts(w.end), r[col])
        if m.if_never == "joined":
            joined = r.joined_at.cast("timestamp")
            since = _days_between(_lit_naive(w.end), joined)
            # a partner who joins after the window's end was not a partner yet: no value
            return days.fill_null(ibis.ifelse(since >= 0, since, ibis.null("float64")))
        if m.if_never != "null":
            return days.fill_null(float(m.if_never))
        return days
    if m.kind == "ratio":
        assert m.numerator is not None and m.denominator is not None
        num = _finish(catalogue[m.numerator], w, r, catalogue, package).cast("float64")
        den = _finish(catalogue[m.denominator], w, r, catalogue, package).cast("float64")
        return num / den.nullif(0.0)
    if m.kind == "package_completion":
        assert package is not None
        n = len(package.items)
        done = [(r[f"{col}__{i}"].fill_null(0) > 0).cast("float64") for i in range(n)]
        total = done[0]
        for d in done[1:]:
            total = total + d
        return total / float(n)
    raise AssertionError(m.kind)


def joined_by(table: ibis.Table, as_of: dt.date | str) -> ibis.Expr:
    """Partners who had joined by ``as_of`` (on that day or before; unknown counts as joined)."""
    day = pd.Timestamp(as_of).date()
    return table.joined_at.isnull() | (table.joined_at.cast("date") <= ibis.literal(day))


def last_data_day(engine: Engine) -> dt.date | None:
    """The day (workspace zone) of the latest event, or None without events."""
    if not engine.has_table("events"):
        return None
    latest = engine.execute(engine.table("events").ts.max())
    if latest is None or pd.isna(latest):
        return None
    stamp = pd.Timestamp(latest)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(engine.timezone).date()


def check_as_of(engine: Engine, as_of: dt.date | str, *, what: str = "features",
                today: dt.date | None = None) -> dt.date:
    """Refuse an as-of date in the future or after the last data of the workspace.

    Features as of a date are a record of what partners did before it: a date after the last
    recorded event would count the days without data as inactivity (every partner "dormant").

    Args:
        engine: where the logs live.
        as_of: the date features, targets or scores are computed as of.
        what: what is computed, for the message ("targets", "the support score", ...).
        today: today's date (default: the system's).

    Returns:
        ``as_of`` as a date.

    Raises:
        ConfigError: ``as_of`` is after today.
        DataValidationError: ``as_of`` is more than a day after the latest event.
    """
    day = pd.Timestamp(as_of).date()
    now = today or dt.date.today()
    if day > now:
        raise ConfigError(f"as of {day} is in the future: {what} are a record of what partners "
                          "did", where="--as-of / as_of",
                          fix=f"give today's date ({now}) or an earlier one")
    last = last_data_day(engine)
    if last is not None and day > last + dt.timedelta(days=1):
        gap = (day - last).days - 1
        raise DataValidationError(
            f"as of {day} is after the last data: the latest event is on {last}, so {what} "
            f"would count {gap:,} day(s) without data as inactivity", where="events",
            fix=f"give --as-of {last + dt.timedelta(days=1)} or earlier, or ingest newer events")
    return day


def compute_metrics(engine: Engine, metrics: Sequence[Metric | str],
                    windows: Sequence[Window], *, package: Package | None = None,
                    catalogue: Mapping[str, Metric] | None = None,
                    partners: Sequence[str] | None = None,
                    suffix: bool | None = None) -> pd.DataFrame:
    """Compute metrics per partner, in the engine, for one or more windows.

    One query covers every metric and window. Only the per-partner results come back to pandas.
    With as-of windows (:func:`window_asof`), partners who joined after the as-of date are left
    out (they were not partners yet), and a date in the future or after the last data is refused
    (:func:`check_as_of`).

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
    q = metrics_table(engine, metrics, windows, package=package, catalogue=catalogue,
                      partners=partners, suffix=suffix)
    as_of = [w.end for w in windows if w.as_of]
    if as_of:
        last = max(as_of).tz_convert(engine.timezone).tz_localize(None).date()
        check_as_of(engine, last, what="metrics")
        q = q.filter(joined_by(q, last))
    result = engine.execute(q.drop("joined_at")).set_index("partner_id")
    result.index.name = "partner_id"
    return result.sort_index()


def with_window_names(metrics: Sequence[str], windows: Sequence[Window]) -> list[str]:
    """Column names :func:`compute_metrics` produces for several windows."""
    return [f"{m}_{w.name}" for m in metrics for w in windows]


def rename_window(w: Window, name: str) -> Window:
    """The same window under another name (its columns are suffixed with it)."""
    return replace(w, name=name)
