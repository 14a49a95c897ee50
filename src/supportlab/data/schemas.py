"""The data model: one pandera ``DataFrameModel`` per canonical table.

These models are the contract for users' exports (DESIGN §4). They serve twice:

* in pandas, ``validate_frame(df, "events")`` runs pandera lazily and returns a short, human
  :class:`ValidationReport` (per column and check: the count of failures and a few example rows);
* in the workspace database, :func:`sql_checks` compiles the very same checks into SQL, so that
  ingesting millions of rows validates them in the engine, row by row, without pandas.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"partner_id": ["P1"], "product": ["A"]})
    >>> validate_frame(df, "partner_products").ok
    True
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.engines.pandas_engine import DateTime
from pandera.extensions import register_check_method
from pandera.typing import Series

from supportlab import vocab
from supportlab.display import Section, Table, check_lang, render_html
from supportlab.errors import DataValidationError

__all__ = [
    "CONTENT_TYPES",
    "DEAL_STAGES",
    "DECISIONS",
    "EVENT_TYPES",
    "RANKS",
    "TABLES",
    "TASK_STATUSES",
    "Assignments",
    "Contents",
    "Deals",
    "Decisions",
    "Events",
    "PartnerProducts",
    "Partners",
    "TableSpec",
    "Tasks",
    "ValidationReport",
    "sql_checks",
    "table_spec",
    "validate_frame",
]

RANKS = list(vocab.RANKS)
CONTENT_TYPES = list(vocab.CONTENT_TYPES)
EVENT_TYPES = list(vocab.EVENT_TYPES)
PERCENT_EVENT_TYPES = list(vocab.PERCENT_EVENT_TYPES)
DEAL_STAGES = list(vocab.DEAL_STAGES)
TASK_STATUSES = list(vocab.TASK_STATUSES)
DECISIONS = list(vocab.LOGGED_DECISIONS)

#: tolerated clock skew for "not in the future" checks
FUTURE_TOLERANCE_DAYS = 1
#: ``joined_at`` and other dates before this are treated as typos
EARLIEST_DATE = "1970-01-01"

TZ = DateTime(time_zone_agnostic=True, tz="UTC")  # any timezone, but a timezone
NAIVE = DateTime()


# -- custom checks (registered once; statistics make them compilable to SQL) -----------------

def _register() -> None:
    @register_check_method(statistics=["tolerance_days"])
    def not_in_future(series: pd.Series, *, tolerance_days: int) -> pd.Series:
        limit = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=tolerance_days)
        s = series
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC")
        else:
            limit = limit.tz_localize(None)
        return s.isna() | (s <= limit)

    @register_check_method(statistics=["min_value"])
    def not_before(series: pd.Series, *, min_value: str) -> pd.Series:
        lim = pd.Timestamp(min_value)
        s = series
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            lim = lim.tz_localize("UTC")
        return s.isna() | (s >= lim)

    @register_check_method(statistics=[])
    def not_blank(series: pd.Series) -> pd.Series:
        return series.isna() | (series.astype("string").str.strip().str.len() > 0)

    @register_check_method(statistics=["types", "min_value", "max_value"], check_type="vectorized")
    def percent_for_types(df: pd.DataFrame, *, types: list[str], min_value: float,
                          max_value: float) -> pd.Series:
        hit = df["event_type"].isin(types) & df["value"].notna()
        return ~hit | df["value"].between(min_value, max_value)

    @register_check_method(statistics=[], check_type="vectorized")
    def stage_matches_won(df: pd.DataFrame) -> pd.Series:
        won = df["won"]
        bad = won.notna() & (((won == True) & (df["stage"] != "won"))  # noqa: E712
                             | ((won == False) & (df["stage"] != "lost")))  # noqa: E712
        return ~bad.fillna(False).astype(bool)

    @register_check_method(statistics=["start", "end"], check_type="vectorized")
    def end_after_start(df: pd.DataFrame, *, start: str, end: str) -> pd.Series:
        return df[start].isna() | df[end].isna() | (df[end] >= df[start])


try:
    _register()
except (ValueError, AttributeError):  # pragma: no cover - already registered on reload
    pass


def _key(**kw: Any) -> Any:
    return pa.Field(nullable=False, not_blank=(), **kw)


def _when(**kw: Any) -> Any:
    return pa.Field(not_in_future={"tolerance_days": FUTURE_TOLERANCE_DAYS},
                    not_before={"min_value": EARLIEST_DATE}, **kw)


def _instant(**kw: Any) -> Any:
    """A timezone-aware timestamp; naive values fail instead of being guessed as UTC."""
    return _when(coerce=False, **kw)


class _Base(pa.DataFrameModel):
    class Config:
        coerce = True
        strict = False  # extra columns are kept in pandas, ignored by the workspace


class Partners(_Base):
    """One row per partner company."""

    partner_id: Series[str] = _key()
    name: Series[str] = pa.Field(nullable=False, not_blank=())
    rank: Series[str] = pa.Field(isin=RANKS)
    region: Series[str] = pa.Field(nullable=True)
    joined_at: Series[NAIVE] = _when(nullable=True)  # a date
    manager: Series[str] = pa.Field(nullable=True)

    class Config:
        unique = ["partner_id"]


class PartnerProducts(_Base):
    """One row per partner × product carried."""

    partner_id: Series[str] = _key()
    product: Series[str] = _key()

    class Config:
        unique = ["partner_id", "product"]


class Contents(_Base):
    """One row per deliverable item (video, template, training, ...)."""

    content_id: Series[str] = _key()
    content_type: Series[str] = pa.Field(isin=CONTENT_TYPES)
    product: Series[str] = pa.Field(nullable=True)
    version: Series[int] = pa.Field(ge=1)
    title: Series[str] = pa.Field(nullable=True)

    class Config:
        unique = ["content_id"]


class Events(_Base):
    """One row per PRM behaviour-log entry."""

    event_id: Series[str] = _key()
    partner_id: Series[str] = _key()
    user_id: Series[str] = pa.Field(nullable=True)
    ts: Series[TZ] = _instant(nullable=False)
    event_type: Series[str] = pa.Field(isin=EVENT_TYPES)
    content_id: Series[str] = pa.Field(nullable=True)
    value: Series[float] = pa.Field(nullable=True, ge=0)

    class Config:
        unique = ["event_id"]
        percent_for_types = {"types": PERCENT_EVENT_TYPES, "min_value": 0, "max_value": 100}


class Deals(_Base):
    """One row per deal registration / opportunity."""

    deal_id: Series[str] = _key()
    partner_id: Series[str] = _key()
    product: Series[str] = pa.Field(nullable=True)
    registered_at: Series[TZ] = _instant(nullable=False)
    stage: Series[str] = pa.Field(isin=DEAL_STAGES)
    amount: Series[float] = pa.Field(nullable=True, ge=0)
    closed_at: Series[TZ] = _instant(nullable=True)
    won: Series[pd.BooleanDtype] = pa.Field(nullable=True)

    class Config:
        unique = ["deal_id"]
        end_after_start = {"start": "registered_at", "end": "closed_at"}
        stage_matches_won = ()


class Assignments(_Base):
    """One row per partner in an experiment (immutable once written)."""

    experiment_id: Series[str] = _key()
    partner_id: Series[str] = _key()
    arm: Series[str] = _key()
    stratum: Series[str] = pa.Field(nullable=True)
    assigned_at: Series[TZ] = _instant(nullable=False)
    seed: Series[int] = pa.Field(nullable=False, ge=0)
    block: Series[str] = pa.Field(nullable=True)  # pair or block of a blocked design
    probability: Series[float] = pa.Field(nullable=True, ge=0, le=1)  # of this partner's arm
    phase: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)

    class Config:
        unique = ["experiment_id", "partner_id", "phase"]  # a new phase re-assigns


class Tasks(_Base):
    """One row per delivery task registered in the PRM."""

    task_id: Series[str] = _key()
    experiment_id: Series[str] = _key()
    partner_id: Series[str] = _key()
    week: Series[int] = pa.Field(ge=1)
    content_id: Series[str] = _key()
    due_date: Series[NAIVE] = pa.Field(nullable=True)  # a date
    status: Series[str] = pa.Field(isin=TASK_STATUSES)
    owner: Series[str] = pa.Field(nullable=True)  # the partner's manager
    done_when: Series[str] = pa.Field(nullable=True)
    wave: Series[str] = pa.Field(nullable=True)  # treatment, or waitlist (after the horizon)
    updated_at: Series[TZ] = _instant(nullable=True)

    class Config:
        unique = ["task_id"]


class Decisions(_Base):
    """One row per decision on a package version (append-only log)."""

    package_id: Series[str] = _key()
    version: Series[int] = pa.Field(ge=1)
    experiment_id: Series[str] = _key()
    decision: Series[str] = pa.Field(isin=DECISIONS)
    reasons: Series[str] = pa.Field(nullable=True)
    decided_at: Series[TZ] = _instant(nullable=False)
    report: Series[str] = pa.Field(nullable=True)
    computed: Series[str] = pa.Field(nullable=True)  # the evaluation's decision
    override_reason: Series[str] = pa.Field(nullable=True)  # required when it differs
    decided_by: Series[str] = pa.Field(nullable=True)
    metric: Series[str] = pa.Field(nullable=True)  # the primary metric, with its estimate
    effect: Series[float] = pa.Field(nullable=True)
    std_error: Series[float] = pa.Field(nullable=True, ge=0)
    ci_lower: Series[float] = pa.Field(nullable=True)
    ci_upper: Series[float] = pa.Field(nullable=True)
    cohort: Series[str] = pa.Field(nullable=True)  # who received it (segment, period)

    class Config:
        unique = ["experiment_id", "decided_at"]


# -- table specs -----------------------------------------------------------------------------

#: columns whose values are calendar dates (stored as DATE, not TIMESTAMPTZ)
_DATE_COLUMNS = {("partners", "joined_at"), ("tasks", "due_date")}

#: foreign keys checked across tables: (table, column) -> (table, column)
FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("partner_products", "partner_id"): ("partners", "partner_id"),
    ("events", "partner_id"): ("partners", "partner_id"),
    ("events", "content_id"): ("contents", "content_id"),
    ("deals", "partner_id"): ("partners", "partner_id"),
    ("assignments", "partner_id"): ("partners", "partner_id"),
    ("tasks", "partner_id"): ("partners", "partner_id"),
    ("tasks", "content_id"): ("contents", "content_id"),
}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a canonical table as the workspace stores it."""

    name: str
    sql_type: str
    nullable: bool
    checks: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its pandera model, columns, key and table-wide checks."""

    name: str
    model: type[pa.DataFrameModel]
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    table_checks: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required(self) -> list[str]:
        """Columns an export must provide (non-nullable ones)."""
        return [c.name for c in self.columns if not c.nullable]


def _sql_type(table: str, name: str, dtype: Any) -> str:
    if (table, name) in _DATE_COLUMNS:
        return "DATE"
    text = str(dtype)
    if "UTC" in text or ("tz" in text.lower() and "datetime" in text):
        return "TIMESTAMPTZ"
    if text.startswith("datetime"):
        return "TIMESTAMP"
    if text.lower().startswith("int"):
        return "BIGINT"
    if text.startswith("float"):
        return "DOUBLE"
    if text.lower().startswith("bool"):
        return "BOOLEAN"
    return "VARCHAR"


def _build_spec(name: str, model: type[pa.DataFrameModel]) -> TableSpec:
    schema = model.to_schema()
    cols = []
    for cname, col in schema.columns.items():
        checks = tuple((c.name, dict(c.statistics or {})) for c in col.checks)
        cols.append(ColumnSpec(cname, _sql_type(name, cname, col.dtype), bool(col.nullable), checks))
    table_checks = tuple((c.name, dict(c.statistics or {})) for c in schema.checks)
    unique = schema.unique or []
    key = tuple([unique] if isinstance(unique, str) else unique)
    return TableSpec(name, model, tuple(cols), key, table_checks)


TABLES: dict[str, TableSpec] = {
    name: _build_spec(name, model)
    for name, model in [
        ("partners", Partners), ("partner_products", PartnerProducts), ("contents", Contents),
        ("events", Events), ("deals", Deals), ("assignments", Assignments), ("tasks", Tasks),
        ("decisions", Decisions),
    ]
}


def table_spec(table: str) -> TableSpec:
    """Return the spec of a canonical table, with a helpful error for unknown names."""
    try:
        return TABLES[table]
    except KeyError:
        import difflib

        near = difflib.get_close_matches(table, TABLES, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise DataValidationError(
            f"unknown table '{table}'",
            fix=f"{hint}Known tables: {', '.join(TABLES)}.",
        ) from None


# -- validation reports -----------------------------------------------------------------------

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Failure:
    """One failing (column, check) pair: how many rows fail and a few examples."""

    table: str
    column: str
    check: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one table (or a whole workspace).

    Attributes:
        failures: one entry per (table, column, check) that failed.
        failure_cases: the full tidy failure table (``table, column, check, failure_case, row``).
    """

    failures: tuple[Failure, ...] = ()
    failure_cases: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(f.table, f.column, f.check, f.count, "; ".join(f.examples)) for f in self.failures],
            columns=["table", "column", "check", "failures", "examples"],
        )

    def __str__(self) -> str:
        if self.ok:
            return "all checks passed"
        lines = []
        for f in self.failures:
            ex = ", ".join(f.examples)
            lines.append(f"{f.table}.{f.column}: {f.check} ({f.count:,} row(s), e.g. {ex})")
        return "\n".join(lines)

    def to_section(self, lang: str = "en") -> Section:
        """The report as a :class:`~supportlab.display.Section`: ok, or one row per failure."""
        ja = check_lang(lang) == "ja"
        if self.ok:
            return Section("検証" if ja else "Validation",
                           headline="すべての検査に合格" if ja else "all checks passed")
        rows = sum(f.count for f in self.failures)
        headline = (f"{len(self.failures):,} 件の検査で {rows:,} 行が不合格" if ja
                    else f"{len(self.failures):,} failing check(s), {rows:,} row(s)")
        table = Table("失敗" if ja else "failures",
                      ("テーブル", "列", "検査", "行数", "例") if ja
                      else ("table", "column", "check", "rows", "examples"),
                      tuple((f.table, f.column, f.check, f"{f.count:,}", ", ".join(f.examples))
                            for f in self.failures),
                      ("left", "left", "left", "right", "left"))
        return Section("検証" if ja else "Validation", (table,), headline)

    def _repr_html_(self) -> str:
        return render_html(self.to_section())

    def __add__(self, other: ValidationReport) -> ValidationReport:
        return ValidationReport(
            self.failures + other.failures,
            pd.concat([self.failure_cases, other.failure_cases], ignore_index=True),
        )


#: the value types of the workspace in the user's words (shared by ingest and validate_frame)
TYPE_WORDS = {"VARCHAR": "text", "BIGINT": "whole number", "DOUBLE": "number",
              "BOOLEAN": "true/false value", "DATE": "date", "TIMESTAMPTZ": "timestamp",
              "TIMESTAMP": "date and time"}

#: empty stand-ins for optional columns a frame leaves out (ingest reads them as empty too)
_EMPTY_DTYPES = {"TIMESTAMPTZ": "datetime64[ns, UTC]", "DATE": "datetime64[ns]",
                 "TIMESTAMP": "datetime64[ns]", "DOUBLE": "float64", "BOOLEAN": "boolean",
                 "BIGINT": "Int64"}


def validate_frame(df: pd.DataFrame, table: str) -> ValidationReport:
    """Validate a pandas DataFrame against a canonical table's schema, lazily.

    Failures are named in the words ingest uses (``must be one of S, A, B, C``, ``must not be
    in the future``, ``not a number``, ``key must be unique``). Optional columns may be left
    out, as in an export.

    Args:
        df: the data, with canonical column names.
        table: the canonical table name, e.g. ``"events"``.

    Returns:
        A :class:`ValidationReport`; ``report.ok`` is True when every check passed.

    Example:
        >>> bad = pd.DataFrame({"partner_id": ["P1"], "name": ["Acme"], "rank": ["Z"]})
        >>> print(validate_frame(bad, "partners"))
        partners.rank: must be one of S, A, B, C (1 row(s), e.g. row 0: 'Z')
    """
    spec = table_spec(table)
    naive = []
    for col in spec.columns:
        if col.sql_type == "TIMESTAMPTZ" and col.name in df.columns:
            s = df[col.name]
            if not isinstance(s.dtype, pd.DatetimeTZDtype) and s.notna().any():
                naive.append(Failure(table, col.name, "must be timezone-aware", int(s.notna().sum()),
                                     (f"dtype {s.dtype}; localize with "
                                      ".dt.tz_localize('Asia/Tokyo') or your zone",)))
    pre = ValidationReport(tuple(naive))
    absent = [c for c in spec.columns if c.nullable and c.name not in df.columns]
    if naive or absent:  # run the remaining checks on a stand-in so each problem is reported once
        df = df.copy()
        for f in naive:
            df[f.column] = pd.to_datetime(df[f.column], errors="coerce").dt.tz_localize("UTC")
        for c in absent:
            df[c.name] = pd.Series(pd.NA if c.sql_type in ("BOOLEAN", "BIGINT") else None,
                                   index=df.index, dtype=_EMPTY_DTYPES.get(c.sql_type, object))
    return pre + _validate_pandera(df, spec)


def _in_user_words(spec: TableSpec, context: str, column: str, check: str,
                   number: Any, case: Any) -> tuple[str, str]:
    """(column, check) of one pandera failure, in the words of ingest's reasons."""
    n = None if number is None or pd.isna(number) else int(number)
    if context == "Column" and column in spec.column_names:
        col = spec.column(column)
        if check == "not_nullable":
            return column, "is required"
        if check.startswith(("coerce_dtype(", "dtype(")):
            return column, f"not a {TYPE_WORDS.get(col.sql_type, col.sql_type.lower())}"
        if n is not None and n < len(col.checks):
            name, stats = col.checks[n]
            return column, _column_failure_sql(col, name, stats)[0]
    elif check == "column_in_dataframe":
        return str(case), "column is missing (required)"
    elif "uniqueness" in check or check == "unique":
        return "+".join(spec.key), "key must be unique"
    elif n is not None and n < len(spec.table_checks):
        name, stats = spec.table_checks[n]
        target, label, _ = _table_failure_sql(name, stats)
        return target, label
    return column, check


def _validate_pandera(df: pd.DataFrame, spec: TableSpec) -> ValidationReport:
    table = spec.name
    try:
        spec.model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases.copy()
        fc["check"] = fc["check"].astype(str)
        fc["column"] = fc["column"].fillna("(table)").astype(str)
        # a value that is not of the column's type is reported once, as such: drop the
        # repeated dtype failure and the checks that could not compare it
        coerced = fc["check"].str.startswith("coerce_dtype(")
        if coerced.any():
            typed = set(fc.loc[coerced, "column"])
            repeat = fc["check"].str.startswith("dtype(") & fc["column"].isin(typed)
            failed = fc["failure_case"].map(lambda v: isinstance(v, str) and v.startswith(
                "TypeError(")) & fc["index"].isna()
            fc = fc[~(repeat | failed)]
        cache: dict[tuple[Any, ...], tuple[str, str]] = {}
        pairs = []
        for ctx, col, chk, num, case in zip(fc["schema_context"], fc["column"], fc["check"],
                                            fc["check_number"], fc["failure_case"], strict=True):
            key = (ctx, col, chk, None if pd.isna(num) else int(num),
                   str(case) if chk == "column_in_dataframe" else None)
            if key not in cache:
                cache[key] = _in_user_words(spec, str(ctx), col, chk, key[3], case)
            pairs.append(cache[key])
        fc["column"] = [c for c, _ in pairs]
        fc["check"] = [w for _, w in pairs]
        failures = []
        for (col, chk), grp in fc.groupby(["column", "check"], sort=False):
            if grp["index"].notna().all():  # a table-wide check reports each cell of a row
                grp = grp.drop_duplicates("index")
            examples = []
            for _, r in grp.head(MAX_EXAMPLES).iterrows():
                idx = r.get("index")
                where = f"row {idx}" if idx is not None and not pd.isna(idx) else "table"
                v = r["failure_case"]
                examples.append(f"{where}: {v!r}" if isinstance(v, str) else f"{where}: {v}")
            failures.append(Failure(table, str(col), str(chk), len(grp), tuple(examples)))
        tidy = fc.rename(columns={"index": "row"})[["column", "check", "failure_case", "row"]]
        tidy.insert(0, "table", table)
        return ValidationReport(tuple(failures), tidy)
    return ValidationReport()


# -- compiling checks to SQL ------------------------------------------------------------------


def _lit(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return "'" + value.isoformat() + "'"
    raise TypeError(f"cannot render {value!r} as SQL")


def quote_ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _column_failure_sql(col: ColumnSpec, check: str, stats: dict[str, Any]) -> tuple[str, str]:
    """Return (human label, SQL predicate that is TRUE when the value FAILS the check)."""
    c = quote_ident(col.name)
    if check == "isin":
        allowed = ", ".join(_lit(v) for v in stats["allowed_values"])
        return f"must be one of {', '.join(map(str, stats['allowed_values']))}", \
            f"{c} IS NOT NULL AND {c} NOT IN ({allowed})"
    if check == "greater_than_or_equal_to":
        return f"must be >= {stats['min_value']}", f"{c} < {_lit(stats['min_value'])}"
    if check == "less_than_or_equal_to":
        return f"must be <= {stats['max_value']}", f"{c} > {_lit(stats['max_value'])}"
    if check == "greater_than":
        return f"must be > {stats['min_value']}", f"{c} <= {_lit(stats['min_value'])}"
    if check == "not_blank":
        # a blank value starts below '!' (whitespace sorts first): a cheap test before trim
        return "must not be blank", (f"{c} IS NOT NULL AND {c} < '!' AND "
                                     f"trim({c}, ' ' || chr(9) || chr(10) || chr(13)) = ''")
    if check == "not_in_future":
        days = int(stats["tolerance_days"])
        if col.sql_type == "DATE":
            return "must not be in the future", f"{c} > current_date + {days}"
        return "must not be in the future", f"{c} > now() + INTERVAL {days} DAY"
    if check == "not_before":
        return f"must not be before {stats['min_value']}", f"{c} < {_lit(stats['min_value'])}"
    raise NotImplementedError(f"no SQL form for check {check!r} on column {col.name!r}")


def _table_failure_sql(check: str, stats: dict[str, Any]) -> tuple[str, str, str]:
    if check == "percent_for_types":
        types = ", ".join(_lit(t) for t in stats["types"])
        lo, hi = stats["min_value"], stats["max_value"]
        return ("value", f"must be within {lo}–{hi} for {'/'.join(stats['types'])}",
                f"event_type IN ({types}) AND value IS NOT NULL AND (value < {lo} OR value > {hi})")
    if check == "stage_matches_won":
        return ("won", "must agree with stage (won = true for stage won, false for stage lost)",
                "won IS NOT NULL AND ((won AND stage <> 'won') OR (NOT won AND stage <> 'lost'))")
    if check == "end_after_start":
        s, e = quote_ident(stats["start"]), quote_ident(stats["end"])
        return (stats["end"], f"must not be before {stats['start']}", f"{e} < {s}")
    raise NotImplementedError(f"no SQL form for table check {check!r}")


def sql_checks(table: str) -> list[tuple[str, str, str]]:
    """Compile a table's schema checks to SQL.

    Returns:
        ``(column, human label, failure predicate)`` triples; a predicate is TRUE for rows
        that fail (NULL counts as passing, nullability is checked separately).
    """
    spec = table_spec(table)
    out: list[tuple[str, str, str]] = []
    for col in spec.columns:
        if not col.nullable:
            out.append((col.name, "is required", f"{quote_ident(col.name)} IS NULL"))
        for name, stats in col.checks:
            label, pred = _column_failure_sql(col, name, stats)
            out.append((col.name, label, pred))
    for name, stats in spec.table_checks:
        out.append(_table_failure_sql(name, stats))
    return out
