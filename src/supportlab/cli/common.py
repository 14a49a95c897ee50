"""What the command modules share: opening the workspace, dates, output files, tables, progress.

Everything here checks its input *before* any work is done or any file is created, so that a
mistyped option costs nothing and leaves nothing behind.

Example:
    >>> check_out_file("targets.xlsx", "--out").name
    'targets.xlsx'
    >>> check_out_file("targets.txt", "--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    supportlab.errors.ConfigError: --out targets.txt: cannot write '.txt' files. Fix: ...
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from supportlab.errors import ConfigError, WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from supportlab.data.engine import Engine
    from supportlab.data.workspace import Workspace

__all__ = ["ENGINE_OPTION", "OUT_SUFFIXES", "as_of_date", "check_out_file", "default_as_of", "emit_frame",
           "open_workspace", "parse_date", "print_frame", "progress", "write_frame"]

#: the file types a command's ``--out`` may name
OUT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".xlsx")

#: the ``--engine`` option of the commands that compute features
ENGINE_OPTION = click.option(
    "--engine", "engine_kind", type=click.Choice(["duckdb", "parquet", "spark"]), default=None,
    help="Engine to compute in (default: [engine] in supportlab.toml, else the workspace DuckDB).")


def open_workspace(ctx: click.Context, *, read_only: bool = False,
                   create: bool = False) -> Workspace:
    """Open the workspace the command runs in (``-C DIR`` or the nearest ``supportlab.toml``).

    Args:
        ctx: the click context (its ``workspace`` holds ``-C``).
        read_only: open the database for reading only.
        create: whether the command may create the database (``ingest``, ``simulate``); any
            other command refuses a workspace without one instead of leaving an empty one behind.

    Raises:
        WorkspaceError: no workspace, or no database and ``create`` is false.
    """
    from supportlab.config.workspace import load_config
    from supportlab.data.workspace import Workspace

    config = load_config(ctx.obj.get("workspace"))
    if not create and not config.database_path.exists():
        raise WorkspaceError("the workspace holds no data yet", where=str(config.database_path),
                             fix="load data first with 'supportlab ingest' or "
                                 "'supportlab simulate'")
    return Workspace.open(config.root, read_only=read_only, config=config)


def parse_date(value: str | None, option: str) -> dt.date | None:
    """An ISO date given on the command line (``None`` stays ``None``).

    Example:
        >>> parse_date("2026-07-01", "--as-of")
        datetime.date(2026, 7, 1)
    """
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option} '{value}' is not a date", fix="write it as YYYY-MM-DD") \
            from None


def as_of_date(value: str | None, option: str = "--as-of") -> dt.date | None:
    """An ``--as-of`` date, refused when it lies in the future (features describe the past).

    Example:
        >>> as_of_date("2999-01-01")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        supportlab.errors.ConfigError: --as-of 2999-01-01 is in the future: ...
    """
    day = parse_date(value, option)
    if day is not None and day > dt.date.today():
        raise ConfigError(f"{option} {day} is in the future: features and scores are a record of "
                          "what partners did", fix="give today's date or an earlier one")
    return day


def default_as_of(engine: Engine) -> dt.date:
    """The as-of date when none is given: today, or the day after the latest event if earlier.

    Features as of a date describe the days before it; a workspace whose logs end before today
    (an export of last month, a simulated world) is described as of the end of its data. The
    choice is said on stderr, so that piped output stays clean.
    """
    from supportlab.features.metrics import last_data_day

    today = dt.date.today()
    last = last_data_day(engine)
    if last is None or last + dt.timedelta(days=1) >= today:
        return today
    day = last + dt.timedelta(days=1)
    click.echo(f"as of {day}, the day after the latest event (give --as-of to choose)", err=True)
    return day


def check_out_file(value: str | None, option: str = "--out",
                   suffixes: tuple[str, ...] = OUT_SUFFIXES) -> Path | None:
    """The ``--out`` file, refused before any work when its type cannot be written.

    Raises:
        ConfigError: the suffix is not one of ``suffixes``, or the path is a directory.
    """
    if value is None:
        return None
    path = Path(value)
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"cannot write '{path.suffix or '(no suffix)'}' files",
                          where=f"{option} {path}",
                          fix=f"name a {', '.join(suffixes[:-1])} or {suffixes[-1]} file")
    if path.is_dir():
        raise ConfigError("is a directory", where=f"{option} {path}", fix="name a file in it")
    return path


def write_frame(df: pd.DataFrame, path: Path) -> Path:
    """Write a frame (its index as the first columns) atomically, by the file's suffix.

    CSV is UTF-8 with a byte-order mark, so that Excel shows Japanese names correctly; ``.xlsx``
    is a real workbook (timestamps in local time, without a zone, as Excel has none).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    flat = df.reset_index()
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            flat.to_parquet(tmp, index=False)
        elif suffix == ".xlsx":
            for col in flat.columns:
                if getattr(flat[col].dtype, "tz", None) is not None:
                    flat[col] = flat[col].dt.tz_localize(None)
            flat.to_excel(tmp, index=False, engine="openpyxl")
        else:
            flat.to_csv(tmp, index=False, encoding="utf-8-sig")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def print_frame(df: pd.DataFrame, limit: int = 20, width: int | None = None,
                first: tuple[str, ...] = ()) -> None:
    """Show the first ``limit`` rows of a frame as an aligned table that fits the terminal.

    Columns line up with Japanese names (widths are counted in display cells); the columns
    named in ``first`` come right after the index; columns that do not fit in ``width`` cells
    (default: the terminal's) are left out and named below.
    """
    import shutil

    from supportlab.display import display_width, text_table

    width = width or max(shutil.get_terminal_size((160, 24)).columns, 80)
    order = [c for c in first if c in df.columns] + [c for c in df.columns if c not in first]
    head = df[order].head(limit).reset_index()
    headers = [str(c) for c in head.columns]
    rows = head.astype(object).where(head.notna(), None).to_numpy().tolist()
    shown = len(headers)
    table = text_table(rows, headers)
    while shown > 2 and max(map(display_width, table.splitlines()), default=0) > width:
        shown -= 1
        table = text_table([r[:shown] for r in rows], headers[:shown])
    click.echo(table)
    more = [f"{len(df) - limit:,} more rows"] if len(df) > limit else []
    if shown < len(headers):
        more.append(f"{len(headers) - shown} more columns ({', '.join(headers[shown:])})")
    if more:
        click.echo(f"... {' and '.join(more)} (use --out to write them all)")


def emit_frame(df: pd.DataFrame, out: Path | None, *, what: str = "rows", limit: int = 20,
               first: tuple[str, ...] = ()) -> None:
    """Write ``df`` to ``out`` and say so, or show its first rows when no file is named."""
    if out is None:
        print_frame(df, limit, first=first)
        return
    write_frame(df, out)
    click.echo(f"wrote {len(df):,} {what} to {out}")


@contextmanager
def progress(label: str, total: float | None = 100.0) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr when it is a terminal; silent otherwise.

    Yields:
        ``update(completed, description=None)``.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as prog:
        task = prog.add_task(label, total=total)

        def update(completed: float, description: str | None = None) -> None:
            kw: dict[str, Any] = {"description": description} if description else {}
            prog.update(task, completed=completed, **kw)

        yield update
