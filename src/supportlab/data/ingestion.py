"""Loading PRM exports into the workspace: read, map, validate, quarantine, append — atomically.

Supported inputs: CSV (UTF-8, UTF-8 with BOM, Shift_JIS/cp932; detected, or set with
``encoding=``), Parquet and Excel ``.xlsx``. A mapping file renames an export's columns (Japanese
headers included) and, optionally, its values to the canonical ones of :mod:`supportlab.data.schemas`::

    # mappings/events.yaml
    table: events
    columns: {イベントID: event_id, 代理店ID: partner_id, 日時: ts, 種別: event_type}
    values:
      event_type: {ログイン: login, 視聴: view}

Every row is checked in the engine against the table's schema (compiled to SQL); valid rows are
appended, invalid rows go to the ``quarantine`` table with the reason and their original values,
and rows whose key is already loaded are skipped (identical) or quarantined (different values).
All files of one call are loaded in a single transaction: an error or a kill leaves the database
exactly as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from supportlab.data.encoding import detect_encoding
from supportlab.data.schemas import FOREIGN_KEYS, TableSpec, quote_ident, table_spec
from supportlab.data.sources import (
    STRUCTURAL_ERRORS,
    Source,
    csv_error,
    csv_source,
    excel_source,
    parquet_source,
    rejected_lines_frame,
    sql_str,
    structural_error,
)
from supportlab.data.staging import (
    SENTINEL,
    Reference,
    fails_sql,
    id_columns,
    key_expr,
    reason_sql,
    record_sql,
    stage_sql,
    value_map,
)
from supportlab.data.workspace import Workspace
from supportlab.display import Bullets, Field, Section, Table, check_lang, label, render_html
from supportlab.errors import ConfigError, DataValidationError, InputFileError

__all__ = ["ColumnMapping", "FileSummary", "IngestSummary", "detect_encoding", "ingest",
           "load_mapping"]

#: header names that often mean a canonical column (used for hints only, never silently)
_SYNONYMS = {
    "ts": ("timestamp", "datetime", "time", "date", "occurred_at", "event_time", "日時", "発生日時"),
    "partner_id": ("partner", "agency_id", "reseller_id", "代理店id", "代理店コード"),
    "event_type": ("type", "event", "action", "種別", "イベント種別"),
    "registered_at": ("created_at", "date", "登録日", "登録日時"),
    "amount": ("value", "price", "金額", "見込金額"),
}


@dataclass(frozen=True)
class ColumnMapping:
    """How an export's columns (and values) map to a canonical table."""

    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    table: str | None = None
    sheet: str | None = None

    def canonical(self, header: str) -> str:
        return self.columns.get(header, self.columns.get(header.strip(), header.strip()))


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read a mapping YAML file (keys: ``table``, ``columns``, ``values``, ``sheet``).

    Every problem of the file is reported at once, each as ``file: key.path`` (the one
    configuration loader, :mod:`supportlab.config.loader`); with a ``table``, the canonical
    columns it names are checked against that table.
    """
    from supportlab.config.checks import mapping_problems
    from supportlab.config.loader import load_file
    from supportlab.config.models import MappingFile
    from supportlab.data.schemas import TABLES

    tables = {t: TABLES[t].column_names for t in TABLES}
    spec = load_file(path, MappingFile, checks=[lambda raw: mapping_problems(raw, tables)])
    return ColumnMapping(
        columns={k.strip(): v for k, v in spec.columns.items()},
        values={c: dict(m) for c, m in spec.values.items()},
        table=spec.table,
        sheet=spec.sheet,
    )


@dataclass(frozen=True)
class FileSummary:
    """What happened to one input file."""

    source: str
    encoding: str | None
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    duplicates_skipped: int
    reasons: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = ()
    #: invalid rows identical to rows an earlier ingest quarantined (not quarantined again)
    already_quarantined: int = 0


@dataclass(frozen=True)
class IngestSummary:
    """What an ingest call did, file by file."""

    table: str
    batch_id: str
    files: tuple[FileSummary, ...]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def duplicates_skipped(self) -> int:
        return sum(f.duplicates_skipped for f in self.files)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([
            {"source": f.source, "encoding": f.encoding, "read": f.rows_read,
             "loaded": f.rows_loaded, "quarantined": f.rows_quarantined,
             "duplicates_skipped": f.duplicates_skipped} for f in self.files])

    def to_section(self, lang: str = "en") -> Section:
        """The summary as a :class:`~supportlab.display.Section`: one row per file with rows
        read, loaded, quarantined and skipped as duplicates, then the reasons."""
        ja = check_lang(lang) == "ja"
        headers = (("ファイル", "文字コード", "読んだ行", "読み込んだ行", "隔離した行", "重複でスキップ")
                   if ja else ("file", "encoding", "read", "loaded", "quarantined",
                               "duplicates skipped"))
        rows = tuple((Path(f.source).name, f.encoding or "—", f"{f.rows_read:,}",
                      f"{f.rows_loaded:,}", f"{f.rows_quarantined:,}",
                      f"{f.duplicates_skipped:,}") for f in self.files)
        reasons = tuple(f"{Path(f.source).name}: {n:,} — {reason}"
                        for f in self.files for reason, n in f.reasons)
        notes = tuple(f"{Path(f.source).name}: {note}" for f in self.files for note in f.notes)
        headline = (f"{self.rows_loaded:,} row(s) loaded into {self.table}, "
                    f"{self.rows_quarantined:,} quarantined, {self.duplicates_skipped:,} "
                    "duplicate(s) skipped")
        if ja:
            headline = (f"{self.table} に {self.rows_loaded:,} 行を読み込み、{self.rows_quarantined:,} "
                        f"行を隔離、重複 {self.duplicates_skipped:,} 行をスキップ")
        items: tuple[Field | Bullets | Table | Section, ...] = (
            Field(label("batch", lang), self.batch_id),
            Table(label("files", lang), headers, rows, ("left", "left", *(["right"] * 4))),
            Bullets("隔離の理由" if ja else "quarantine reasons", reasons),
            Bullets(label("notes", lang), notes),
        )
        return Section("取り込み" if ja else "Ingest", items, headline)

    def _repr_html_(self) -> str:
        return render_html(self.to_section())

    @property
    def already_quarantined(self) -> int:
        return sum(f.already_quarantined for f in self.files)

    def __str__(self) -> str:
        lines = [f"{self.table}: read {self.rows_read:,}, loaded {self.rows_loaded:,}, "
                 f"quarantined {self.rows_quarantined:,}, duplicates skipped "
                 f"{self.duplicates_skipped:,}"]
        if self.rows_read and not self.rows_loaded and not self.rows_quarantined:
            if self.already_quarantined:
                lines.append(f"all {self.rows_read:,} rows were already loaded or quarantined "
                             "by an earlier ingest; nothing new was loaded or quarantined")
            else:
                lines.append(f"all {self.rows_read:,} rows were already loaded; nothing "
                             "quarantined")
        for f in self.files:
            name = Path(f.source).name
            for reason, n in f.reasons[:MAX_REASONS_SHOWN]:
                lines.append(f"  {name}: {n:,} row(s) quarantined: {reason}")
            if len(f.reasons) > MAX_REASONS_SHOWN:
                lines.append(f"  {name}: and {len(f.reasons) - MAX_REASONS_SHOWN:,} more "
                             "reason(s): see supportlab quarantine --batch " + self.batch_id)
            for note in f.notes:
                lines.append(f"  {name}: {note}")
        return "\n".join(lines)


def _fingerprint(path: Path) -> str:
    """Size plus SHA-256 of the first and last MiB: cheap and good enough to spot re-loads."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), 2)
            h.update(fh.read())
    return f"{size}:{h.hexdigest()[:16]}"


def _naive_note(con: duckdb.DuckDBPyConnection, spec: TableSpec, src: Source,
                mapping: ColumnMapping, from_sql: str, tz: str) -> list[str]:
    notes = []
    for col in spec.columns:
        if col.sql_type != "TIMESTAMPTZ":
            continue
        h = next((h for h in src.headers if mapping.canonical(h) == col.name), None)
        if h is None or src.types[h] != "VARCHAR":
            continue
        q = quote_ident(h)
        zoned = r"(Z|[+-]\d{2}(:?\d{2})?)$"
        n_all, n_naive = con.execute(
            f"SELECT count({q}), count({q}) FILTER (WHERE NOT regexp_matches(trim({q}), "
            f"'{zoned}')) FROM (SELECT {q} FROM {from_sql} LIMIT 20000)").fetchall()[0]
        if n_naive and n_naive < n_all:
            notes.append(f"{col.name}: mixed values with and without a timezone; the "
                         f"{n_naive:,} without one (of the first {n_all:,}) were read as {tz}")
        elif n_naive:
            notes.append(f"{col.name}: values carry no timezone and were read as {tz}")
    return notes


def ingest(ws: Workspace, table: str, files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
           *, mapping: ColumnMapping | str | os.PathLike[str] | None = None,
           encoding: str | None = None,
           strict: bool = False, allow_empty: bool = False,
           on_progress: Callable[[str, float], None] | None = None) -> IngestSummary:
    """Load export files into a canonical table, all or nothing.

    Args:
        ws: the open workspace.
        table: canonical table name, e.g. ``"events"``.
        files: a CSV, Parquet or .xlsx file, or a list of them (loaded together).
        mapping: column/value mapping for the export's own names, or the path of its YAML file.
        encoding: override the detected text encoding of CSV files.
        strict: fail (and load nothing) when any row would be quarantined.
        allow_empty: accept files with a header but no rows.
        on_progress: called with (file name, percent) while large files load.

    Returns:
        An :class:`IngestSummary`.

    Raises:
        ConfigError: ``files`` or ``mapping`` is not something ingest understands.
        InputFileError: a file cannot be read as a table; nothing was loaded.
        DataValidationError: ``strict`` and some rows are invalid; nothing was loaded.
    """
    if not isinstance(ws, Workspace):
        raise ConfigError(f"ingest needs an open workspace first, not {type(ws).__name__}",
                          fix="call sl.ingest(sl.Workspace.open(), 'events', 'events.csv')")
    spec = table_spec(table)
    mapping = _as_mapping(mapping)
    if mapping.table and mapping.table != table:
        raise ConfigError(f"the mapping file is for table '{mapping.table}', not '{table}'",
                          fix=f"use the mapping made for {table}, or drop its 'table' key")
    paths = _as_paths(files)
    for p in paths:
        if not p.is_file():
            raise InputFileError("file not found", where=str(p), fix="check the path")
        if p.suffix.lower() not in (".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx"):
            raise InputFileError(f"unsupported file type '{p.suffix}'", where=str(p),
                                 fix="export as .csv, .parquet or .xlsx")
    batch = uuid.uuid4().hex[:12]
    results: list[FileSummary] = []
    tmp_root = ws.config.database_path.parent / ".duckdb_tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as tmpd, ws.transaction() as con:
        fk_filters = _reference_filters(con, spec)
        for path in paths:
            results.append(_ingest_file(ws, spec, path, mapping, encoding, strict, allow_empty,
                                        fk_filters, batch, Path(tmpd), on_progress))
        for t in ("_stage", "_dupkeys", "_resolved", "_bad", "_rej_errors", "_rej_scans"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        for ref in fk_filters:
            con.execute(f"DROP TABLE IF EXISTS {ref.keys}")
    return IngestSummary(table, batch, tuple(results))


def _as_paths(files: object) -> list[Path]:
    """``files`` as a list of paths: one path (str or Path) or a list of them."""
    if isinstance(files, (str, os.PathLike)):
        return [Path(files)]
    example = "pass a path such as 'exports/events.csv' or a list of paths"
    if isinstance(files, (bytes, Mapping)) or not isinstance(files, Iterable):
        raise ConfigError(f"files must be a path or a list of paths, not {type(files).__name__}",
                          fix=example)
    out = []
    for i, f in enumerate(files):
        if not isinstance(f, (str, os.PathLike)):
            raise ConfigError(f"files[{i}] is a {type(f).__name__}, not a path", fix=example)
        out.append(Path(f))
    if not out:
        raise ConfigError("no files given", fix=example)
    return out


def _as_mapping(mapping: object) -> ColumnMapping:
    """``mapping`` as a :class:`ColumnMapping`: given as one, as its YAML file's path, or None."""
    if mapping is None:
        return ColumnMapping()
    if isinstance(mapping, ColumnMapping):
        return mapping
    if isinstance(mapping, (str, os.PathLike)):
        return load_mapping(Path(mapping))
    raise ConfigError(f"mapping must be a ColumnMapping or the path of a mapping YAML file, not "
                      f"{type(mapping).__name__}",
                      fix="pass mapping='mappings/events.yaml' or sl.load_mapping(...)")


def _reference_filters(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> list[Reference]:
    """The references of ``spec``'s rows, each with a temporary table of the known keys.

    An empty referenced table is checked too (every value is then unknown), so that ingest
    quarantines what ``validate`` would reject afterwards, with the fix in the reason.
    """
    out = []
    for (src_t, col), (dst_t, dst_c) in FOREIGN_KEYS.items():
        if src_t != spec.name:
            continue
        keys = f"_ref_{dst_t}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {keys} AS SELECT DISTINCT "
                    f"{quote_ident(dst_c)} AS k FROM {quote_ident(dst_t)}")
        empty = not con.execute(f"SELECT count(*) FROM {keys}").fetchall()[0][0]
        out.append(Reference(col, dst_t, keys, bool(empty)))
    return out


class _Lines:
    """Maps the k-th row appended from a file (in rowid order) back to its line or sheet row."""

    def __init__(self, first_line: int, n_fast: int, rejected: Sequence[int]) -> None:
        self.first_line = first_line
        self.n_fast = n_fast
        self.rejected = sorted(set(rejected))
        self.slow: list[int] = []

    def line(self, k: int) -> int:
        if k >= self.n_fast:
            return self.slow[k - self.n_fast]
        line = self.first_line + k
        for r in self.rejected:  # skip the lines that went down the slow path
            if r <= line:
                line += 1
            else:
                break
        return line


def _missing_columns(spec: TableSpec, src: Source, mapping: ColumnMapping, path: Path) -> None:
    present = {mapping.canonical(h) for h in src.headers}
    missing = [c for c in spec.required if c not in present]
    if not missing:
        return
    import difflib

    hints = []
    for m in missing:
        near = difflib.get_close_matches(m, src.headers, n=1, cutoff=0.6) or [
            h for h in src.headers
            if h.lower() in _SYNONYMS.get(m, ()) or m in h.lower() or h.lower() in m][:1]
        if near:
            hints.append(f"'{near[0]}' looks like '{m}'")
    fix = ("add the column to the export or map your header to it with --mapping "
           "(columns: {your header: " + missing[0] + "})")
    if hints:
        fix = "; ".join(hints) + "; " + fix
    raise InputFileError(
        f"missing required column(s) {', '.join(missing)} for table {spec.name}; "
        f"the header has: {', '.join(src.headers[:15])}", where=str(path), fix=fix)


def _check_mapping(spec: TableSpec, src: Source, mapping: ColumnMapping, path: Path) -> list[str]:
    """Refuse mappings that cannot be right; return notes about ones that do not apply."""
    import difflib

    def near(name: str) -> str:
        m = difflib.get_close_matches(name, spec.column_names, n=1)
        return f"did you mean '{m[0]}'? " if m else ""

    for header, target in mapping.columns.items():
        if target not in spec.column_names:
            raise ConfigError(f"the mapping sends '{header}' to '{target}', which is not a "
                              f"column of {spec.name}", where="mapping columns",
                              fix=f"{near(target)}columns: {', '.join(spec.column_names)}")
    for col in mapping.values:
        if col not in spec.column_names:
            raise ConfigError(f"the mapping has values for '{col}', which is not a column of "
                              f"{spec.name}", where="mapping values",
                              fix=f"{near(col)}columns: {', '.join(spec.column_names)}")
    seen: dict[str, str] = {}
    for h in src.headers:
        c = mapping.canonical(h)
        if c in spec.column_names:
            if c in seen:
                raise InputFileError(f"columns '{seen[c]}' and '{h}' both map to '{c}'",
                                     where=str(path),
                                     fix="map only one of them, or rename one in the export")
            seen[c] = h
    unused = [h for h in mapping.columns if h not in src.headers]
    return [f"mapping entries not in this file's header: {', '.join(unused[:10])}"] \
        if unused else []


def _fast_eligible(spec: TableSpec, mapping: ColumnMapping) -> bool:
    for col in spec.columns:
        if col.sql_type == "BIGINT":  # the reader rounds 1.5 into 2; the careful path refuses
            return False
        if not col.nullable and col.sql_type not in SENTINEL:
            return False
        if col.sql_type != "VARCHAR" and mapping.values.get(col.name):
            return False
    return True


def _fast_csv(ws: Workspace, spec: TableSpec, src: Source, mapping: ColumnMapping, path: Path,
              progress: Callable[[float], None] | None, thr: int
              ) -> tuple[int, list[tuple[int, str]]]:
    """Append a CSV straight into the target, typed by the reader.

    Returns:
        (rows appended, [(line, text)] of lines whose values the reader could not type).
    """
    con = ws.con
    canon: dict[str, str] = {}
    for h in src.headers:
        canon.setdefault(mapping.canonical(h), h)
    types = {}
    for h in src.headers:
        c = mapping.canonical(h)
        types[h] = spec.column(c).sql_type if c in spec.column_names and canon[c] == h \
            else "VARCHAR"
    cols_spec = "{" + ", ".join(f"{sql_str(h)}: '{t}'" for h, t in types.items()) + "}"
    reader = src.sql.replace(src.sql[src.sql.index("columns="):src.sql.index(", strict_mode")],
                             f"columns={cols_spec}")
    reader = reader[:-1] + (", store_rejects=true, rejects_table='_rej_errors', "
                            "rejects_scan='_rej_scans')")
    exprs = []
    ids = id_columns(spec)
    for col in spec.columns:
        if col.name in canon:
            e = value_map(quote_ident(canon[col.name]), mapping.values.get(col.name, {}))
            if not col.nullable:
                e = f"coalesce({e}, {SENTINEL[col.sql_type]})"
        else:
            e = f"CAST(NULL AS {col.sql_type})"
        exprs.append(e)
    cols = ", ".join(quote_ident(c.name) for c in spec.columns)
    for t in ("_rej_errors", "_rej_scans"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    try:
        n = ws.run_with_progress(
            f"INSERT INTO {quote_ident(spec.name)} ({cols}) SELECT {', '.join(exprs)} "
            f"FROM {reader}", progress)[0][0]
    except duckdb.InvalidInputException as exc:
        raise csv_error(exc, path) from None
    # identifiers with spaces around them are rare: trim those few rows in place afterwards
    # rather than every value on the way in
    for c in sorted(ids & set(canon)):
        q = quote_ident(c)
        con.execute(f"UPDATE {quote_ident(spec.name)} SET {q} = trim({q}) WHERE rowid >= ? AND "
                    f"(starts_with({q}, ' ') OR ends_with({q}, ' '))", [thr]).fetchall()
    rejects = con.execute(
        "SELECT line, column_name, error_type, csv_line, error_message FROM _rej_errors "
        "ORDER BY line").fetchall()
    structural = [r for r in rejects if r[2] in STRUCTURAL_ERRORS]
    if structural:
        raise structural_error(structural, path, len(src.headers))
    lines: dict[int, str] = {}
    for line, _c, _t, text, _m in rejects:
        lines.setdefault(int(line), str(text))
    return int(n), sorted(lines.items())


def _ingest_file(ws: Workspace, spec: TableSpec, path: Path, mapping: ColumnMapping,
                 encoding: str | None, strict: bool, allow_empty: bool,
                 fk_filters: list[Reference], batch: str, tmpdir: Path,
                 on_progress: Callable[[str, float], None] | None) -> FileSummary:
    con = ws.con
    target = quote_ident(spec.name)
    suffix = path.suffix.lower()
    is_csv = suffix not in (".parquet", ".pq", ".xlsx")
    if suffix in (".parquet", ".pq"):
        src = parquet_source(path, con)
    elif suffix == ".xlsx":
        src = excel_source(path, mapping, spec)
    else:
        src = csv_source(path, encoding, tmpdir)
    mapping_notes = _check_mapping(spec, src, mapping, path)
    _missing_columns(spec, src, mapping, path)
    notes = list(src.notes) + mapping_notes
    unknown = [h for h in src.headers if mapping.canonical(h) not in spec.column_names]
    if unknown:
        notes.append(f"ignored column(s) not in the {spec.name} schema: {', '.join(unknown[:10])}")
    progress = (lambda p: on_progress(path.name, p)) if on_progress else None
    thr = con.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {target}").fetchall()[0][0]
    quarantined: list[tuple[int, str, str]] = []  # (line, reason, record json)
    slow_src: Source | None = src
    slow_from = src.sql
    n_fast, rejected = 0, list[tuple[int, str]]()
    try:
        if src.relation is None:
            notes += _naive_note(con, spec, src, mapping, src.sql, ws.config.timezone)
        if is_csv and _fast_eligible(spec, mapping):
            n_fast, rejected = _fast_csv(ws, spec, src, mapping, path, progress, thr)
            slow_src = None
            if rejected:  # values the reader could not type: the careful path decides
                found = re.search(r"delim='(.)'", src.sql)
                delim = found.group(1) if found else ","
                frame = rejected_lines_frame(src, delim, rejected)
                slow_src = Source("", src.headers, src.types, src.encoding, 0, [], frame)
        lines = _Lines(src.row_offset + 1, n_fast, [r[0] for r in rejected])
        n_read = n_fast
        if slow_src is not None:
            if slow_src.relation is not None:
                con.register("_slow_src", slow_src.relation)
                slow_from = "_slow_src"
            stage = stage_sql(spec, slow_src, mapping, fk_filters, slow_from)
            ws.run_with_progress(f"CREATE OR REPLACE TEMP TABLE _stage AS {stage}",
                                 None if n_fast else progress)
            base = con.execute("SELECT coalesce(min(rowid), 0) FROM _stage").fetchall()[0][0]
            stage_lines = ([ln for ln, _ in rejected] if rejected else None)

            def line_of(i: int) -> int:
                if stage_lines is not None:
                    return stage_lines[i]
                if src.row_numbers is not None:
                    return src.row_numbers[i]
                return src.row_offset + 1 + i

            for rid, reason, record in con.execute(
                    "SELECT rowid, _reason, CAST(_record AS VARCHAR) FROM _stage "
                    "WHERE _reason IS NOT NULL ORDER BY rowid").fetchall():
                quarantined.append((line_of(int(rid - base)), reason, record))
            ok = con.execute("SELECT rowid FROM _stage WHERE _reason IS NULL ORDER BY rowid"
                             ).fetchnumpy()["rowid"]
            lines.slow = [line_of(int(r - base)) for r in ok]
            cols = ", ".join(quote_ident(c.name) for c in spec.columns)
            con.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM _stage "
                        "WHERE _reason IS NULL ORDER BY rowid").fetchall()
            n_read += con.execute("SELECT count(*) FROM _stage").fetchall()[0][0]
    except duckdb.InvalidInputException as exc:
        if "CSV Error" in str(exc) or "unicode" in str(exc).lower():
            raise csv_error(exc, path) from None
        raise
    finally:
        if slow_src is not None and slow_src.relation is not None:
            con.unregister("_slow_src")
    if n_read == 0 and not allow_empty:
        raise InputFileError("the file has a header but no rows", where=str(path),
                             fix="check the export's filters; pass --allow-empty if an empty "
                                 "export is expected; nothing was loaded")
    r0 = con.execute(f"SELECT min(rowid) FROM {target} WHERE rowid >= ?", [thr]).fetchall()[0][0]
    r0 = int(r0) if r0 is not None else 0
    bad, repeats = _check_new_rows(ws, spec, thr, fk_filters)
    for rid, reason, record in bad:
        quarantined.append((lines.line(int(rid) - r0), reason, record))
    dup, conflicts = _resolve_duplicates(ws, spec, thr, repeats)
    for rid, reason, record, first in conflicts:
        if first is not None:
            reason = reason.replace("{first}", str(lines.line(int(first) - r0)))
        quarantined.append((lines.line(int(rid) - r0), reason, record))
    n_quarantine = len(quarantined)
    reasons = _count_reasons(r for _, r, _ in quarantined)
    if strict and n_quarantine:
        raise DataValidationError(
            f"{n_quarantine:,} invalid row(s) in strict mode: {_list_reasons(reasons, '; ')}",
            where=str(path), fix="fix the rows or drop --strict to quarantine them; nothing was loaded")
    loaded = n_read - n_quarantine - dup
    inserted, earlier = 0, []
    if quarantined:
        q = pd.DataFrame(quarantined, columns=["source_row", "reason", "record"])
        con.register("_quarantined", q)
        try:
            inserted = con.execute(
                "INSERT INTO quarantine SELECT ?, ?, ?, source_row, reason, CAST(record AS JSON), "
                "now() FROM _quarantined n WHERE NOT EXISTS (SELECT 1 FROM quarantine o "
                "WHERE o.table_name = ? AND o.batch_id <> ? AND CAST(o.record AS VARCHAR) = n.record) "
                "ORDER BY source_row",
                [batch, spec.name, str(path.resolve()), spec.name, batch]).fetchall()[0][0]
            if inserted < n_quarantine:  # the same rows were quarantined by an earlier ingest
                earlier = [r[0] for r in con.execute(
                    "SELECT DISTINCT o.batch_id FROM quarantine o JOIN _quarantined n ON "
                    "CAST(o.record AS VARCHAR) = n.record WHERE o.table_name = ? AND "
                    "o.batch_id <> ? ORDER BY 1 LIMIT 3", [spec.name, batch]).fetchall()]
        finally:
            con.unregister("_quarantined")
    already = n_quarantine - int(inserted)
    if already:
        notes.append(f"{already:,} invalid row(s) were quarantined by an earlier ingest and not "
                     "again (see supportlab quarantine --batch " + ", --batch ".join(earlier) + ")")
    con.execute("INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
                [batch, spec.name, str(path.resolve()), _fingerprint(path), n_read, loaded,
                 int(inserted), dup])
    return FileSummary(str(path), src.encoding, int(n_read), int(loaded), int(inserted),
                       int(dup), tuple(reasons) if inserted else (), tuple(notes), already)


#: reasons listed by name in summaries and strict-mode errors; the rest are counted
MAX_REASONS_SHOWN = 10


def _count_reasons(row_reasons: Iterable[str]) -> list[tuple[str, int]]:
    """Rows per single reason (a row may have several, joined by '; '), most frequent first."""
    counts: dict[str, int] = {}
    for text in row_reasons:
        for reason in dict.fromkeys(text.split("; ")):
            counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda x: (-x[1], x[0]))


def _list_reasons(reasons: Sequence[tuple[str, int]], sep: str) -> str:
    """Every reason with its row count, or the first ones and 'and N more reasons'."""
    shown = [f"{r} ({n:,} row{'s' if n != 1 else ''})" for r, n in reasons[:MAX_REASONS_SHOWN]]
    rest = len(reasons) - len(shown)
    if rest:
        shown.append(f"and {rest:,} more reason{'s' if rest != 1 else ''}")
    return sep.join(shown)


def _check_new_rows(ws: Workspace, spec: TableSpec, thr: int,
                    fk_filters: list[Reference]
                    ) -> tuple[list[tuple[int, str, str]], bool]:
    """Check the rows appended in this call; move failures out of the table.

    Returns:
        ``(rowid, reason, record json)`` of the rows that failed (now deleted from the table),
        and whether keys may repeat among the appended rows.
    """
    con = ws.con
    target = quote_ident(spec.name)
    held = {c.name: f"{quote_ident(c.name)} = {SENTINEL[c.sql_type]}"
            for c in spec.columns if not c.nullable and c.sql_type in SENTINEL}
    reasons = reason_sql(spec, fk_filters, [], missing=held, guard=True)
    # the common case first: does any row fail, does any key repeat? (a WHERE clause lets the
    # engine evaluate each condition only where the cheaper ones before it left rows)
    fails = fails_sql(spec, fk_filters, missing=held, guard=True)
    n_bad = con.execute(f"SELECT count(*) FROM {target} WHERE rowid >= {int(thr)} AND ({fails})"
                        ).fetchall()[0][0]
    repeats = con.execute(f"SELECT count(*) - count(DISTINCT {key_expr(spec)}) FROM {target} "
                          f"WHERE rowid >= {int(thr)}").fetchall()[0][0]
    if not n_bad:
        return [], bool(repeats)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _bad AS
        SELECT _rid, _reason FROM (SELECT rowid AS _rid, {reasons} AS _reason FROM {target}
                                   WHERE rowid >= {int(thr)}) WHERE _reason IS NOT NULL""")
    rows = con.execute(
        f"SELECT b._rid, b._reason, {record_sql(spec)} FROM _bad b JOIN {target} t "
        "ON t.rowid = b._rid ORDER BY b._rid").fetchall()
    if rows:
        con.execute(f"DELETE FROM {target} WHERE rowid IN (SELECT _rid FROM _bad)")
    return [(int(r), str(reason), str(rec)) for r, reason, rec in rows], bool(repeats)


def _resolve_duplicates(ws: Workspace, spec: TableSpec, thr: int, repeats: bool = True
                        ) -> tuple[int, list[tuple[int, str, str, int | None]]]:
    """Remove appended rows whose key repeats (in the file or in the table).

    Identical repeats are skipped; repeats with different values are quarantined (the first
    row wins; nothing already loaded is ever overwritten).

    Args:
        ws: the workspace (inside the ingest transaction).
        spec: the table.
        thr: rowids from here on were appended by this call.
        repeats: False when the caller has already shown that no key repeats in the new rows.

    Returns:
        (identical duplicates skipped, [(rowid, reason, record json, rowid of the first row)]
        of conflicts; ``{first}`` in a reason stands for the first row's line).
    """
    con = ws.con
    key = ", ".join(quote_ident(k) for k in spec.key)
    target = quote_ident(spec.name)
    thr = int(thr)
    in_file = 0
    if repeats:  # recount: rows that failed their checks are gone now
        in_file = con.execute(
            f"SELECT count(*) - count(DISTINCT {key_expr(spec)}) FROM {target} "
            f"WHERE rowid >= {thr}").fetchall()[0][0]
    existing = 0
    if thr > 0:
        existing = con.execute(
            f"SELECT count(*) FROM (SELECT {key} FROM {target} WHERE rowid >= {thr}) n "
            f"SEMI JOIN (SELECT {key} FROM {target} WHERE rowid < {thr}) o USING ({key})"
        ).fetchall()[0][0]
    if not in_file and not existing:
        return 0, []
    cols = [c.name for c in spec.columns]
    same = " AND ".join(f"r.{quote_ident(c)} IS NOT DISTINCT FROM f.{quote_ident(c)}"
                        for c in cols)
    label = "+".join(spec.key)
    sel = ", ".join(quote_ident(c) for c in cols)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _dupkeys AS
        SELECT {key} FROM {target} WHERE rowid >= {thr} GROUP BY ALL HAVING count(*) > 1
        UNION
        SELECT {key} FROM (SELECT {key} FROM {target} WHERE rowid >= {thr}) n
        SEMI JOIN (SELECT {key} FROM {target} WHERE rowid < {thr}) o USING ({key})
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _resolved AS
        WITH rows AS (
            SELECT rowid AS _row, {sel} FROM {target} SEMI JOIN _dupkeys USING ({key})
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY _row) AS _rn FROM rows
        ), firsts AS (SELECT * FROM ranked WHERE _rn = 1)
        SELECT r._row, f._row AS _first,
            CASE WHEN r._rn = 1 THEN 'load'
                 WHEN {same} THEN 'duplicate'
                 WHEN f._row < {thr} THEN '{label}: already loaded with different values'
                 ELSE '{label}: repeats line {{first}} of this file with different values'
            END AS _status
        FROM ranked r JOIN firsts f USING ({key}) WHERE r._row >= {thr}
    """)
    dup = con.execute("SELECT count(*) FROM _resolved WHERE _status = 'duplicate'").fetchall()[0][0]
    conflicts = con.execute(
        f"SELECT r._row, r._status, {record_sql(spec)}, r._first FROM _resolved r "
        f"JOIN {target} t ON t.rowid = r._row WHERE r._status NOT IN ('load', 'duplicate') "
        "ORDER BY r._row").fetchall()
    con.execute(f"DELETE FROM {target} WHERE rowid IN "
                "(SELECT _row FROM _resolved WHERE _status <> 'load')")
    return int(dup), [(int(r), str(st), str(rec), int(f) if f is not None and f >= thr else None)
                      for r, st, rec, f in conflicts]
