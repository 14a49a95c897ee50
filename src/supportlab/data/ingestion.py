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

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from supportlab.data.schemas import FOREIGN_KEYS, TableSpec, quote_ident, sql_checks, table_spec
from supportlab.data.workspace import Workspace
from supportlab.errors import ConfigError, DataValidationError, InputFileError

__all__ = ["ColumnMapping", "FileSummary", "IngestSummary", "detect_encoding", "ingest",
           "load_mapping"]

SAMPLE_BYTES = 1 << 20
_ENCODING_ALIASES = {
    "utf8": "utf-8", "utf-8": "utf-8", "utf_8": "utf-8", "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig", "utf-8-bom": "utf-8-sig",
    "cp932": "cp932", "ms932": "cp932", "windows-31j": "cp932", "sjis": "cp932",
    "shift_jis": "cp932", "shift-jis": "cp932", "shiftjis": "cp932", "s-jis": "cp932",
}
_KIND = {"VARCHAR": "text", "BIGINT": "whole number", "DOUBLE": "number",
         "BOOLEAN": "true/false value", "DATE": "date", "TIMESTAMPTZ": "timestamp"}
#: header names that often mean a canonical column (used for hints only, never silently)
_SYNONYMS = {
    "ts": ("timestamp", "datetime", "time", "date", "occurred_at", "event_time", "日時", "発生日時"),
    "partner_id": ("partner", "agency_id", "reseller_id", "代理店id", "代理店コード"),
    "event_type": ("type", "event", "action", "種別", "イベント種別"),
    "registered_at": ("created_at", "date", "登録日", "登録日時"),
    "amount": ("value", "price", "金額", "見込金額"),
}
_TRUE = ("true", "t", "1", "yes", "y", "はい", "○", "won", "受注")
_FALSE = ("false", "f", "0", "no", "n", "いいえ", "×", "lost", "失注")


# -- mapping ----------------------------------------------------------------------------------


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
    """Read a mapping YAML file (keys: ``table``, ``columns``, ``values``, ``sheet``)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError("mapping file not found", where=str(p),
                          fix="check the path given to --mapping") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"mapping file is not valid UTF-8 YAML ({exc})", where=str(p),
                          fix="save it as UTF-8 and check its indentation") from None
    if not isinstance(data, dict):
        raise ConfigError("mapping file must be a YAML mapping with a 'columns' key",
                          where=str(p), fix="see 'supportlab ingest --help' for an example")
    allowed = {"table", "columns", "values", "sheet"}
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(map(str, sorted(unknown)))}", where=str(p),
                          fix=f"allowed keys: {', '.join(sorted(allowed))}")
    cols = data.get("columns") or {}
    vals = data.get("values") or {}
    if not isinstance(cols, dict) or not all(isinstance(v, str) for v in cols.values()):
        raise ConfigError("'columns' must map export headers to canonical column names",
                          where=f"{p} columns", fix="write e.g. columns: {代理店ID: partner_id}")
    if not isinstance(vals, dict) or not all(isinstance(v, dict) for v in vals.values()):
        raise ConfigError("'values' must map a canonical column to {export value: value}",
                          where=f"{p} values", fix="write e.g. values: {event_type: {ログイン: login}}")
    return ColumnMapping(
        columns={str(k).strip(): v for k, v in cols.items()},
        values={c: {str(k): str(v) for k, v in m.items()} for c, m in vals.items()},
        table=data.get("table"),
        sheet=None if data.get("sheet") is None else str(data["sheet"]),
    )


# -- results ----------------------------------------------------------------------------------


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

    def __str__(self) -> str:
        lines = [f"{self.table}: read {self.rows_read:,}, loaded {self.rows_loaded:,}, "
                 f"quarantined {self.rows_quarantined:,}, duplicates skipped "
                 f"{self.duplicates_skipped:,}"]
        for f in self.files:
            for reason, n in f.reasons:
                lines.append(f"  {Path(f.source).name}: {n:,} row(s) quarantined: {reason}")
            for note in f.notes:
                lines.append(f"  {Path(f.source).name}: {note}")
        return "\n".join(lines)


# -- encodings --------------------------------------------------------------------------------


def _normalize_encoding(name: str) -> str:
    key = name.strip().lower()
    if key not in _ENCODING_ALIASES:
        raise ConfigError(f"unsupported encoding '{name}'",
                          fix="use utf-8, utf-8-sig or cp932 (Shift_JIS)")
    return _ENCODING_ALIASES[key]


def _decodes(sample: bytes, encoding: str) -> tuple[bool, int]:
    dec = codecs.getincrementaldecoder(encoding)()
    try:
        dec.decode(sample, final=False)
    except UnicodeDecodeError as exc:
        return False, exc.start
    return True, -1


def _line_of(sample: bytes, offset: int) -> int:
    return sample.count(b"\n", 0, max(offset, 0)) + 1


def detect_encoding(path: str | Path, declared: str | None = None) -> str:
    """Detect (or check a declared) text encoding: ``utf-8``, ``utf-8-sig`` or ``cp932``.

    Raises:
        InputFileError: when the bytes contradict the declared encoding or fit none.
    """
    p = Path(path)
    with p.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    has_bom = sample.startswith(codecs.BOM_UTF8)
    utf8_ok, utf8_bad = _decodes(sample, "utf-8")
    cp_ok, cp_bad = _decodes(sample, "cp932")
    non_ascii = any(b > 127 for b in sample)
    if declared is not None:
        enc = _normalize_encoding(declared)
        if enc.startswith("utf-8") and not utf8_ok:
            hint = "it reads as cp932 (Shift_JIS): pass --encoding cp932" if cp_ok else \
                "re-export it as UTF-8"
            raise InputFileError(
                f"declared encoding {declared} does not match the file: invalid UTF-8 bytes at "
                f"line {_line_of(sample, utf8_bad)}", where=str(p),
                fix=f"{hint}, or omit --encoding to detect it")
        if enc == "cp932" and (has_bom or (utf8_ok and non_ascii)):
            raise InputFileError(
                f"declared encoding {declared} does not match the file: it is UTF-8 text "
                "(reading it as cp932 would garble Japanese)", where=str(p),
                fix="omit --encoding (UTF-8 is detected) or pass --encoding utf-8")
        if enc == "cp932" and not cp_ok:
            raise InputFileError(
                f"invalid cp932 (Shift_JIS) bytes at line {_line_of(sample, cp_bad)}",
                where=str(p), fix="check the export's encoding and pass it with --encoding")
        return "utf-8-sig" if enc.startswith("utf-8") and has_bom else enc
    if has_bom:
        return "utf-8-sig"
    if utf8_ok:
        return "utf-8"
    if cp_ok:
        return "cp932"
    raise InputFileError(
        f"cannot tell the text encoding (not UTF-8: bad byte at line {_line_of(sample, utf8_bad)}"
        f"; not cp932: bad byte at line {_line_of(sample, cp_bad)})", where=str(p),
        fix="re-export the file as UTF-8 (or Shift_JIS) and pass --encoding if known")


def _transcode_to_utf8(src: Path, encoding: str, tmpdir: Path) -> Path:
    """Stream a non-UTF-8 file into a UTF-8 copy (raw inputs are never modified)."""
    out = tmpdir / (src.stem + ".utf8.csv")
    dec = codecs.getincrementaldecoder(encoding)()
    line = 1
    with src.open("rb") as fin, out.open("w", encoding="utf-8", newline="") as fout:
        while True:
            chunk = fin.read(4 << 20)
            try:
                text = dec.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise InputFileError(
                    f"invalid {encoding} bytes near line {line + _line_of(chunk, exc.start) - 1}",
                    where=str(src), fix="check the export's encoding and pass it with --encoding",
                ) from None
            fout.write(text)
            line += chunk.count(b"\n")
            if not chunk:
                break
    return out


# -- sources ----------------------------------------------------------------------------------


@dataclass
class _Source:
    """An input prepared for SQL: a FROM clause, its columns and how they map."""

    sql: str
    headers: list[str]
    types: dict[str, str]
    encoding: str | None = None
    row_offset: int = 1  # file line / sheet row of data row 1, for messages
    notes: list[str] = field(default_factory=list)
    relation: Any = None  # keeps a registered object alive
    row_numbers: list[int] | None = None  # line/sheet row of each data row, when not contiguous


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sniff_header(text: str, where: str) -> tuple[str, list[str]]:
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise InputFileError("the file is empty (no header line)", where=where,
                             fix="check that the export finished and wrote a header row")
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    delim = max(counts, key=lambda d: counts[d])
    if counts[delim] == 0:
        delim = ","
    header = next(csv.reader(io.StringIO(first), delimiter=delim))
    return delim, [h.strip().lstrip("\ufeff") for h in header]


def _csv_source(path: Path, encoding: str | None, tmpdir: Path) -> _Source:
    if path.stat().st_size == 0:
        raise InputFileError("the file is empty (0 bytes)", where=str(path),
                             fix="check that the export finished; nothing was loaded")
    enc = detect_encoding(path, encoding)
    read_path = path
    notes: list[str] = []
    if enc == "cp932":
        read_path = _transcode_to_utf8(path, enc, tmpdir)
        notes.append("read as cp932 (Shift_JIS)")
    with read_path.open("rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", errors="replace")
    delim, headers = _sniff_header(head.lstrip("\ufeff"), str(path))
    _check_headers(headers, str(path))
    cols = "{" + ", ".join(f"{_sql_str(h)}: 'VARCHAR'" for h in headers) + "}"
    sql = (f"read_csv({_sql_str(read_path.as_posix())}, delim={_sql_str(delim)}, quote='\"', "
           f"escape='\"', header=true, auto_detect=false, columns={cols}, strict_mode=true, "
           f"null_padding=false, encoding='utf-8')")
    return _Source(sql, headers, dict.fromkeys(headers, "VARCHAR"), enc, 1, notes)


def _check_headers(headers: list[str], where: str) -> None:
    seen: set[str] = set()
    last = len(headers)
    while last and not headers[last - 1]:
        last -= 1
    for i in range(last, len(headers)):  # trailing delimiters: unnamed, ignored columns
        headers[i] = f"(unnamed {i + 1})"
    for i, h in enumerate(headers, 1):
        if not h:
            raise InputFileError(f"column {i} of the header has no name", where=where,
                                 fix="name every column in the export's header row")
        if h in seen:
            raise InputFileError(f"the header names column '{h}' twice", where=where,
                                 fix="rename one of them in the export or drop it")
        seen.add(h)


def _parquet_source(path: Path, con: duckdb.DuckDBPyConnection) -> _Source:
    sql = f"read_parquet({_sql_str(path.as_posix())})"
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
    except duckdb.Error as exc:
        raise InputFileError(f"not a readable Parquet file ({str(exc).splitlines()[0]})",
                             where=str(path), fix="check that the file is complete") from None
    headers = [r[0] for r in desc]
    return _Source(sql, headers, {r[0]: r[1] for r in desc}, None, row_offset=0)


def _cell(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = str(v)
    return s if s.strip() else None


def _excel_source(path: Path, mapping: ColumnMapping, spec: TableSpec) -> _Source:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds
        raise InputFileError(f"not a readable .xlsx workbook ({exc.__class__.__name__}: {exc})",
                             where=str(path), fix="open and re-save it in Excel as .xlsx") from None
    try:
        if mapping.sheet is not None:
            if mapping.sheet not in wb.sheetnames:
                raise InputFileError(f"no sheet named '{mapping.sheet}'", where=str(path),
                                     fix=f"sheets are: {', '.join(wb.sheetnames)}")
            ws = wb[mapping.sheet]
        else:
            ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        sheets = list(wb.sheetnames)
    finally:
        wb.close()
    where = f"{path} (sheet '{ws.title}')"
    # a formula never calculated and saved by Excel has no value: show the formula, so the row
    # is quarantined with it instead of silently becoming empty
    unsaved = 0
    if any(v is None for r in rows for v in r):
        fwb = openpyxl.load_workbook(path, read_only=True, data_only=False)
        try:
            for i, frow in enumerate(fwb[ws.title].iter_rows(values_only=True)):
                for j, f in enumerate(frow):
                    if isinstance(f, str) and f.startswith("=") and i < len(rows) \
                            and j < len(rows[i]) and rows[i][j] is None:
                        rows[i][j] = f"#NO VALUE {f}"
                        unsaved += 1
        finally:
            fwb.close()
    required = set(spec.required)
    best, best_hits = None, -1
    for i, row in enumerate(rows[:30]):
        names = {mapping.canonical(str(c)) for c in row if c is not None}
        hits = len(names & set(spec.column_names))
        if required <= names:
            best = i
            break
        if hits > best_hits:
            best_hits = hits
    if best is None:
        if not rows:
            raise InputFileError("the sheet is empty", where=where, fix="check the export")
        raise InputFileError(
            "no header row with the required columns in the first 30 rows "
            f"({', '.join(sorted(required))})", where=where,
            fix="name the columns as the schema does or map them with --mapping; if the data "
                f"are on another sheet, name it with 'sheet:' in the mapping file (sheets: "
                f"{', '.join(sheets)})")
    header = [("" if c is None else str(c).strip()) for c in rows[best]]
    while header and not header[-1]:
        header.pop()
    _check_headers(header, where)
    body, numbers = [], []
    for i, r in enumerate(rows[best + 1:], start=best + 2):
        cells = [_cell(v) for v in r[: len(header)]] + [None] * (len(header) - len(r))
        if any(v is not None for v in cells):  # blank rows are layout, not data
            body.append(cells)
            numbers.append(i)
    df = pd.DataFrame(body, columns=header, dtype="string").astype(object)
    df = df.where(df.notna(), None)
    notes = [f"header found on row {best + 1}; {best} title row(s) above it skipped"] if best \
        else []
    if unsaved:
        notes.append(f"{unsaved} formula cell(s) have no saved value (the rows are quarantined); "
                     "open the workbook in Excel, let it calculate, save, and ingest again")
    return _Source("", header, dict.fromkeys(header, "VARCHAR"), None, best + 1, notes, df,
                   numbers)


# -- SQL building -----------------------------------------------------------------------------


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
        t = ", ".join(_sql_str(v) for v in _TRUE)
        f = ", ".join(_sql_str(v) for v in _FALSE)
        return (f"CASE WHEN lower(trim({raw})) IN ({t}) THEN TRUE "
                f"WHEN lower(trim({raw})) IN ({f}) THEN FALSE END")
    return f"TRY_CAST({raw} AS {sql_type})"


def _value_map(raw: str, values: dict[str, str]) -> str:
    if not values:
        return raw
    whens = " ".join(f"WHEN {_sql_str(k)} THEN {_sql_str(v)}" for k, v in values.items())
    return f"CASE {raw} {whens} ELSE {raw} END"


def _stage_sql(spec: TableSpec, src: _Source, mapping: ColumnMapping,
               fk_filters: list[tuple[str, str]], from_sql: str) -> str:
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
                elif col.name in _id_columns(spec):
                    raw = f"trim({raw})"
            raw = _value_map(raw, mapping.values.get(col.name, {})) if stype == "VARCHAR" else raw
            inner.append(f"{raw} AS {rname}")
            raw_cols.append((h, rname))
            raw_of[col.name] = rname
            type_fail.append(
                f"CASE WHEN {rname} IS NOT NULL AND {quote_ident(col.name)} IS NULL THEN "
                f"{_sql_str(col.name + ': not a ' + _KIND.get(col.sql_type, col.sql_type))} END")
            typed = _cast(rname, col.sql_type, stype)
        else:
            typed = f"CAST(NULL AS {col.sql_type})"
        typed_cols.append(f"{typed} AS {quote_ident(col.name)}")
    # checks (NULL-safe; a failed cast is reported once, as a type failure)
    reason_sql = _reason_sql(spec, fk_filters, type_fail,
                             missing={c: f"{r} IS NULL" for c, r in raw_of.items()})
    record = "json_object(" + ", ".join(f"{_sql_str(h)}, {r}" for h, r in raw_cols) + ")"
    canon = ", ".join(quote_ident(c.name) for c in spec.columns)
    return (f"SELECT {canon}, _reason, CASE WHEN _reason IS NULL THEN NULL ELSE {record} END "
            f"AS _record FROM (SELECT *, {reason_sql} AS _reason FROM "
            f"(SELECT *, {', '.join(typed_cols)} FROM (SELECT {', '.join(inner) or '1 AS _none'} "
            f"FROM {from_sql})))")


_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")
_ORIG_RE = re.compile(r"Original Line: ?(.*?)(?:\n|$)")


def _csv_error(exc: duckdb.Error, path: Path) -> InputFileError:
    msg = str(exc)
    m = _LINE_RE.search(msg)
    line = m.group(1) if m else "?"
    orig = _ORIG_RE.search(msg)
    shown = (orig.group(1)[:120] if orig else "").strip()
    if "Expected Number of Columns" in msg:
        exp = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", msg)
        e, f = (int(exp.group(1)), int(exp.group(2))) if exp else (0, 0)
        if f < e:
            why = f"line {line} has {f} fields where the header has {e} (a truncated or " \
                "incomplete line)"
            fix = "re-export the file completely, or complete or remove that line"
        else:
            why = f"line {line} has more fields than the {e} of the header (a stray delimiter)"
            fix = "quote values that contain the delimiter, or remove the stray delimiter"
    elif "unterminated quote" in msg.lower():
        why = f"line {line} opens a quoted value that is never closed (a stray quote)"
        fix = 'double any quote inside a quoted value ("") or remove the stray quote'
    elif "unicode" in msg.lower():
        why = f"line {line} is not valid UTF-8"
        fix = "pass --encoding cp932 if it is a Shift_JIS export, or re-export as UTF-8"
    else:
        why = f"cannot parse line {line} ({msg.splitlines()[0]})"
        fix = "check the file's delimiter and quoting"
    if shown:
        why += f": {shown!r}"
    return InputFileError(why, where=str(path), fix=fix + "; nothing was loaded")


# -- the pipeline -----------------------------------------------------------------------------


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


def _naive_note(con: duckdb.DuckDBPyConnection, spec: TableSpec, src: _Source,
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


def ingest(ws: Workspace, table: str, files: Sequence[str | Path], *,
           mapping: ColumnMapping | None = None, encoding: str | None = None,
           strict: bool = False, allow_empty: bool = False,
           on_progress: Callable[[str, float], None] | None = None) -> IngestSummary:
    """Load export files into a canonical table, all or nothing.

    Args:
        ws: the open workspace.
        table: canonical table name, e.g. ``"events"``.
        files: CSV, Parquet or .xlsx files.
        mapping: column/value mapping for the export's own names.
        encoding: override the detected text encoding of CSV files.
        strict: fail (and load nothing) when any row would be quarantined.
        allow_empty: accept files with a header but no rows.
        on_progress: called with (file name, percent) while large files load.

    Returns:
        An :class:`IngestSummary`.

    Raises:
        InputFileError: a file cannot be read as a table; nothing was loaded.
        DataValidationError: ``strict`` and some rows are invalid; nothing was loaded.
    """
    spec = table_spec(table)
    mapping = mapping or ColumnMapping()
    if mapping.table and mapping.table != table:
        raise ConfigError(f"the mapping file is for table '{mapping.table}', not '{table}'",
                          fix=f"use the mapping made for {table}, or drop its 'table' key")
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():
            raise InputFileError("file not found", where=str(p), fix="check the path")
        if p.suffix.lower() not in (".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx"):
            raise InputFileError(f"unsupported file type '{p.suffix}'", where=str(p),
                                 fix="export as .csv, .parquet or .xlsx")
    batch = uuid.uuid4().hex[:12]
    con = ws.con
    results: list[FileSummary] = []
    tmp_root = ws.config.database_path.parent / ".duckdb_tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as tmpd, ws.transaction():
        fk_filters = _reference_filters(ws, spec)
        for path in paths:
            results.append(_ingest_file(ws, spec, path, mapping, encoding, strict, allow_empty,
                                        fk_filters, batch, Path(tmpd), on_progress))
        for t in ("_stage", "_dupkeys", "_resolved", "_bad", "_rej_errors", "_rej_scans"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        for _, ref in fk_filters:
            con.execute(f"DROP TABLE IF EXISTS {ref}")
    return IngestSummary(table, batch, tuple(results))


def _reference_filters(ws: Workspace, spec: TableSpec) -> list[tuple[str, str]]:
    out = []
    for (src_t, col), (dst_t, dst_c) in FOREIGN_KEYS.items():
        if src_t != spec.name or ws.count(dst_t) == 0:
            continue
        ref = f"_ref_{dst_t}"
        ws.con.execute(f"CREATE OR REPLACE TEMP TABLE {ref} AS SELECT DISTINCT "
                       f"{quote_ident(dst_c)} AS k FROM {quote_ident(dst_t)}")
        out.append((col, ref))
    return out


# Rows are appended straight into the target inside the transaction, then checked there and the
# failures moved to quarantine: one streaming pass over the file, like a plain load. Required
# columns that arrive empty are held by a sentinel (never visible: the check below quarantines and
# deletes those rows before the transaction commits).
_SENTINEL = {
    "VARCHAR": "chr(1)",
    "TIMESTAMPTZ": "TIMESTAMPTZ '0001-01-01 00:00:00+00'",
    "DATE": "DATE '0001-01-01'",
    "BIGINT": "(-9223372036854775807)",
    "DOUBLE": "(-1.7976931348623157e308)",
}
_STRUCTURAL = ("MISSING COLUMNS", "TOO MANY COLUMNS", "UNQUOTED VALUE", "LINE SIZE OVER MAXIMUM",
               "INVALID UNICODE", "INVALID ENCODING")


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


def _missing_columns(spec: TableSpec, src: _Source, mapping: ColumnMapping, path: Path) -> None:
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


def _check_mapping(spec: TableSpec, src: _Source, mapping: ColumnMapping, path: Path) -> list[str]:
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


def _id_columns(spec: TableSpec) -> set[str]:
    """Identifier columns, whose surrounding spaces are an export artefact, not data."""
    refs = {c for (t, c) in FOREIGN_KEYS if t == spec.name}
    return (set(spec.key) | refs) & {c.name for c in spec.columns if c.sql_type == "VARCHAR"}


def _fast_eligible(spec: TableSpec, mapping: ColumnMapping) -> bool:
    for col in spec.columns:
        if col.sql_type == "BIGINT":  # the reader rounds 1.5 into 2; the careful path refuses
            return False
        if not col.nullable and col.sql_type not in _SENTINEL:
            return False
        if col.sql_type != "VARCHAR" and mapping.values.get(col.name):
            return False
    return True


def _structural_error(rows: list[tuple[Any, ...]], path: Path, n_header: int) -> InputFileError:
    line, _col, etype, csv_line, msg = rows[0]
    shown = repr(str(csv_line).splitlines()[0][:120]) if csv_line else ""
    if etype == "MISSING COLUMNS":
        m = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", str(msg))
        e, f = (m.group(1), m.group(2)) if m else ("?", "?")
        why = f"line {line} has {f} fields where the header has {e} (a truncated or incomplete line)"
        fix = "re-export the file completely, or complete or remove that line"
    elif etype == "TOO MANY COLUMNS":
        why = f"line {line} has more fields than the {n_header} of the header (a stray delimiter)"
        fix = "quote values that contain the delimiter, or remove the stray delimiter"
    elif etype == "UNQUOTED VALUE":
        why = f"line {line} opens a quoted value that is never closed (a stray quote)"
        fix = 'double any quote inside a quoted value ("") or remove the stray quote'
    elif etype in ("INVALID UNICODE", "INVALID ENCODING"):
        why = f"line {line} is not valid UTF-8"
        fix = "pass --encoding cp932 if it is a Shift_JIS export, or re-export as UTF-8"
    else:
        why = f"cannot parse line {line} ({etype}: {str(msg).splitlines()[0]})"
        fix = "check the file's delimiter and quoting"
    if shown:
        why += f": {shown}"
    return InputFileError(why, where=str(path), fix=fix + "; nothing was loaded")


def _fast_csv(ws: Workspace, spec: TableSpec, src: _Source, mapping: ColumnMapping, path: Path,
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
    cols_spec = "{" + ", ".join(f"{_sql_str(h)}: '{t}'" for h, t in types.items()) + "}"
    reader = src.sql.replace(src.sql[src.sql.index("columns="):src.sql.index(", strict_mode")],
                             f"columns={cols_spec}")
    reader = reader[:-1] + (", store_rejects=true, rejects_table='_rej_errors', "
                            "rejects_scan='_rej_scans')")
    exprs = []
    ids = _id_columns(spec)
    for col in spec.columns:
        if col.name in canon:
            e = _value_map(quote_ident(canon[col.name]), mapping.values.get(col.name, {}))
            if not col.nullable:
                e = f"coalesce({e}, {_SENTINEL[col.sql_type]})"
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
        raise _csv_error(exc, path) from None
    # identifiers with spaces around them are rare: trim those few rows in place afterwards
    # rather than every value on the way in
    for c in sorted(ids & set(canon)):
        q = quote_ident(c)
        con.execute(f"UPDATE {quote_ident(spec.name)} SET {q} = trim({q}) WHERE rowid >= ? AND "
                    f"(starts_with({q}, ' ') OR ends_with({q}, ' '))", [thr]).fetchall()
    rejects = con.execute(
        "SELECT line, column_name, error_type, csv_line, error_message FROM _rej_errors "
        "ORDER BY line").fetchall()
    structural = [r for r in rejects if r[2] in _STRUCTURAL]
    if structural:
        raise _structural_error(structural, path, len(src.headers))
    lines: dict[int, str] = {}
    for line, _c, _t, text, _m in rejects:
        lines.setdefault(int(line), str(text))
    return int(n), sorted(lines.items())


def _slow_frame(src: _Source, delim: str, lines: list[tuple[int, str]]) -> pd.DataFrame:
    rows = []
    for _line, text in lines:
        # the reader's copy of a rejected line can start with the tail of a CRLF line break
        fields = next(csv.reader(io.StringIO(text.strip("\r\n")), delimiter=delim), [])
        fields = (fields + [None] * len(src.headers))[: len(src.headers)]
        rows.append([f if f != "" else None for f in fields])
    return pd.DataFrame(rows, columns=src.headers, dtype="string").astype(object)


def _ingest_file(ws: Workspace, spec: TableSpec, path: Path, mapping: ColumnMapping,
                 encoding: str | None, strict: bool, allow_empty: bool,
                 fk_filters: list[tuple[str, str]], batch: str, tmpdir: Path,
                 on_progress: Callable[[str, float], None] | None) -> FileSummary:
    con = ws.con
    target = quote_ident(spec.name)
    suffix = path.suffix.lower()
    is_csv = suffix not in (".parquet", ".pq", ".xlsx")
    if suffix in (".parquet", ".pq"):
        src = _parquet_source(path, con)
    elif suffix == ".xlsx":
        src = _excel_source(path, mapping, spec)
    else:
        src = _csv_source(path, encoding, tmpdir)
    mapping_notes = _check_mapping(spec, src, mapping, path)
    _missing_columns(spec, src, mapping, path)
    notes = list(src.notes) + mapping_notes
    unknown = [h for h in src.headers if mapping.canonical(h) not in spec.column_names]
    if unknown:
        notes.append(f"ignored column(s) not in the {spec.name} schema: {', '.join(unknown[:10])}")
    progress = (lambda p: on_progress(path.name, p)) if on_progress else None
    thr = con.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {target}").fetchall()[0][0]
    quarantined: list[tuple[int, str, str]] = []  # (line, reason, record json)
    slow_src: _Source | None = src
    slow_from = src.sql
    n_fast, rejected = 0, []
    try:
        if src.relation is None:
            notes += _naive_note(con, spec, src, mapping, src.sql, ws.config.timezone)
        if is_csv and _fast_eligible(spec, mapping):
            n_fast, rejected = _fast_csv(ws, spec, src, mapping, path, progress, thr)
            slow_src = None
            if rejected:  # values the reader could not type: the careful path decides
                delim = re.search(r"delim='(.)'", src.sql).group(1)
                frame = _slow_frame(src, delim, rejected)
                slow_src = _Source("", src.headers, src.types, src.encoding, 0, [], frame)
        lines = _Lines(src.row_offset + 1, n_fast, [r[0] for r in rejected])
        n_read = n_fast
        if slow_src is not None:
            if slow_src.relation is not None:
                con.register("_slow_src", slow_src.relation)
                slow_from = "_slow_src"
            stage = _stage_sql(spec, slow_src, mapping, fk_filters, slow_from)
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
            raise _csv_error(exc, path) from None
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
    if strict and n_quarantine:
        top: dict[str, int] = {}
        for _, reason, _ in quarantined:
            top[reason] = top.get(reason, 0) + 1
        what = "; ".join(f"{r} ({n:,} rows)" for r, n in sorted(top.items(), key=lambda x: -x[1])[:3])
        raise DataValidationError(f"{n_quarantine:,} invalid row(s) in strict mode: {what}",
                                  where=str(path),
                                  fix="fix the rows or drop --strict to quarantine them; "
                                      "nothing was loaded")
    loaded = n_read - n_quarantine - dup
    if quarantined:
        q = pd.DataFrame(quarantined, columns=["source_row", "reason", "record"])
        con.register("_quarantined", q)
        try:
            con.execute(
                "INSERT INTO quarantine SELECT ?, ?, ?, source_row, reason, CAST(record AS JSON), "
                "now() FROM _quarantined n WHERE NOT EXISTS (SELECT 1 FROM quarantine o "
                "WHERE o.table_name = ? AND CAST(o.record AS VARCHAR) = n.record) "
                "ORDER BY source_row",
                [batch, spec.name, str(path.resolve()), spec.name]).fetchall()
        finally:
            con.unregister("_quarantined")
    reasons = pd.Series([r for _, r, _ in quarantined], dtype=object).value_counts()
    reasons = sorted(reasons.items(), key=lambda x: (-x[1], x[0]))[:8]
    con.execute("INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
                [batch, spec.name, str(path.resolve()), _fingerprint(path), n_read, loaded,
                 n_quarantine, dup])
    return FileSummary(str(path), src.encoding, int(n_read), int(loaded), int(n_quarantine),
                       int(dup), tuple((r, int(n)) for r, n in reasons), tuple(notes))


def _reason_sql(spec: TableSpec, fk_filters: list[tuple[str, str]], first: list[str], *,
                missing: dict[str, str], guard: bool = False) -> str:
    """SQL giving each row's reasons for rejection ('; '-joined), NULL when it passes."""
    reasons = list(first) + [f"CASE WHEN {cond} THEN {_sql_str(text)} END"
                             for cond, text in _failures(spec, fk_filters, missing, guard)]
    return "NULLIF(concat_ws('; ', " + ", ".join(reasons) + "), '')"


def _fails_sql(spec: TableSpec, fk_filters: list[tuple[str, str]], *,
               missing: dict[str, str], guard: bool = False) -> str:
    """SQL that is TRUE when a row fails any check (cheaper than building the reasons)."""
    conds = [f"({cond})" for cond, _ in _failures(spec, fk_filters, missing, guard)]
    return " OR ".join(conds) or "FALSE"


def _failures(spec: TableSpec, fk_filters: list[tuple[str, str]], missing: dict[str, str],
              guard: bool) -> list[tuple[str, str]]:
    """Each check as (condition TRUE on failure, reason text).

    Args:
        spec: the table.
        fk_filters: ``(column, reference table)`` pairs to check.
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
    for column, ref in fk_filters:
        label = f"{column}: unknown {column.removesuffix('_id')} (not in {ref.split('_ref_')[-1]})"
        c = quote_ident(column)
        out.append((f"{has_value(column)}{c} IS NOT NULL AND {c} NOT IN (SELECT k FROM {ref})",
                    label))
    return out


def _key_expr(spec: TableSpec) -> str:
    """The key as one value (a struct for composite keys), for DISTINCT counts."""
    cols = [quote_ident(k) for k in spec.key]
    return cols[0] if len(cols) == 1 else "struct_pack(" + ", ".join(
        f"{c} := {c}" for c in cols) + ")"


def _record_sql(spec: TableSpec, alias: str = "t") -> str:
    parts = []
    for c in spec.columns:
        v = f"{alias}.{quote_ident(c.name)}"
        if not c.nullable:
            v = f"CASE WHEN {v} = {_SENTINEL.get(c.sql_type, 'NULL')} THEN NULL ELSE {v} END"
        parts.append(f"{quote_ident(c.name)} := {v}")
    return "CAST(to_json(struct_pack(" + ", ".join(parts) + ")) AS VARCHAR)"


def _check_new_rows(ws: Workspace, spec: TableSpec, thr: int,
                    fk_filters: list[tuple[str, str]]
                    ) -> tuple[list[tuple[int, str, str]], bool]:
    """Check the rows appended in this call; move failures out of the table.

    Returns:
        ``(rowid, reason, record json)`` of the rows that failed (now deleted from the table),
        and whether keys may repeat among the appended rows.
    """
    con = ws.con
    target = quote_ident(spec.name)
    held = {c.name: f"{quote_ident(c.name)} = {_SENTINEL[c.sql_type]}"
            for c in spec.columns if not c.nullable and c.sql_type in _SENTINEL}
    reason_sql = _reason_sql(spec, fk_filters, [], missing=held, guard=True)
    # the common case first: does any row fail, does any key repeat? (a WHERE clause lets the
    # engine evaluate each condition only where the cheaper ones before it left rows)
    fails = _fails_sql(spec, fk_filters, missing=held, guard=True)
    n_bad = con.execute(f"SELECT count(*) FROM {target} WHERE rowid >= {int(thr)} AND ({fails})"
                        ).fetchall()[0][0]
    repeats = con.execute(f"SELECT count(*) - count(DISTINCT {_key_expr(spec)}) FROM {target} "
                          f"WHERE rowid >= {int(thr)}").fetchall()[0][0]
    if not n_bad:
        return [], bool(repeats)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _bad AS
        SELECT _rid, _reason FROM (SELECT rowid AS _rid, {reason_sql} AS _reason FROM {target}
                                   WHERE rowid >= {int(thr)}) WHERE _reason IS NOT NULL""")
    rows = con.execute(
        f"SELECT b._rid, b._reason, {_record_sql(spec)} FROM _bad b JOIN {target} t "
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
            f"SELECT count(*) - count(DISTINCT {_key_expr(spec)}) FROM {target} "
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
        f"SELECT r._row, r._status, {_record_sql(spec)}, r._first FROM _resolved r "
        f"JOIN {target} t ON t.rowid = r._row WHERE r._status NOT IN ('load', 'duplicate') "
        "ORDER BY r._row").fetchall()
    con.execute(f"DELETE FROM {target} WHERE rowid IN "
                "(SELECT _row FROM _resolved WHERE _status <> 'load')")
    return int(dup), [(int(r), str(st), str(rec), int(f) if f is not None and f >= thr else None)
                      for r, st, rec, f in conflicts]
