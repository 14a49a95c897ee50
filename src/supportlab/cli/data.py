"""Commands of the data stage: ``init``, ``ingest``, ``quarantine``, ``validate``, ``export``.

Each command is a thin shell around :mod:`supportlab.config.workspace`,
:mod:`supportlab.data.ingestion` and :class:`supportlab.data.workspace.Workspace`; heavy modules
are imported inside the commands, so that listing them stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from supportlab.cli.common import open_workspace, progress
from supportlab.errors import DataValidationError, InputFileError

__all__ = ["export", "ingest", "init", "quarantine", "validate"]


@click.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--timezone", default="Asia/Tokyo", show_default=True,
              help="Zone for timestamps given without one.")
@click.option("--language", type=click.Choice(["ja", "en"]), default="ja", show_default=True,
              help="Report language.")
@click.option("--database", default="data/supportlab.duckdb", show_default=True,
              help="DuckDB file, relative to the workspace.")
def init(directory: str, timezone: str, language: str, database: str) -> None:
    """Create a workspace in DIRECTORY (supportlab.toml, data/, experiments/, reports/)."""
    from supportlab.config.workspace import init_workspace

    cfg = init_workspace(directory, timezone=timezone, language=language, database=database)
    click.echo(f"created workspace {cfg.root} (database {cfg.database}, timezone {cfg.timezone}, "
               f"language {cfg.language})")


@click.command()
@click.argument("table")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--mapping", type=click.Path(dir_okay=False, exists=True),
              help="YAML mapping of the export's column names (and values) to canonical ones.")
@click.option("--encoding", help="Text encoding of CSV files (default: detected; utf-8, cp932).")
@click.option("--strict", is_flag=True, help="Load nothing if any row is invalid.")
@click.option("--allow-empty", is_flag=True, help="Accept files with a header but no rows.")
@click.pass_context
def ingest(ctx: click.Context, table: str, files: tuple[str, ...], mapping: str | None,
           encoding: str | None, strict: bool, allow_empty: bool) -> None:
    """Load PRM exports (CSV, Parquet, .xlsx) into TABLE, validating every row.

    Valid rows are appended; invalid rows go to the quarantine table with the reason; rows
    already loaded are skipped. All FILES load in one transaction: on any error nothing changes.

    \b
    Mapping file example (mappings/events.yaml):
      table: events
      columns: {イベントID: event_id, 代理店ID: partner_id, 日時: ts, 種別: event_type}
      values: {event_type: {ログイン: login}}
    """
    from supportlab.data.ingestion import ingest as run_ingest
    from supportlab.data.ingestion import load_mapping
    from supportlab.data.schemas import table_spec

    # everything that can be checked without the database is checked before it is opened
    table_spec(table)
    mp = load_mapping(mapping) if mapping else None
    for f in files:
        if not Path(f).is_file():
            raise InputFileError("file not found", where=f, fix="check the path")
    with open_workspace(ctx, create=True) as ws, progress(f"loading {table}") as update:
        summary = run_ingest(ws, table, files, mapping=mp, encoding=encoding, strict=strict,
                             allow_empty=allow_empty,
                             on_progress=lambda name, p: update(p, f"loading {name}"))
    click.echo(str(summary))
    if summary.rows_quarantined:
        click.echo(f"see quarantined rows with: supportlab quarantine --batch {summary.batch_id}")


@click.command()
@click.option("--batch", help="Only rows of this ingest batch.")
@click.option("--table", "table_name", help="Only rows meant for this table.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="Rows to show.")
@click.pass_context
def quarantine(ctx: click.Context, batch: str | None, table_name: str | None, limit: int) -> None:
    """Show quarantined rows with the reason they were rejected."""
    where, params = [], []
    if batch:
        where.append("batch_id = ?")
        params.append(batch)
    if table_name:
        where.append("table_name = ?")
        params.append(table_name)
    condition = " WHERE " + " AND ".join(where) if where else ""
    sql = ("SELECT table_name, source, source_row, reason, CAST(record AS VARCHAR) AS record "
           f"FROM quarantine{condition} ORDER BY quarantined_at, source, source_row LIMIT {limit}")
    with open_workspace(ctx, read_only=True) as ws:
        df = ws.query(sql, params)
        total = ws.query(f"SELECT count(*) AS n FROM quarantine{condition}", params)["n"][0]
    if df.empty:
        click.echo("no quarantined rows")
        return
    for r in df.itertuples():
        click.echo(f"{r.table_name} {Path(r.source).name}:{r.source_row}: {r.reason}\n    {r.record}")
    click.echo(f"{total:,} quarantined row(s) in all")


@click.command()
@click.option("--table", "tables", multiple=True, help="Only these tables (repeatable).")
@click.pass_context
def validate(ctx: click.Context, tables: tuple[str, ...]) -> None:
    """Re-check the whole workspace: schemas, unique keys and cross-table references."""
    with open_workspace(ctx, read_only=True) as ws:
        counts = ws.counts()
        report = ws.validate(list(tables) or None)
    sizes = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    if not report.ok:
        raise DataValidationError(
            f"{len(report.failures)} check(s) failed:\n{report}", where="workspace",
            fix="correct the exports and re-ingest, or inspect the rows with SQL")
    click.echo(f"workspace valid: {sizes}")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--table", "tables", multiple=True, help="Only these tables (repeatable).")
@click.pass_context
def export(ctx: click.Context, directory: str, tables: tuple[str, ...]) -> None:
    """Write workspace tables as Parquet files (e.g. for the Spark engine)."""
    with open_workspace(ctx, read_only=True) as ws:
        paths = ws.export_parquet(directory, list(tables) or None)
    click.echo(f"wrote {len(paths)} table(s) to {directory}")
