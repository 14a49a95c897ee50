"""The SQL that types, maps and checks input rows during ingest, row by row in the engine.

A file's columns are cast to the canonical types (Japanese date formats, ``¥1,200``, ``はい``/
``いいえ`` included), export values are mapped, and each row gets its reasons for rejection in
the user's words (``rank: must be one of S, A, B, C``; ``partner_id: unknown partner (not in
partners)``), built from the same compiled checks as :func:`supportlab.data.schemas.sql_checks`.
No row ever passes through Python.

Example:
    >>> from supportlab.data.schemas import table_spec
    >>> "rank: must be one of S, A, B, C" in reason_sql(table_spec("partners"), [], [], missing={})
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from supportlab.data.schemas import FOREIGN_KEYS, TYPE_WORDS, TableSpec, quote_ident, sql_checks
from supportlab.data.sources import HeaderMapping, Source, sql_str


class Reference(NamedTuple):
    """A reference the ingested rows must satisfy, e.g. ``events.partner_id`` → ``partners``."""

    column: str  #: the referencing column of the ingested table
    table: str  #: the referenced table
    keys: str  #: temporary table (column ``k``) of the referenced table's keys
    empty: bool  #: the referenced table has no rows yet

__all__ = ["SENTINEL", "Reference", "fails_sql", "id_columns", "key_expr", "reason_sql",
           "record_sql", "stage_sql", "value_map"]




_TRUE = ("true", "t", "1", "yes", "y", "はい", "○", "won", "受注")


_FALSE = ("false", "f", "0", "no", "n", "いいえ", "×", "lost", "失注")


def _cast(raw: str, sql_type: str, source_type: str) -> str:
    if source_type != "VARCHAR":
        if source_type == sql_type:
            return raw
        if sql_type == "VARCHAR":
            return f"CAST({raw} AS VARCHAR)"
        if sql_type == "BIGINT" and (source_type in ("DOUBLE", "FLOAT")
                                     or source_type.startswith("DECIMAL")):
            return f"CASE WHEN {raw} = trunc({raw}) THEN TRY_CAST({raw} AS BIGINT) END"
        return f"TRY_CAST({raw} AS {sql_type})"
    if sql_type == "VARCHAR":
        return raw
    if sql_type == "TIMESTAMPTZ":
        return (f"coalesce(TRY_CAST({raw} AS TIMESTAMPTZ), CAST(try_strptime({raw}, "
                "['%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d', '%Y年%m月%d日 %H:%M:%S', "
                "'%Y年%m月%d日']) AS TIMESTAMPTZ))")
    if sql_type == "DATE":
        return (f"coalesce(TRY_CAST({raw} AS DATE), CAST(TRY_CAST({raw} AS TIMESTAMP) AS DATE), "
                f"CAST(try_strptime({raw}, ['%Y/%m/%d', '%Y年%m月%d日']) AS DATE))")
    if sql_type == "DOUBLE":
        return (f"coalesce(TRY_CAST({raw} AS DOUBLE), "
                f"TRY_CAST(regexp_replace({raw}, '[,¥￥円\\s]', '', 'g') AS DOUBLE))")
    if sql_type == "BIGINT":  # whole numbers only: 1.5 is not rounded into 2
        d = f"TRY_CAST({raw} AS DOUBLE)"
        return (f"CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]+') THEN "
                f"TRY_CAST(trim({raw}) AS BIGINT) WHEN {d} = trunc({d}) THEN "
                f"TRY_CAST({d} AS BIGINT) END")
    if sql_type == "BOOLEAN":
        t = ", ".join(sql_str(v) for v in _TRUE)
        f = ", ".join(sql_str(v) for v in _FALSE)
        return (f"CASE WHEN lower(trim({raw})) IN ({t}) THEN TRUE "
                f"WHEN lower(trim({raw})) IN ({f}) THEN FALSE END")
    return f"TRY_CAST({raw} AS {sql_type})"


def value_map(raw: str, values: Mapping[str, str]) -> str:
    if not values:
        return raw
    whens = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in values.items())
    return f"CASE {raw} {whens} ELSE {raw} END"


def stage_sql(spec: TableSpec, src: Source, mapping: HeaderMapping,
               fk_filters: list[Reference], from_sql: str) -> str:
    by_canon: dict[str, str] = {}
    for h in src.headers:
        by_canon.setdefault(mapping.canonical(h), h)
    inner, typed_cols, raw_cols, type_fail = [], [], [], []
    raw_of: dict[str, str] = {}
    for i, col in enumerate(spec.columns):
        rname = f"_r{i}"
        if col.name in by_canon:
            h = by_canon[col.name]
            stype = src.types[h]
            raw = quote_ident(h)
            if stype == "VARCHAR":
                if col.sql_type != "VARCHAR":
                    raw = f"NULLIF(trim({raw}), '')"
                elif col.name in id_columns(spec):
                    raw = f"trim({raw})"
            raw = value_map(raw, mapping.values.get(col.name, {})) if stype == "VARCHAR" else raw
            inner.append(f"{raw} AS {rname}")
            raw_cols.append((h, rname))
            raw_of[col.name] = rname
            type_fail.append(
                f"CASE WHEN {rname} IS NOT NULL AND {quote_ident(col.name)} IS NULL THEN "
                f"{sql_str(col.name + ': not a ' + TYPE_WORDS.get(col.sql_type, col.sql_type))} END")
            typed = _cast(rname, col.sql_type, stype)
        else:
            typed = f"CAST(NULL AS {col.sql_type})"
        typed_cols.append(f"{typed} AS {quote_ident(col.name)}")
    # checks (NULL-safe; a failed cast is reported once, as a type failure)
    reasons = reason_sql(spec, fk_filters, type_fail,
                         missing={c: f"{r} IS NULL" for c, r in raw_of.items()})
    record = "json_object(" + ", ".join(f"{sql_str(h)}, {r}" for h, r in raw_cols) + ")"
    canon = ", ".join(quote_ident(c.name) for c in spec.columns)
    return (f"SELECT {canon}, _reason, CASE WHEN _reason IS NULL THEN NULL ELSE {record} END "
            f"AS _record FROM (SELECT *, {reasons} AS _reason FROM "
            f"(SELECT *, {', '.join(typed_cols)} FROM (SELECT {', '.join(inner) or '1 AS _none'} "
            f"FROM {from_sql})))")


# Rows are appended straight into the target inside the transaction, then checked there and the
# failures moved to quarantine: one streaming pass over the file, like a plain load. Required
# columns that arrive empty are held by a sentinel (never visible: the check below quarantines and
# deletes those rows before the transaction commits).
SENTINEL = {
    "VARCHAR": "chr(1)",
    "TIMESTAMPTZ": "TIMESTAMPTZ '0001-01-01 00:00:00+00'",
    "DATE": "DATE '0001-01-01'",
    "BIGINT": "(-9223372036854775807)",
    "DOUBLE": "(-1.7976931348623157e308)",
}


def id_columns(spec: TableSpec) -> set[str]:
    """Identifier columns, whose surrounding spaces are an export artefact, not data."""
    refs = {c for (t, c) in FOREIGN_KEYS if t == spec.name}
    return (set(spec.key) | refs) & {c.name for c in spec.columns if c.sql_type == "VARCHAR"}


def reason_sql(spec: TableSpec, fk_filters: list[Reference], first: list[str], *,
                missing: dict[str, str], guard: bool = False) -> str:
    """SQL giving each row's reasons for rejection ('; '-joined), NULL when it passes."""
    reasons = list(first) + [f"CASE WHEN {cond} THEN {sql_str(text)} END"
                             for cond, text in _failures(spec, fk_filters, missing, guard)]
    return "NULLIF(concat_ws('; ', " + ", ".join(reasons) + "), '')"


def fails_sql(spec: TableSpec, fk_filters: list[Reference], *,
               missing: dict[str, str], guard: bool = False) -> str:
    """SQL that is TRUE when a row fails any check (cheaper than building the reasons)."""
    conds = [f"({cond})" for cond, _ in _failures(spec, fk_filters, missing, guard)]
    return " OR ".join(conds) or "FALSE"


def _failures(spec: TableSpec, fk_filters: list[Reference], missing: dict[str, str],
              guard: bool) -> list[tuple[str, str]]:
    """Each check as (condition TRUE on failure, reason text).

    Args:
        spec: the table.
        fk_filters: the references to check.
        first: reason expressions that come first (type failures).
        missing: per required column, the condition meaning "no value" (else ``IS NULL``).
        guard: skip a column's other checks when it has no value (reported once).
    """
    def has_value(col: str) -> str:
        return f"NOT ({missing[col]}) AND " if guard and col in missing else ""

    out = []
    for column, label, pred in sql_checks(spec.name):
        text = f"{column}: {label}"
        if label == "is required":
            out.append((missing.get(column, pred), text))
        else:
            out.append((f"{has_value(column)}coalesce({pred}, FALSE)", text))
    for r in fk_filters:
        what = r.column.removesuffix("_id")
        label = (f"{r.column}: unknown {what} (the {r.table} table is empty: ingest {r.table} "
                 "first)" if r.empty else f"{r.column}: unknown {what} (not in {r.table})")
        c = quote_ident(r.column)
        out.append((f"{has_value(r.column)}{c} IS NOT NULL AND {c} NOT IN (SELECT k FROM {r.keys})",
                    label))
    return out


def key_expr(spec: TableSpec) -> str:
    """The key as one value (a struct for composite keys), for DISTINCT counts."""
    cols = [quote_ident(k) for k in spec.key]
    return cols[0] if len(cols) == 1 else "struct_pack(" + ", ".join(
        f"{c} := {c}" for c in cols) + ")"


def record_sql(spec: TableSpec, alias: str = "t") -> str:
    parts = []
    for c in spec.columns:
        v = f"{alias}.{quote_ident(c.name)}"
        if not c.nullable:
            v = f"CASE WHEN {v} = {SENTINEL.get(c.sql_type, 'NULL')} THEN NULL ELSE {v} END"
        parts.append(f"{quote_ident(c.name)} := {v}")
    return "CAST(to_json(struct_pack(" + ", ".join(parts) + ")) AS VARCHAR)"
