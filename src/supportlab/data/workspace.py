"""The workspace database: validated PRM logs in an embedded DuckDB file.

Canonical tables follow :mod:`supportlab.data.schemas`. Beside them the workspace keeps

* ``quarantine``: every rejected input row with the reason and the original values,
* ``ingest_log``: one row per loaded file (fingerprint, counts), so a run can be audited,
* simulator ground truth (``sim_*`` tables) when the data are simulated.

A :class:`Workspace` holds no database connection between operations, so a notebook that keeps
one open never blocks the scheduled commands: each read opens the file read-only for as long as
it runs, each write opens it read-write for as long as its transaction lasts. DuckDB lets
several processes read at once but only one write; when another process holds the file, the
workspace retries for ``lock_timeout`` seconds (``SUPPORTLAB_LOCK_TIMEOUT``, default 15) and
then names the process that holds it. The database file is created by the first write (ingest,
simulate), never by a read.

Example:
    >>> import tempfile
    >>> from supportlab.config.workspace import init_workspace
    >>> d = tempfile.mkdtemp()
    >>> _ = init_workspace(d)
    >>> with Workspace.open(d) as ws:
    ...     ws.count("partners"), ws.exists
    (0, False)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
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
from supportlab.display import Bullets, Field, Section, Table, check_lang, render_html, render_text
from supportlab.display import label as field_label
from supportlab.errors import WorkspaceError

#: seconds to wait for a database file another process holds (``SUPPORTLAB_LOCK_TIMEOUT``)
DEFAULT_LOCK_TIMEOUT = 15.0
#: what to do when there is nothing to read yet
NO_DATA_FIX = "ingest data with 'supportlab ingest TABLE FILE...' or run 'supportlab simulate'"

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


#: the stored design of each experiment phase (read by every later analysis; see
#: :mod:`supportlab.design.spec`)
DESIGNS_DDL = """
CREATE TABLE IF NOT EXISTS designs (
    experiment_id VARCHAR NOT NULL,
    phase BIGINT NOT NULL,
    package_id VARCHAR NOT NULL,
    version BIGINT NOT NULL,
    method VARCHAR NOT NULL,
    design_hash VARCHAR NOT NULL,
    eligible_hash VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    placebo BOOLEAN NOT NULL,
    n_assigned BIGINT NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    assigned_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (experiment_id, phase)
)"""

#: every change of a task's status, oldest first (tasks are the one table whose rows change)
TASK_HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS task_history (
    task_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    previous_status VARCHAR,
    changed_at TIMESTAMPTZ NOT NULL,
    source VARCHAR
)"""

#: the eligible partners of each experiment phase as randomized (the inputs of the draw, so that
#: ``assign --verify`` re-derives the ledger; see :mod:`supportlab.design.ledger`)
ASSIGNMENT_UNITS_DDL = """
CREATE TABLE IF NOT EXISTS assignment_units (
    experiment_id VARCHAR NOT NULL,
    phase BIGINT NOT NULL,
    partner_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    reason VARCHAR,
    inputs VARCHAR
)"""

#: bookkeeping tables beside the canonical ones, emptied with them by ``simulate --replace``
BOOKKEEPING_DDL: dict[str, str] = {"quarantine": QUARANTINE_DDL, "ingest_log": INGEST_LOG_DDL,
                                   "designs": DESIGNS_DDL, "task_history": TASK_HISTORY_DDL,
                                   "assignment_units": ASSIGNMENT_UNITS_DDL}


def table_ddl(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` statement of a canonical table."""
    spec = table_spec(table)
    cols = ",\n    ".join(
        f"{quote_ident(c.name)} {c.sql_type}{'' if c.nullable else ' NOT NULL'}"
        for c in spec.columns
    )
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} (\n    {cols}\n)"


def lock_timeout_from_env(default: float = DEFAULT_LOCK_TIMEOUT) -> float:
    """The lock wait in seconds from ``SUPPORTLAB_LOCK_TIMEOUT`` (``default`` when unset or invalid).

    Example:
        >>> lock_timeout_from_env(3.0) >= 0
        True
    """
    raw = os.environ.get("SUPPORTLAB_LOCK_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return max(value, 0.0)


_HOLDER_RE = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def describe_lock_holder(message: str) -> tuple[str, bool]:
    """Who holds a database file, from DuckDB's lock message: (description, is a notebook kernel).

    Example:
        >>> describe_lock_holder('Conflicting lock is held in /usr/bin/python3 (PID 4242). See')[0]
        'process 4242 (/usr/bin/python3)'
    """
    m = _HOLDER_RE.search(message)
    if not m:
        return "another process", False
    program, pid = m.group(1), m.group(2)
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace").strip()
    except OSError:
        cmd = ""
    if "ipykernel" in cmd or "jupyter" in cmd or "papermill" in cmd:
        return f"a Jupyter kernel (process {pid})", True
    if "supportlab" in cmd:
        words = cmd.split()
        at = next((i for i, w in enumerate(words) if w.endswith("supportlab")), 0)
        shown = " ".join(["supportlab", *words[at + 1:at + 3]])
        return f"the command '{shown}' (process {pid})", False
    return f"process {pid} ({program})", False


class Workspace:
    """A workspace: its configuration and the DuckDB file it reads and writes.

    Use :meth:`open` (a context manager too) rather than the constructor. Between operations the
    object holds no connection; :meth:`connection` and :meth:`transaction` open one for a block.

    Attributes:
        config: the workspace's ``supportlab.toml``.
        read_only: refuse writes (reads never lock out other readers).
        lock_timeout: seconds to wait while another process holds the database file.
    """

    def __init__(self, config: WorkspaceConfig, con: duckdb.DuckDBPyConnection | None = None,
                 read_only: bool = False, *, lock_timeout: float | None = None) -> None:
        self.config = config
        self.read_only = read_only
        self.lock_timeout = lock_timeout_from_env() if lock_timeout is None else lock_timeout
        self._con: duckdb.DuckDBPyConnection | None = con
        self._con_writes = con is not None and not read_only
        self._depth = 0
        self._held = con is not None
        self._lock = threading.RLock()

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path | None = None, *, read_only: bool = False,
             config: WorkspaceConfig | None = None,
             lock_timeout: float | None = None) -> Workspace:
        """The workspace at (or above) ``root``; nothing is opened or created on disk yet.

        Args:
            root: a directory at or below the workspace's ``supportlab.toml`` (default: cwd).
            read_only: refuse writes.
            config: an already loaded configuration (then ``root`` is ignored).
            lock_timeout: seconds to wait for a database another process holds
                (default: ``SUPPORTLAB_LOCK_TIMEOUT`` or 15).

        Raises:
            WorkspaceError: there is no ``supportlab.toml`` at or above ``root``.
        """
        return cls(config or load_config(root), None, read_only, lock_timeout=lock_timeout)

    @property
    def path(self) -> Path:
        """The database file."""
        return self.config.database_path

    @property
    def exists(self) -> bool:
        """Whether the database file has been created (by a first ingest or simulation)."""
        return self.path.exists()

    def ensure_tables(self) -> None:
        """Create every canonical and bookkeeping table that does not exist yet."""
        with self.connection(write=True) as con:
            self._create_tables(con)

    @staticmethod
    def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
        for name in TABLES:
            con.execute(table_ddl(name))
        for ddl in BOOKKEEPING_DDL.values():
            con.execute(ddl)

    def close(self) -> None:
        """Release the database file if a connection is held; the workspace stays usable."""
        with self._lock:
            if self._con is not None and self._depth == 0:
                self._release()

    def _release(self) -> None:
        con, self._con, self._held, self._con_writes = self._con, None, False, False
        if con is not None:
            con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections ---------------------------------------------------------------------------

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection of the operation under way, or one held until :meth:`close`.

        Low-level: outside :meth:`connection`/:meth:`transaction` blocks this keeps the file
        open (read-write unless ``read_only``), which blocks other processes' writes until
        :meth:`close`. Prefer ``with ws.connection() as con:``.
        """
        with self._lock:
            if self._con is None:
                self._con = self._connect(write=not self.read_only)
                self._con_writes = not self.read_only
                self._held = True
            return self._con

    @contextlib.contextmanager
    def connection(self, *, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one block: read-only unless ``write``; released when the block ends.

        Nested blocks share the outer connection.

        Raises:
            WorkspaceError: a write on a read-only workspace; a read before any data exist;
                the file is held by another process for longer than ``lock_timeout``.
        """
        if write and self.read_only:
            raise WorkspaceError("the workspace was opened read-only", where=str(self.path),
                                 fix="open it with Workspace.open(..., read_only=False) to change it")
        with self._lock:
            if self._con is not None and write and not self._con_writes:
                if self._depth:
                    raise WorkspaceError(
                        "a write was started inside a read-only block", where=str(self.path),
                        fix="open the block with ws.connection(write=True)")
                self._release()
            created = False
            if self._con is None:
                created = write and not self.exists
                self._con = self._connect(write=write)
                self._con_writes = write
            self._depth += 1
            con = self._con
        failed = False
        try:
            yield con
        except BaseException:
            failed = True
            raise
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and not self._held:
                    self._release()
                    if failed and created:
                        self._discard_new_file()

    def _discard_new_file(self) -> None:
        """A first write failed: leave no database behind, as if nothing had been attempted."""
        for f in (self.path, self.path.with_name(self.path.name + ".wal")):
            with contextlib.suppress(OSError):
                f.unlink()

    def _connect(self, *, write: bool) -> duckdb.DuckDBPyConnection:
        path = self.path
        if not write and not path.exists():
            raise WorkspaceError("the workspace holds no data yet (no database file)",
                                 where=str(path), fix=NO_DATA_FIX)
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        read_only = not write
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.ConnectionException as exc:
                # this process already has the file open for writing: share that instance
                if read_only and "different configuration" in str(exc):
                    read_only = False
                    continue
                raise WorkspaceError(
                    f"cannot open the database ({str(exc).splitlines()[0]})", where=str(path),
                    fix="close other connections to it in this Python process") from None
            except duckdb.IOException as exc:
                msg = str(exc)
                if "lock" not in msg.lower():
                    raise WorkspaceError(f"cannot open the database ({msg.splitlines()[0]})",
                                         where=str(path)) from None
                if time.monotonic() + delay > deadline:
                    raise self._lock_error(msg, write) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        self._configure(con)
        if write:
            self._create_tables(con)
        return con

    def _lock_error(self, message: str, write: bool) -> WorkspaceError:
        holder, kernel = describe_lock_holder(message)
        waited = f"waited {self.lock_timeout:g} s"
        if kernel:
            fix = ("run ws.close() in that notebook (or restart its kernel), then run this again; "
                   "notebooks only hold the file while a cell reads or writes, or after ws.con")
        else:
            fix = ("wait for it to finish and run this again, or wait longer with "
                   "SUPPORTLAB_LOCK_TIMEOUT=SECONDS; if it is a notebook, run ws.close() there "
                   "or restart its kernel")
        what = "reading" if write and "read-only mode" in message else "writing to"
        return WorkspaceError(f"the workspace database is in use by another process: {holder} "
                              f"is {what} it ({waited})", where=str(self.path), fix=fix)

    def _configure(self, con: duckdb.DuckDBPyConnection) -> None:
        cfg = self.config
        con.execute(f"SET TimeZone = '{cfg.timezone}'")
        con.execute(f"SET memory_limit = '{cfg.memory_limit}'")
        tmp = self.path.parent / ".duckdb_tmp"
        con.execute(f"SET temp_directory = '{tmp.as_posix()}'")
        set_progress_bar(con, False)

    # -- reading -------------------------------------------------------------------------------

    def tables(self) -> list[str]:
        """Names of all tables in the workspace database (none before the first write)."""
        if not self.exists and self._con is None:
            return []
        with self.connection() as con:
            return self._tables(con)

    @staticmethod
    def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_catalog = current_database() ORDER BY table_name").fetchall()
        return [r[0] for r in rows]

    def has_table(self, name: str) -> bool:
        """Whether the database has table ``name``."""
        return name in self.tables()

    def count(self, table: str) -> int:
        """Row count of a table (0 for a canonical table not created yet)."""
        if table in TABLES and not self.has_table(table):
            return 0
        with self.connection() as con:
            return int(con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0])

    def counts(self) -> dict[str, int]:
        """Row counts of every canonical table plus quarantine (those that exist)."""
        if not self.exists and self._con is None:
            return {}
        with self.connection() as con:
            present = set(self._tables(con))
            return {n: int(con.execute(f"SELECT count(*) FROM {quote_ident(n)}").fetchall()[0][0])
                    for n in [*TABLES, "quarantine"] if n in present}

    def holds_data(self) -> bool:
        """Whether any canonical table has rows."""
        return any(n for t, n in self.counts().items() if t in TABLES)

    def require_data(self, table: str = "partners") -> None:
        """Fail with a clear message when ``table`` (default: partners) has no rows yet.

        Raises:
            WorkspaceError: the database does not exist or ``table`` is empty.
        """
        if not self.exists and self._con is None:
            raise WorkspaceError("the workspace holds no data yet (no database file)",
                                 where=str(self.path), fix=NO_DATA_FIX)
        if self.count(table) == 0:
            others = {t: n for t, n in self.counts().items() if n and t in TABLES}
            if others:
                raise WorkspaceError(
                    f"the workspace has no {table} yet (it holds "
                    + ", ".join(f"{t} {n:,}" for t, n in others.items()) + ")",
                    where=str(self.path),
                    fix=f"ingest {table} first: supportlab ingest {table} FILE...")
            raise WorkspaceError("the workspace holds no data yet", where=str(self.path),
                                 fix=NO_DATA_FIX)

    def holds_real_data(self) -> bool:
        """Whether the workspace holds data that did not come from the simulator.

        True when anything was ingested (``ingest_log``), or canonical tables hold rows without
        a simulated world beside them (``sim_partners``), or partners beyond the simulated ones.
        ``supportlab demo`` and ``simulate --replace`` must not overwrite such a workspace.

        Example:
            >>> import tempfile
            >>> from supportlab.config.workspace import init_workspace
            >>> d = tempfile.mkdtemp()
            >>> _ = init_workspace(d)
            >>> Workspace.open(d).holds_real_data()
            False
        """
        if not self.exists and self._con is None:
            return False
        with self.connection() as con:
            present = set(self._tables(con))

            def rows(sql: str) -> int:
                return int(con.execute(sql).fetchall()[0][0])

            if "ingest_log" in present and rows("SELECT count(*) FROM ingest_log"):
                return True
            held = any(rows(f"SELECT count(*) FROM {quote_ident(t)}") for t in TABLES
                       if t in present)
            if not held:
                return False
            if "sim_partners" not in present:
                return True
            if "partners" in present:
                extra = rows("SELECT count(*) FROM partners WHERE partner_id NOT IN "
                             "(SELECT partner_id FROM sim_partners)")
                return extra > 0
            return False

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run SQL and return a pandas DataFrame (for small, aggregated results)."""
        with self.connection() as con:
            return con.execute(sql, params or []).df()

    def table(self, name: str) -> pd.DataFrame:
        """A whole table as pandas (meant for small tables such as partners)."""
        return self.query(f"SELECT * FROM {quote_ident(name)}")

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: commit when the block ends, roll back on any error.

        The database file is opened read-write for the block only (and created by the first
        write; a first write that fails leaves no file behind).
        """
        with self.connection(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:  # already rolled back by the engine (e.g. an interrupt)
                    pass
                raise
            else:
                con.execute("COMMIT")

    def append(self, table: str, data: pa.Table | pd.DataFrame) -> int:
        """Append rows (matched by column name) to a table, creating ``sim_*``/extra tables.

        Canonical tables must exist; other tables are created from the data's columns.
        """
        name = quote_ident(table)
        with self.connection(write=True) as con:
            con.register("_append_data", data)
            try:
                if table in TABLES or table in self._tables(con):
                    con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _append_data")
                else:
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM _append_data")
            finally:
                con.unregister("_append_data")
        return len(data)

    def export_parquet(self, directory: str | Path, tables: list[str] | None = None) -> list[Path]:
        """Write tables as ``<directory>/<table>.parquet`` (e.g. for the Spark engine).

        Files are written beside the target and renamed into place, so readers never see a
        half-written file.
        """
        self.require_data()
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        with self.connection() as con:
            present = self._tables(con)
            for t in tables or [t for t in TABLES if t in present]:
                final = out / f"{t}.parquet"
                tmp = out / f".{t}.parquet.tmp"
                con.execute(f"COPY {quote_ident(t)} TO '{tmp.as_posix()}' "
                            "(FORMAT parquet, COMPRESSION zstd)")
                tmp.replace(final)
                written.append(final)
        return written

    def drop(self, table: str) -> None:
        """Drop a table if it exists."""
        with self.connection(write=True) as con:
            con.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")

    def summary_text(self) -> str:
        """A few lines describing what the workspace holds."""
        c = self.counts()
        if not any(c.values()):
            return "the workspace holds no data yet"
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

    def to_section(self, lang: str = "en") -> Section:
        """The workspace as a :class:`~supportlab.display.Section`: database, engine, access,
        the date range of the events and every table with its row count."""
        ja = check_lang(lang) == "ja"
        engine = self.config.engine
        items: list[Field | Bullets | Table | Section] = [
            Field(field_label("database", lang), str(self.path)),
            Field(field_label("engine", lang), engine.kind + (f" ({engine.path})" if engine.path else "")),
            Field("タイムゾーン" if ja else "timezone", self.config.timezone),
            Field(field_label("read_only", lang), ("はい" if ja else "yes") if self.read_only
                  else ("いいえ" if ja else "no")),
        ]
        try:
            counts = self.counts()
            span = (self.query("SELECT min(ts) AS lo, max(ts) AS hi FROM events")
                    if counts.get("events") else None)
        except (WorkspaceError, duckdb.Error) as exc:
            items.append(Field("状態" if ja else "status", f"cannot read the database: {exc}"))
            return Section("ワークスペース" if ja else "Workspace", tuple(items),
                           str(self.config.root))
        if span is not None:
            items.append(Field("イベントの期間" if ja else "events",
                               f"{span.lo[0]:%Y-%m-%d} – {span.hi[0]:%Y-%m-%d}"))
        if counts:
            items.append(Table(field_label("tables", lang),
                               ("テーブル", "行数") if ja else ("table", "rows"),
                               tuple((name, f"{n:,}") for name, n in counts.items()),
                               ("left", "right")))
        else:
            items.append(Field("状態" if ja else "status",
                               "データはまだありません" if ja else "no data yet"))
        return Section("ワークスペース" if ja else "Workspace", tuple(items),
                       str(self.config.root))

    def __repr__(self) -> str:
        return (f"Workspace(root={str(self.config.root)!r}, database={str(self.path)!r}, "
                f"read_only={self.read_only})")

    def __str__(self) -> str:
        return render_text(self.to_section())

    def _repr_html_(self) -> str:
        return render_html(self.to_section())

    # -- validation ----------------------------------------------------------------------------

    def validate(self, tables: list[str] | None = None) -> ValidationReport:
        """Re-check the whole workspace in the engine: schemas, keys and cross-table references.

        Returns:
            A :class:`ValidationReport` (``.ok`` is True when everything passed).

        Raises:
            WorkspaceError: the workspace holds no data yet.
        """
        if not self.holds_data():
            raise WorkspaceError("the workspace holds no data yet: there is nothing to validate",
                                 where=str(self.path), fix=NO_DATA_FIX)
        report = ValidationReport()
        with self.connection() as con:
            present = set(self._tables(con))
            for name in tables or list(TABLES):
                if name in present:
                    report = report + _validate_table(con, name, present)
        return report

    # -- helpers -------------------------------------------------------------------------------

    def run_with_progress(self, sql: str, on_progress: Callable[[float], None] | None,
                          params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Execute one long statement, reporting the engine's progress (0–100) meanwhile.

        Where the engine cannot measure progress (a Jupyter kernel without ``ipywidgets``),
        the statement simply runs and ``on_progress`` hears 100 at the end.

        Returns:
            The statement's result rows (for an INSERT: the row count).
        """
        with self.connection(write=True) as con:
            if on_progress is None or not set_progress_bar(con, True):
                try:
                    return con.execute(sql, params or []).fetchall()
                finally:
                    if on_progress is not None:
                        on_progress(100.0)
            done = threading.Event()

            def poll() -> None:
                while not done.wait(0.25):
                    try:
                        p = con.query_progress()
                    except duckdb.Error:
                        continue
                    if p is not None and p >= 0:
                        on_progress(float(p))

            th = threading.Thread(target=poll, daemon=True)
            th.start()
            try:
                return con.execute(sql, params or []).fetchall()
            finally:
                done.set()
                th.join()
                set_progress_bar(con, False)
                on_progress(100.0)


def data_fingerprint(workspace: Workspace) -> str:
    """A SHA-256 over what the workspace holds: every table's row count, the ingest log's file
    fingerprints and the latest event time (a changed or reloaded input changes it)."""
    h = hashlib.sha256()
    with workspace.connection() as con:
        tables = sorted(r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE'").fetchall())
        for t in tables:
            n = con.execute(f'SELECT count(*) FROM "{t}"').fetchone()
            h.update(f"{t}:{n[0] if n else 0};".encode())
        if "ingest_log" in tables:
            for (fp,) in con.execute("SELECT fingerprint FROM ingest_log ORDER BY 1").fetchall():
                h.update(str(fp).encode())
        if "events" in tables:
            cols = {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'")
                .fetchall()}
            for c in ("occurred_at", "ts", "timestamp", "event_time"):
                if c in cols:
                    last = con.execute(f'SELECT max("{c}") FROM events').fetchone()
                    h.update(str(last[0] if last else None).encode())
                    break
    return h.hexdigest()


def set_progress_bar(con: duckdb.DuckDBPyConnection, on: bool) -> bool:
    """Let the engine measure query progress (never printing it); False where it cannot.

    Inside a Jupyter kernel without ``ipywidgets`` DuckDB refuses any change of its progress
    bar setting; the workspace then works without progress.

    Example:
        >>> set_progress_bar(duckdb.connect(), False)
        True
    """
    if not progress_bar_settable():
        return False
    con.execute(f"SET enable_progress_bar = {'true' if on else 'false'}")
    if on:
        con.execute("SET enable_progress_bar_print = false")
    return True


@functools.cache
def progress_bar_settable() -> bool:
    """Whether this process may change DuckDB's progress bar setting (decided once per process).

    Tried on a scratch in-memory database, because a refused setting inside a transaction
    would abort the transaction.
    """
    scratch = duckdb.connect()
    try:
        scratch.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        return False
    finally:
        scratch.close()
    return True


def _examples(con: duckdb.DuckDBPyConnection, table: str, where: str,
              columns: list[str]) -> tuple[int, tuple[str, ...]]:
    t = quote_ident(table)
    n = int(con.execute(f"SELECT count(*) FROM {t} WHERE {where}").fetchall()[0][0])
    if not n:
        return 0, ()
    cols = ", ".join(quote_ident(c) for c in columns)
    rows = con.execute(f"SELECT {cols} FROM {t} WHERE {where} LIMIT {MAX_EXAMPLES}").fetchall()
    ex = tuple(", ".join(f"{c}={v!s}" for c, v in zip(columns, r, strict=True)) for r in rows)
    return n, ex


def _validate_table(con: duckdb.DuckDBPyConnection, table: str,
                    present: set[str]) -> ValidationReport:
    spec = table_spec(table)
    key = list(spec.key)
    failures: list[Failure] = []
    show = list(dict.fromkeys([*key, "partner_id"] if "partner_id" in spec.column_names else key))
    for column, label, pred in sql_checks(table):
        n, ex = _examples(con, table, f"({pred})", list(dict.fromkeys([*show, column])))
        if n:
            failures.append(Failure(table, column, label, n, ex))
    kcols = ", ".join(quote_ident(c) for c in key)
    t = quote_ident(table)
    dup_sql = f"SELECT {kcols}, count(*) AS n FROM {t} GROUP BY ALL HAVING count(*) > 1"
    n = int(con.execute(f"SELECT count(*) FROM ({dup_sql})").fetchall()[0][0])
    if n:
        rows = con.execute(f"{dup_sql} LIMIT {MAX_EXAMPLES}").fetchall()
        ex = tuple(", ".join(f"{c}={v}" for c, v in zip([*key, "rows"], r, strict=True))
                   for r in rows)
        failures.append(Failure(table, "+".join(key), "key must be unique", n, ex))
    for (src_t, src_c), (dst_t, dst_c) in FOREIGN_KEYS.items():
        if src_t != table:
            continue
        known = (f"(SELECT {quote_ident(dst_c)} FROM {quote_ident(dst_t)})" if dst_t in present
                 else "(SELECT NULL WHERE FALSE)")
        where = f"{quote_ident(src_c)} IS NOT NULL AND {quote_ident(src_c)} NOT IN {known}"
        n, ex = _examples(con, table, where, list(dict.fromkeys([*key, src_c])))
        if n:
            failures.append(Failure(table, src_c, f"must reference a known {dst_t}.{dst_c}", n, ex))
    return ValidationReport(tuple(failures))


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
    with ws.transaction() as con:
        if replace:
            for t in ws.tables():
                if t.startswith("sim_"):
                    ws.drop(t)
            for t in [*TABLES, *BOOKKEEPING_DDL]:
                con.execute(f"DELETE FROM {quote_ident(t)}")
        for table, data in chunks:
            written[table] = written.get(table, 0) + ws.append(table, data)
            if on_rows:
                on_rows(table, written[table])
    return written


def now_tz() -> pd.Timestamp:
    """The current instant, timezone-aware (UTC)."""
    return pd.Timestamp(time.time(), unit="s", tz="UTC")
