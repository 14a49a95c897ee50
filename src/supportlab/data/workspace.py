"""The workspace database: validated PRM logs in an embedded DuckDB file.

Canonical tables follow :mod:`supportlab.data.schemas`. Beside them the workspace keeps

* ``quarantine``: every rejected input row with the reason and the original values,
* ``ingest_log``: one row per loaded file (fingerprint, counts), so a run can be audited,
* simulator ground truth (``sim_*`` tables) when the data are simulated.

Example:
    >>> import tempfile
    >>> from supportlab.config.workspace import init_workspace
    >>> d = tempfile.mkdtemp()
    >>> _ = init_workspace(d)
    >>> with Workspace.open(d) as ws:
    ...     ws.count("partners")
    0
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from supportlab.config.workspace import WorkspaceConfig, load_config
from supportlab.data.schemas import (
    FOREIGN_KEYS,
    MAX_EXAMPLES,
    TABLES,
    Failure,
    ValidationReport,
    quote_ident,
    sql_checks,
    table_spec,
)
from supportlab.errors import WorkspaceError

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    batch_id VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_row BIGINT,
    reason VARCHAR NOT NULL,
    record JSON,
    quarantined_at TIMESTAMPTZ NOT NULL
)"""

INGEST_LOG_DDL = """
CREATE TABLE IF NOT EXISTS ingest_log (
    batch_id VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    duplicates_skipped BIGINT NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
)"""


def table_ddl(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` statement of a canonical table."""
    spec = table_spec(table)
    cols = ",\n    ".join(
        f"{quote_ident(c.name)} {c.sql_type}{'' if c.nullable else ' NOT NULL'}"
        for c in spec.columns
    )
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} (\n    {cols}\n)"


class Workspace:
    """An open workspace: configuration plus a DuckDB connection.

    Use :meth:`open` (a context manager too) rather than the constructor.
    """

    def __init__(self, config: WorkspaceConfig, con: duckdb.DuckDBPyConnection,
                 read_only: bool = False) -> None:
        self.config = config
        self.con = con
        self.read_only = read_only

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path | None = None, *, read_only: bool = False,
             config: WorkspaceConfig | None = None) -> Workspace:
        """Open the workspace at (or above) ``root``, creating its tables when missing."""
        cfg = config or load_config(root)
        path = cfg.database_path
        if read_only and not path.exists():
            raise WorkspaceError("the workspace database does not exist yet", where=str(path),
                                 fix="load data with 'supportlab ingest' or 'supportlab simulate'")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
            except duckdb.ConnectionException as exc:
                # this process already has the file open for writing: share that instance
                if not (read_only and "different configuration" in str(exc)):
                    raise
                con = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" in msg.lower():
                raise WorkspaceError(
                    "the workspace database is in use by another process", where=str(path),
                    fix="wait for the other supportlab command (or notebook kernel) to finish",
                ) from None
            raise WorkspaceError(f"cannot open the database ({msg.splitlines()[0]})",
                                 where=str(path)) from None
        con.execute(f"SET TimeZone = '{cfg.timezone}'")
        con.execute(f"SET memory_limit = '{cfg.memory_limit}'")
        tmp = path.parent / ".duckdb_tmp"
        con.execute(f"SET temp_directory = '{tmp.as_posix()}'")
        con.execute("SET enable_progress_bar = false")
        ws = cls(cfg, con, read_only)
        if not read_only:
            ws.ensure_tables()
        return ws

    def ensure_tables(self) -> None:
        """Create every canonical and bookkeeping table that does not exist yet."""
        for name in TABLES:
            self.con.execute(table_ddl(name))
        self.con.execute(QUARANTINE_DDL)
        self.con.execute(INGEST_LOG_DDL)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def tables(self) -> list[str]:
        """Names of all tables in the workspace database."""
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name").fetchall()
        return [r[0] for r in rows]

    def has_table(self, name: str) -> bool:
        return name in self.tables()

    def count(self, table: str) -> int:
        """Row count of a table."""
        return int(self.con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0])

    def counts(self) -> dict[str, int]:
        """Row counts of every canonical table plus quarantine."""
        names = [*TABLES, "quarantine"]
        return {n: self.count(n) for n in names if self.has_table(n)}

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run SQL and return a pandas DataFrame (for small, aggregated results)."""
        return self.con.execute(sql, params or []).df()

    def table(self, name: str) -> pd.DataFrame:
        """A whole table as pandas (meant for small tables such as partners)."""
        return self.query(f"SELECT * FROM {quote_ident(name)}")

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: commit when the block ends, roll back on any error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:  # already rolled back by the engine (e.g. an interrupt)
                pass
            raise
        else:
            self.con.execute("COMMIT")

    def append(self, table: str, data: pa.Table | pd.DataFrame) -> int:
        """Append rows (matched by column name) to a table, creating ``sim_*``/extra tables.

        Canonical tables must exist; other tables are created from the data's columns.
        """
        name = quote_ident(table)
        self.con.register("_append_data", data)
        try:
            if table in TABLES or self.has_table(table):
                self.con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _append_data")
            else:
                self.con.execute(f"CREATE TABLE {name} AS SELECT * FROM _append_data")
        finally:
            self.con.unregister("_append_data")
        return len(data)

    def export_parquet(self, directory: str | Path, tables: list[str] | None = None) -> list[Path]:
        """Write tables as ``<directory>/<table>.parquet`` (e.g. for the Spark engine).

        Files are written beside the target and renamed into place, so readers never see a
        half-written file.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for t in tables or [t for t in TABLES if self.has_table(t)]:
            final = out / f"{t}.parquet"
            tmp = out / f".{t}.parquet.tmp"
            self.con.execute(f"COPY {quote_ident(t)} TO '{tmp.as_posix()}' "
                             "(FORMAT parquet, COMPRESSION zstd)")
            tmp.replace(final)
            written.append(final)
        return written

    def drop(self, table: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")

    def summary_text(self) -> str:
        """A few lines describing what the workspace holds."""
        c = self.counts()
        lines = [", ".join(f"{k} {v:,}" for k, v in c.items())]
        if c.get("partners"):
            ranks = self.query("SELECT rank, count(*) AS n FROM partners GROUP BY 1 ORDER BY 1")
            lines.append("partners by rank: " + ", ".join(
                f"{r.rank} {r.n:,}" for r in ranks.itertuples()))
        if c.get("events"):
            ev = self.query("SELECT min(ts) AS lo, max(ts) AS hi FROM events")
            lines.append(f"events from {ev.lo[0]:%Y-%m-%d} to {ev.hi[0]:%Y-%m-%d}")
        if c.get("deals"):
            d = self.query("SELECT count(*) AS n, count(*) FILTER (WHERE won) AS won, "
                           "sum(amount) FILTER (WHERE won) AS rev FROM deals")
            lines.append(f"deals {d.n[0]:,}, won {d.won[0]:,}, won revenue "
                         f"{(d.rev[0] or 0):,.0f}")
        return "\n".join(lines)

    # -- validation ----------------------------------------------------------------------------

    def validate(self, tables: list[str] | None = None) -> ValidationReport:
        """Re-check the whole workspace in the engine: schemas, keys and cross-table references.

        Returns:
            A :class:`ValidationReport` (``.ok`` is True when everything passed).
        """
        report = ValidationReport()
        for name in tables or list(TABLES):
            report = report + self._validate_table(name)
        return report

    def _examples(self, table: str, where: str, columns: list[str]) -> tuple[int, tuple[str, ...]]:
        t = quote_ident(table)
        n = int(self.con.execute(f"SELECT count(*) FROM {t} WHERE {where}").fetchall()[0][0])
        if not n:
            return 0, ()
        cols = ", ".join(quote_ident(c) for c in columns)
        rows = self.con.execute(
            f"SELECT {cols} FROM {t} WHERE {where} LIMIT {MAX_EXAMPLES}").fetchall()
        ex = tuple(", ".join(f"{c}={v!s}" for c, v in zip(columns, r, strict=True)) for r in rows)
        return n, ex

    def _validate_table(self, table: str) -> ValidationReport:
        spec = table_spec(table)
        if not self.has_table(table):
            return ValidationReport()
        key = list(spec.key)
        failures: list[Failure] = []
        show = list(dict.fromkeys([*key, "partner_id"] if "partner_id" in spec.column_names
                                  else key))
        for column, label, pred in sql_checks(table):
            n, ex = self._examples(table, f"({pred})", list(dict.fromkeys([*show, column])))
            if n:
                failures.append(Failure(table, column, label, n, ex))
        # keys unique
        kcols = ", ".join(quote_ident(c) for c in key)
        t = quote_ident(table)
        dup_sql = (f"SELECT {kcols}, count(*) AS n FROM {t} GROUP BY ALL HAVING count(*) > 1")
        n = int(self.con.execute(f"SELECT count(*) FROM ({dup_sql})").fetchall()[0][0])
        if n:
            rows = self.con.execute(f"{dup_sql} LIMIT {MAX_EXAMPLES}").fetchall()
            ex = tuple(", ".join(f"{c}={v}" for c, v in zip([*key, "rows"], r, strict=True))
                       for r in rows)
            failures.append(Failure(table, "+".join(key), "key must be unique", n, ex))
        # references
        for (src_t, src_c), (dst_t, dst_c) in FOREIGN_KEYS.items():
            if src_t != table:
                continue
            where = (f"{quote_ident(src_c)} IS NOT NULL AND {quote_ident(src_c)} NOT IN "
                     f"(SELECT {quote_ident(dst_c)} FROM {quote_ident(dst_t)})")
            n, ex = self._examples(table, where, list(dict.fromkeys([*key, src_c])))
            if n:
                failures.append(Failure(table, src_c, f"must reference a known {dst_t}.{dst_c}",
                                        n, ex))
        return ValidationReport(tuple(failures))

    # -- helpers -------------------------------------------------------------------------------

    def run_with_progress(self, sql: str, on_progress: Callable[[float], None] | None,
                          params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Execute one long statement, reporting the engine's progress (0–100) meanwhile.

        Returns:
            The statement's result rows (for an INSERT: the row count).
        """
        if on_progress is None:
            return self.con.execute(sql, params or []).fetchall()
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.25):
                try:
                    p = self.con.query_progress()
                except duckdb.Error:
                    continue
                if p is not None and p >= 0:
                    on_progress(float(p))

        # the engine measures progress only while its progress bar is on; keep it from printing
        self.con.execute("SET enable_progress_bar = true")
        self.con.execute("SET enable_progress_bar_print = false")
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        try:
            return self.con.execute(sql, params or []).fetchall()
        finally:
            done.set()
            th.join()
            self.con.execute("SET enable_progress_bar = false")
            on_progress(100.0)


def simulated_tables(written: dict[str, int]) -> list[str]:
    """Order tables for display: canonical ones first, then ground truth."""
    return [t for t in TABLES if t in written] + sorted(t for t in written if t not in TABLES)


def write_simulation(ws: Workspace, chunks: Iterator[tuple[str, pa.Table]], *,
                     replace: bool = False,
                     on_rows: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Append simulator output to the workspace in one transaction.

    Args:
        ws: the open workspace.
        chunks: ``(table, arrow table)`` pairs as yielded by :func:`supportlab.sim.simulate.simulate_world`.
        replace: first empty every canonical table and drop earlier ``sim_*`` tables.
        on_rows: called with (table, rows written so far) after each chunk.

    Returns:
        Rows written per table.
    """
    written: dict[str, int] = {}
    with ws.transaction():
        if replace:
            for t in ws.tables():
                if t.startswith("sim_"):
                    ws.drop(t)
            for t in [*TABLES, "quarantine", "ingest_log"]:
                ws.con.execute(f"DELETE FROM {quote_ident(t)}")
        for table, data in chunks:
            written[table] = written.get(table, 0) + ws.append(table, data)
            if on_rows:
                on_rows(table, written[table])
    return written


def now_tz() -> pd.Timestamp:
    """The current instant, timezone-aware (UTC)."""
    return pd.Timestamp(time.time(), unit="s", tz="UTC")
