"""The ``supportlab`` command line.

Every command exits non-zero on failure and prints one short paragraph (what, where, how to fix);
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import datetime as dt
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import click

from supportlab.errors import SupportlabError


class _Group(click.Group):
    """A click group that turns supportlab errors into one-paragraph messages.

    Heavy commands are imported on first use, so `supportlab --help` starts fast.
    """

    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "analyze": ("supportlab.cli.analyze", "analyze"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            import importlib

            module, attr = self.lazy[name]
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or "--debug" in sys.argv
        try:
            return super().invoke(ctx)
        except SupportlabError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise
        except KeyboardInterrupt:
            _interrupted()
        except Exception as exc:  # the last line of defence
            if debug:
                traceback.print_exc()
            if _is_interrupt(exc):
                _interrupted()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"error: unexpected {exc.__class__.__name__}: {first} "
                       "(run again with --debug for the traceback)", err=True)
            ctx.exit(1)


def _is_interrupt(exc: BaseException) -> bool:
    """The engine turns Ctrl-C into its own exceptions; recognise them."""
    text = str(exc).lower()
    return "interrupted" in text or ("rollback" in text and "transaction" in text)


def _interrupted() -> None:
    click.echo("interrupted: the step that was running was rolled back; steps that had "
               "finished are kept (see 'supportlab quarantine' and the ingest log)", err=True)
    sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("-C", "--workspace", "workspace", type=click.Path(file_okay=False),
              default=None, help="Workspace directory (default: nearest supportlab.toml).")
@click.version_option(package_name="supportlab")
@click.pass_context
def cli(ctx: click.Context, debug: bool, workspace: str | None) -> None:
    """supportlab: randomized experiments for partner enablement.

    Quick start: 'supportlab demo' builds a simulated PRM world and runs the loop.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["workspace"] = workspace


def _open(ctx: click.Context, read_only: bool = False):
    from supportlab.data.workspace import Workspace

    return Workspace.open(ctx.obj.get("workspace"), read_only=read_only)


@contextmanager
def _progress(label: str, total: float | None = 100.0) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal; silent otherwise."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as prog:
        task = prog.add_task(label, total=total)

        def update(completed: float, description: str | None = None) -> None:
            prog.update(task, completed=completed,
                        **({"description": description} if description else {}))

        yield update


# -- init ---------------------------------------------------------------------------------------


@cli.command()
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


# -- ingest -------------------------------------------------------------------------------------


@cli.command()
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

    table_spec(table)
    mp = load_mapping(mapping) if mapping else None
    with _open(ctx) as ws, _progress(f"loading {table}") as update:
        summary = run_ingest(ws, table, files, mapping=mp, encoding=encoding, strict=strict,
                             allow_empty=allow_empty,
                             on_progress=lambda name, p: update(p, f"loading {name}"))
    click.echo(str(summary))
    if summary.rows_quarantined:
        click.echo(f"see quarantined rows with: supportlab quarantine --batch {summary.batch_id}")


# -- quarantine -----------------------------------------------------------------------------------


@cli.command()
@click.option("--batch", help="Only rows of this ingest batch.")
@click.option("--table", "table_name", help="Only rows meant for this table.")
@click.option("--limit", default=20, show_default=True, help="Rows to show.")
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
    sql = ("SELECT table_name, source, source_row, reason, CAST(record AS VARCHAR) AS record "
           "FROM quarantine" + (" WHERE " + " AND ".join(where) if where else "") +
           f" ORDER BY quarantined_at, source, source_row LIMIT {int(limit)}")
    with _open(ctx, read_only=True) as ws:
        df = ws.query(sql, params)
        total = ws.query("SELECT count(*) AS n FROM quarantine" +
                         (" WHERE " + " AND ".join(where) if where else ""), params)["n"][0]
    if df.empty:
        click.echo("no quarantined rows")
        return
    for r in df.itertuples():
        click.echo(f"{r.table_name} {Path(r.source).name}:{r.source_row}: {r.reason}\n    {r.record}")
    click.echo(f"{total:,} quarantined row(s) in all")


# -- validate -----------------------------------------------------------------------------------


@cli.command()
@click.option("--table", "tables", multiple=True, help="Only these tables (repeatable).")
@click.pass_context
def validate(ctx: click.Context, tables: tuple[str, ...]) -> None:
    """Re-check the whole workspace: schemas, unique keys and cross-table references."""
    from supportlab.errors import DataValidationError

    with _open(ctx, read_only=True) as ws:
        counts = ws.counts()
        report = ws.validate(list(tables) or None)
    sizes = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    if not report.ok:
        raise DataValidationError(
            f"{len(report.failures)} check(s) failed:\n{report}", where="workspace",
            fix="correct the exports and re-ingest, or inspect the rows with SQL")
    click.echo(f"workspace valid: {sizes}")


# -- simulate -----------------------------------------------------------------------------------


@cli.command()
@click.option("--partners", "n_partners", default=1000, show_default=True, type=click.IntRange(10),
              help="Number of partner companies.")
@click.option("--seed", default=20261001, show_default=True, type=int, help="Random seed.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(30),
              help="Days of history.")
@click.option("--end", "end", default="2026-11-01", show_default=True,
              help="Last day of history (exclusive), YYYY-MM-DD.")
@click.option("--events", "events", type=click.IntRange(1), default=None,
              help="Approximate total number of events (default: realistic rate).")
@click.option("--replace", is_flag=True, help="Replace data already in the workspace.")
@click.pass_context
def simulate(ctx: click.Context, n_partners: int, seed: int, days: int, end: str,
             events: int | None, replace: bool) -> None:
    """Generate a seeded, believable PRM world into the workspace database."""
    from supportlab.errors import ConfigError

    try:
        end_date = dt.date.fromisoformat(end)
    except ValueError:
        raise ConfigError(f"--end '{end}' is not a date", fix="write it as YYYY-MM-DD") from None
    with _open(ctx) as ws:
        summary = run_simulation(ws, n_partners=n_partners, seed=seed, days=days, end=end_date,
                                 events=events, replace=replace)
    click.echo(summary)


def run_simulation(ws: Any, *, n_partners: int, seed: int, days: int, end: dt.date,
                   events: int | None, replace: bool) -> str:
    """Simulate into an open workspace (shared by ``simulate`` and ``demo``)."""
    import time

    from supportlab.data.workspace import simulated_tables, write_simulation
    from supportlab.sim.simulate import SimulationConfig, expected_event_count, simulate_world

    existing = {t: n for t, n in ws.counts().items() if n}
    if existing and not replace:
        from supportlab.errors import WorkspaceError

        raise WorkspaceError(
            "the workspace already holds data (" + ", ".join(f"{k} {v:,}" for k, v in
                                                            existing.items()) + ")",
            where=str(ws.config.database_path),
            fix="pass --replace to overwrite it with simulated data, or use a new workspace")
    rate = None
    if events is not None:
        rate = events / (n_partners * days)
    config = SimulationConfig(n_partners=n_partners, seed=seed, end=end, days=days,
                              events_per_partner_per_day=rate, timezone=ws.config.timezone)
    expected = max(expected_event_count(config), 1)
    t0 = time.perf_counter()
    with _progress("simulating", total=expected) as update:
        written = write_simulation(ws, simulate_world(config), replace=replace,
                                   on_rows=lambda table, n: update(n) if table == "events" else None)
    secs = time.perf_counter() - t0
    parts = ", ".join(f"{t} {written.get(t, 0):,}" for t in simulated_tables(written))
    return f"simulated in {secs:.1f} s: {parts}"


# -- export / metrics / targets / score ------------------------------------------------------


_ENGINE = click.option("--engine", "engine_kind", type=click.Choice(["duckdb", "parquet", "spark"]),
                       default=None, help="Engine to compute in (default: [engine] in "
                                          "supportlab.toml, else the workspace DuckDB).")


def _date(value: str | None, name: str) -> dt.date | None:
    from supportlab.errors import ConfigError

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{name} '{value}' is not a date", fix="write it as YYYY-MM-DD") from None


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--table", "tables", multiple=True, help="Only these tables (repeatable).")
@click.pass_context
def export(ctx: click.Context, directory: str, tables: tuple[str, ...]) -> None:
    """Write workspace tables as Parquet files (e.g. for the Spark engine)."""
    with _open(ctx, read_only=True) as ws:
        paths = ws.export_parquet(directory, list(tables) or None)
    click.echo(f"wrote {len(paths)} table(s) to {directory}")


@cli.command()
@click.option("--as-of", "as_of", help="Date (YYYY-MM-DD): history before it (default: today).")
@click.option("--metric", "names", multiple=True, help="Metric names (default: all built-ins).")
@click.option("--lookback-days", default=365, show_default=True, type=click.IntRange(1))
@click.option("--package", "package_ref",
              help="Package (ID or ID@VERSION in experiments/packages) for completion_rate.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write .csv or .parquet.")
@_ENGINE
@click.pass_context
def metrics(ctx: click.Context, as_of: str | None, names: tuple[str, ...], lookback_days: int,
            package_ref: str | None, out: str | None, engine_kind: str | None) -> None:
    """Compute per-partner metrics as of a date, in the engine.

    completion_rate (支援消化率) and package_completion are computed for the package named
    with --package.
    """
    from supportlab.config.experiment import find_package
    from supportlab.data.engine import connect
    from supportlab.features.metrics import compute_metrics, load_metrics, window_asof

    day = _date(as_of, "--as-of") or dt.date.today()
    with _open(ctx, read_only=True) as ws:
        catalogue = load_metrics(ws.config.experiments_path / "metrics.yaml")
        package = (find_package(package_ref, ws.config.experiments_path / "packages")
                   if package_ref else None)
        chosen = list(names) or [n for n, m in catalogue.items()
                                 if m.kind != "package_completion" or package is not None]
        eng = connect(ws, engine_kind)
        df = compute_metrics(eng, chosen, [window_asof(day, ws.config.timezone, lookback_days)],
                             catalogue=catalogue, package=package)
    _emit(df, out)


def _emit(df: Any, out: str | None, limit: int = 20) -> None:
    if out:
        p = Path(out)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        if p.suffix.lower() == ".parquet":
            df.reset_index().to_parquet(tmp, index=False)
        else:
            df.reset_index().to_csv(tmp, index=False, encoding="utf-8-sig")
        tmp.replace(p)
        click.echo(f"wrote {len(df):,} rows to {p}")
    else:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 12):
            click.echo(df.head(limit).to_string())
        if len(df) > limit:
            click.echo(f"... {len(df) - limit:,} more rows (use --out to write them all)")


@cli.command()
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@click.option("--as-of", "as_of", help="Targeting date (default: the experiment's start).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the list as .csv or .parquet.")
@click.option("--limit", type=click.IntRange(1), help="Keep the first N.")
@_ENGINE
@click.pass_context
def targets(ctx: click.Context, experiment: str, as_of: str | None, out: str | None,
            limit: int | None, engine_kind: str | None) -> None:
    """List the ranked eligible partners of EXPERIMENT.yaml, with why each is eligible."""
    from supportlab.config.experiment import load_experiment
    from supportlab.data.engine import connect
    from supportlab.features.metrics import load_metrics
    from supportlab.features.score import score_config
    from supportlab.features.segments import load_segments
    from supportlab.features.targeting import select_targets

    with _open(ctx, read_only=True) as ws:
        exp = load_experiment(experiment, ws.config.experiments_path / "packages")
        tl = select_targets(connect(ws, engine_kind), exp, as_of=_date(as_of, "--as-of"),
                            catalogue=load_metrics(ws.config.experiments_path / "metrics.yaml"),
                            score_config=score_config(ws), limit=limit,
                            segments=load_segments(ws.config.experiments_path / "segments.yaml"))
    click.echo(str(tl))
    if out:
        tl.write(out)
        click.echo(f"wrote {len(tl.frame):,} targets to {out}")
    else:
        _emit(tl.frame, None)


@cli.command()
@click.option("--as-of", "as_of", help="Date (YYYY-MM-DD) of the score (default: today).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports/score",
              show_default=True, help="Directory for support_score_<date>.csv/.parquet.")
@click.option("--no-snapshot", is_flag=True, help="Do not keep a dated snapshot.")
@_ENGINE
@click.pass_context
def score(ctx: click.Context, as_of: str | None, out_dir: str, no_snapshot: bool,
          engine_kind: str | None) -> None:
    """Compute the support score (支援スコア) of every partner and export it for dashboards.

    Writes CSV (UTF-8 with BOM, opens correctly in Excel) and Parquet, and keeps a dated
    snapshot in the workspace so movements can be shown.
    """
    from supportlab.data.engine import connect
    from supportlab.features.score import export_scores, save_snapshot, score_config, score_movement
    from supportlab.features.score import support_score as compute_score

    day = _date(as_of, "--as-of") or dt.date.today()
    if day > dt.date.today():
        from supportlab.errors import ConfigError

        raise ConfigError(f"--as-of {day} is in the future: a score is a record of what "
                          "partners did", fix="give today's date or an earlier one")
    with _open(ctx) as ws:
        sc = compute_score(connect(ws, engine_kind), day, score_config(ws))
        names = ws.query("SELECT partner_id, name FROM partners").set_index("partner_id")["name"]
        if not no_snapshot:
            save_snapshot(ws, day, sc)
            sc["change_since_last_snapshot"] = score_movement(ws, day).reindex(sc.index)
        root = Path(out_dir) if Path(out_dir).is_absolute() else ws.config.root / out_dir
        paths = export_scores(sc, root, day, names)
    q = sc["support_score"].quantile([0.1, 0.5, 0.9])
    click.echo(f"support score as of {day}: {len(sc):,} partners, median {q[0.5]:.1f} "
               f"(10%: {q[0.1]:.1f}, 90%: {q[0.9]:.1f})")
    for p in paths:
        click.echo(f"wrote {p}")


# -- demo ---------------------------------------------------------------------------------------


@cli.command()
@click.option("--partners", "n_partners", default=1000, show_default=True, type=click.IntRange(10))
@click.option("--seed", default=20261001, show_default=True, type=int)
@click.pass_context
def demo(ctx: click.Context, n_partners: int, seed: int) -> None:
    """Build the simulated PRM world in the default workspace, validate it and summarise."""
    from supportlab.config.workspace import find_root, init_workspace
    from supportlab.data.workspace import Workspace
    from supportlab.errors import DataValidationError

    root = ctx.obj.get("workspace") or find_root() or Path.cwd()
    if find_root(root) is None:
        init_workspace(root)
    with Workspace.open(root) as ws:
        click.echo(run_simulation(ws, n_partners=n_partners, seed=seed, days=365,
                                  end=dt.date(2026, 11, 1), events=None, replace=True))
        report = ws.validate()
        if not report.ok:
            raise DataValidationError(f"the simulated world failed validation:\n{report}")
        click.echo("validated: all schema, key and reference checks passed")
        click.echo(ws.summary_text())
    click.echo(f"workspace database: {ws.config.database_path}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``supportlab`` command."""
    try:
        cli.main(args=argv, prog_name="supportlab", standalone_mode=True)
    except KeyboardInterrupt:  # before a command started, or while click unwinds
        _interrupted()
    except BrokenPipeError:  # `supportlab ... | head`: the reader left; not an error of ours
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)

