"""Engines that run supportlab's metric definitions: DuckDB (default), Parquet files, Spark.

Metrics are written once as ibis expressions (:mod:`supportlab.features.metrics`) and compiled for the
engine the workspace names in ``supportlab.toml``::

    [engine]
    kind = "duckdb"            # the workspace database (default)
    # kind = "parquet"         # a directory of Parquet files, queried with DuckDB
    # kind = "spark"           # Apache Spark
    # path = "data/parquet"    # parquet/spark: a directory with <table>.parquet or <table>/*.parquet
    # master = "local[2]"      # spark: the master URL
    # database = "prm"         # spark: read tables from this catalog database instead of path

Raw rows never come into pandas: only per-partner aggregates do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from supportlab.config.workspace import WorkspaceConfig
from supportlab.data.schemas import TABLES
from supportlab.errors import ConfigError, WorkspaceError

KINDS = ("duckdb", "parquet", "spark")


@dataclass(frozen=True)
class EngineConfig:
    """Which engine computes metrics, and where it finds the tables."""

    kind: str = "duckdb"
    path: str | None = None
    master: str = "local[2]"
    database: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_workspace(cls, cfg: WorkspaceConfig) -> EngineConfig:
        """The ``[engine]`` section of a workspace (validated with the whole supportlab.toml)."""
        sec = cfg.engine
        path = sec.path
        if path is not None and not Path(path).is_absolute():
            path = str(cfg.root / path)
        return cls(sec.kind, path, sec.master, sec.database, dict(sec.options))


class Engine:
    """A connection that hands out ibis tables and executes expressions to pandas.

    An engine on the workspace database holds no connection: each :meth:`execute` opens the
    file read-only for the query's duration (or joins the workspace's block under way), so a
    notebook keeping an engine never blocks scheduled commands.
    """

    def __init__(self, kind: str, backend: Any, tables: Mapping[str, Any],
                 timezone: str, owner: Any = None, *, workspace: Any = None) -> None:
        self.kind = kind
        self._backend = backend
        self._tables = dict(tables)
        self.timezone = timezone
        self._owner = owner
        self._workspace = workspace
        self.dialect = backend.name if backend is not None else "duckdb"

    @property
    def backend(self) -> Any:
        """The ibis backend (on the workspace database: one holding the file until ``ws.close()``)."""
        if self._backend is None:
            return ibis.duckdb.from_connection(self._workspace.con.cursor())
        return self._backend

    def table(self, name: str) -> ibis.Table:
        """The ibis table ``name`` (a canonical table or another workspace table)."""
        if name in self._tables:
            return self._tables[name]
        try:
            if self._workspace is not None:
                with self._workspace.connection() as con:
                    cur = con.cursor()
                    try:
                        schema = ibis.duckdb.from_connection(cur).table(name).schema()
                    finally:
                        cur.close()
                t = ibis.table(schema, name=name)
            else:
                t = self._backend.table(name)
        except WorkspaceError:
            raise
        except Exception as exc:  # backends raise different kinds
            raise WorkspaceError(f"table '{name}' is not available in the {self.kind} engine",
                                 fix="load it first (supportlab ingest) or check [engine] path"
                                 ) from exc
        self._tables[name] = t
        return t

    def has_table(self, name: str) -> bool:
        """Whether the engine can read table ``name``."""
        try:
            self.table(name)
        except WorkspaceError:
            return False
        return True

    def execute(self, expr: ibis.Expr) -> pd.DataFrame:
        """Run an expression in the engine; return the (small, aggregated) result.

        Goes through Arrow directly: ibis' own pandas conversion turns every column holding a
        null into Python objects, which costs more than the query on wide results.
        """
        if self._workspace is not None:
            with self._workspace.connection() as con:
                cur = con.cursor()  # ibis sets its own session options: keep them off ``con``
                try:
                    out = ibis.duckdb.from_connection(cur).to_pyarrow(expr)
                finally:
                    cur.close()
        else:
            out = expr.to_pyarrow()
        return out.as_py() if isinstance(out, pa.Scalar) else out.to_pandas()

    def sql(self, expr: ibis.Expr) -> str:
        """The SQL the engine runs for ``expr``."""
        return str(ibis.to_sql(expr, dialect=self.dialect))


def _parquet_paths(root: Path, name: str) -> str | None:
    single = root / f"{name}.parquet"
    if single.is_file():
        return str(single)
    folder = root / name
    if folder.is_dir() and any(folder.glob("*.parquet")):
        return str(folder / "*.parquet")
    return None


def connect_duckdb(con: Any, timezone: str) -> Engine:
    """An engine on an open DuckDB connection (kept open by the caller)."""
    return Engine("duckdb", ibis.duckdb.from_connection(con), {}, timezone)


def connect_workspace(workspace: Any) -> Engine:
    """An engine on the workspace database that connects only while a query runs.

    Raises:
        WorkspaceError: the workspace holds no partners yet (nothing to compute on).
    """
    workspace.require_data("partners")
    return Engine("duckdb", None, {}, workspace.config.timezone, workspace=workspace)


def connect_parquet(path: str | Path, timezone: str) -> Engine:
    """An engine over a directory of Parquet files, queried by an in-memory DuckDB."""
    root = Path(path)
    if not root.is_dir():
        raise WorkspaceError("the Parquet directory does not exist", where=str(root),
                             fix="export the workspace with 'supportlab export DIR' or fix "
                                 "[engine] path")
    backend = ibis.duckdb.connect()
    backend.raw_sql(f"SET TimeZone = '{timezone}'")
    tables = {}
    for name in TABLES:
        p = _parquet_paths(root, name)
        if p is not None:
            tables[name] = backend.read_parquet(p, table_name=name)
    return Engine("parquet", backend, tables, timezone)


_SPARK: dict[str, Any] = {}


def spark_session(master: str = "local[2]", options: Mapping[str, str] | None = None) -> Any:
    """A shared local or cluster SparkSession with UTC session time (cached per master)."""
    if master in _SPARK:
        return _SPARK[master]
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("the Spark engine needs pyspark", fix="pip install 'supportlab[spark]'"
                          ) from None
    builder = (SparkSession.builder.master(master).appName("supportlab")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.driver.memory", "2g"))
    for k, v in (options or {}).items():
        builder = builder.config(k, v)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    _SPARK[master] = session
    return session


def connect_spark(path: str | Path | None, timezone: str, *, master: str = "local[2]",
                  database: str | None = None, session: Any = None,
                  options: Mapping[str, str] | None = None) -> Engine:
    """An engine on Spark reading Parquet tables from ``path`` or a catalog ``database``."""
    session = session or spark_session(master, options)
    backend = ibis.pyspark.connect(session)
    tables = {}
    if database is None:
        if path is None:
            raise ConfigError("the Spark engine needs [engine] path or database",
                              fix="set path = 'data/parquet' (exported tables) or a database")
        root = Path(path)
        for name in TABLES:
            p = _parquet_paths(root, name)
            if p is not None:
                df = session.read.parquet(p)
                view = f"supportlab_{name}"
                df.createOrReplaceTempView(view)
                tables[name] = backend.table(view)
    else:
        for name in TABLES:
            if session.catalog.tableExists(name, database):
                tables[name] = backend.table(name, database=database)
    return Engine("spark", backend, tables, timezone, owner=session)


def connect(workspace: Any, kind: str | None = None) -> Engine:
    """The engine a workspace is configured for (or ``kind`` to override).

    Args:
        workspace: an open :class:`~supportlab.data.workspace.Workspace`.
        kind: ``duckdb``, ``parquet`` or ``spark``; default from ``supportlab.toml``.
    """
    cfg = EngineConfig.from_workspace(workspace.config)
    kind = kind or cfg.kind
    tz = workspace.config.timezone
    if kind == "duckdb":
        return connect_workspace(workspace)
    path = cfg.path or str(workspace.config.root / "data" / "parquet")
    if kind == "parquet":
        return connect_parquet(path, tz)
    if kind == "spark":
        return connect_spark(None if cfg.database else path, tz, master=cfg.master,
                             database=cfg.database, options=cfg.options)
    raise ConfigError(f"engine kind '{kind}' is not supported", fix=f"use one of {KINDS}")
