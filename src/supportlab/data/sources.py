"""Input files as SQL sources: CSV (delimiter and header sniffed), Parquet and Excel ``.xlsx``.

Each reader returns a :class:`Source`: a ``FROM`` clause (or a registered frame) the ingest
transaction selects from, the file's headers and types, and where its data rows start, so that
every message can name the file's own line or sheet row. Structural CSV errors (truncated lines,
stray quotes or delimiters) are translated into what / where / how to fix.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "partners.csv"
    >>> _ = p.write_text("partner_id;name\\nP1;Acme\\n", encoding="utf-8")
    >>> src = csv_source(p, None, p.parent)
    >>> src.headers, src.encoding
    (['partner_id', 'name'], 'utf-8')
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd

from supportlab.data.encoding import detect_encoding, transcode_to_utf8
from supportlab.data.schemas import TableSpec
from supportlab.errors import InputFileError

__all__ = [
    "STRUCTURAL_ERRORS",
    "HeaderMapping",
    "Source",
    "check_headers",
    "csv_error",
    "csv_source",
    "excel_source",
    "parquet_source",
    "rejected_lines_frame",
    "sql_str",
    "structural_error",
]


class HeaderMapping(Protocol):
    """What readers need of a column mapping (see :class:`supportlab.data.ingestion.ColumnMapping`)."""

    @property
    def values(self) -> Mapping[str, Mapping[str, str]]: ...

    @property
    def sheet(self) -> str | None: ...

    def canonical(self, header: str) -> str: ...

@dataclass
class Source:
    """An input prepared for SQL: a FROM clause, its columns and how they map."""

    sql: str
    headers: list[str]
    types: dict[str, str]
    encoding: str | None = None
    row_offset: int = 1  # file line / sheet row of data row 1, for messages
    notes: list[str] = field(default_factory=list)
    relation: Any = None  # keeps a registered object alive
    row_numbers: list[int] | None = None  # line/sheet row of each data row, when not contiguous


def sql_str(value: str) -> str:
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


def csv_source(path: Path, encoding: str | None, tmpdir: Path) -> Source:
    if path.stat().st_size == 0:
        raise InputFileError("the file is empty (0 bytes)", where=str(path),
                             fix="check that the export finished; nothing was loaded")
    enc = detect_encoding(path, encoding)
    read_path = path
    notes: list[str] = []
    if enc == "cp932":
        read_path = transcode_to_utf8(path, enc, tmpdir)
        notes.append("read as cp932 (Shift_JIS)")
    with read_path.open("rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", errors="replace")
    delim, headers = _sniff_header(head.lstrip("\ufeff"), str(path))
    check_headers(headers, str(path))
    cols = "{" + ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in headers) + "}"
    sql = (f"read_csv({sql_str(read_path.as_posix())}, delim={sql_str(delim)}, quote='\"', "
           f"escape='\"', header=true, auto_detect=false, columns={cols}, strict_mode=true, "
           f"null_padding=false, encoding='utf-8')")
    return Source(sql, headers, dict.fromkeys(headers, "VARCHAR"), enc, 1, notes)


def check_headers(headers: list[str], where: str) -> None:
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


def parquet_source(path: Path, con: duckdb.DuckDBPyConnection) -> Source:
    sql = f"read_parquet({sql_str(path.as_posix())})"
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
    except duckdb.Error as exc:
        raise InputFileError(f"not a readable Parquet file ({str(exc).splitlines()[0]})",
                             where=str(path), fix="check that the file is complete") from None
    headers = [r[0] for r in desc]
    return Source(sql, headers, {r[0]: r[1] for r in desc}, None, row_offset=0)


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


def excel_source(path: Path, mapping: HeaderMapping, spec: TableSpec) -> Source:
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
    check_headers(header, where)
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
    return Source("", header, dict.fromkeys(header, "VARCHAR"), None, best + 1, notes, df,
                   numbers)


_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")


_ORIG_RE = re.compile(r"Original Line: ?(.*?)(?:\n|$)")


def csv_error(exc: duckdb.Error, path: Path) -> InputFileError:
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


STRUCTURAL_ERRORS = ("MISSING COLUMNS", "TOO MANY COLUMNS", "UNQUOTED VALUE", "LINE SIZE OVER MAXIMUM",
               "INVALID UNICODE", "INVALID ENCODING")


def structural_error(rows: list[tuple[Any, ...]], path: Path, n_header: int) -> InputFileError:
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


def rejected_lines_frame(src: Source, delim: str, lines: list[tuple[int, str]]) -> pd.DataFrame:
    """The lines a typed CSV read rejected, as text fields under the file's headers."""
    rows = []
    for _line, text in lines:
        # the reader's copy of a rejected line can start with the tail of a CRLF line break
        fields = next(csv.reader(io.StringIO(text.strip("\r\n")), delimiter=delim), [])
        padded: list[str | None] = [*fields, *[None] * len(src.headers)][: len(src.headers)]
        rows.append([f if f != "" else None for f in padded])
    return pd.DataFrame(rows, columns=src.headers, dtype="string").astype(object)
