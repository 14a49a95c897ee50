"""Commands of the simulated world: ``simulate`` and ``demo``.

Both write a world from :mod:`supportlab.sim` into a workspace through
:func:`supportlab.data.workspace.write_simulation`. ``simulate`` refuses to overwrite data
without ``--replace``; ``demo`` never overwrites data that did not come from the simulator.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from supportlab.cli.common import open_workspace, parse_date, progress
from supportlab.errors import DataValidationError, WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    from supportlab.data.workspace import Workspace

__all__ = ["DEMO_END", "demo", "run_simulation", "simulate"]

#: the exclusive end of the demo world's history
DEMO_END = dt.date(2026, 11, 1)


@click.command()
@click.option("--partners", "n_partners", default=1000, show_default=True, type=click.IntRange(10),
              help="Number of partner companies.")
@click.option("--seed", default=20261001, show_default=True, type=int, help="Random seed.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(30),
              help="Days of history.")
@click.option("--end", "end", default=DEMO_END.isoformat(), show_default=True,
              help="Last day of history (exclusive), YYYY-MM-DD.")
@click.option("--events", "events", type=click.IntRange(1), default=None,
              help="Approximate total number of events (default: realistic rate).")
@click.option("--replace", is_flag=True, help="Replace data already in the workspace.")
@click.pass_context
def simulate(ctx: click.Context, n_partners: int, seed: int, days: int, end: str,
             events: int | None, replace: bool) -> None:
    """Generate a seeded, believable PRM world into the workspace database."""
    end_date = parse_date(end, "--end")
    assert end_date is not None  # the option has a default
    with open_workspace(ctx, create=True) as ws:
        summary = run_simulation(ws, n_partners=n_partners, seed=seed, days=days, end=end_date,
                                 events=events, replace=replace)
    click.echo(summary)


def run_simulation(ws: Workspace, *, n_partners: int, seed: int, days: int, end: dt.date,
                   events: int | None, replace: bool) -> str:
    """Simulate into an open workspace (shared by ``simulate`` and ``demo``).

    Returns:
        One line: the time taken and the rows written per table.

    Raises:
        WorkspaceError: the workspace already holds data and ``replace`` is false.
    """
    from supportlab.data.workspace import simulated_tables, write_simulation
    from supportlab.sim.simulate import SimulationConfig, expected_event_count, simulate_world

    existing = {t: n for t, n in ws.counts().items() if n}
    if existing and not replace:
        raise WorkspaceError(
            "the workspace already holds data (" + ", ".join(f"{k} {v:,}" for k, v in
                                                            existing.items()) + ")",
            where=str(ws.config.database_path),
            fix="pass --replace to overwrite it with simulated data, or use a new workspace")
    rate = None if events is None else events / (n_partners * days)
    config = SimulationConfig(n_partners=n_partners, seed=seed, end=end, days=days,
                              events_per_partner_per_day=rate, timezone=ws.config.timezone)
    expected = max(expected_event_count(config), 1)
    t0 = time.perf_counter()
    with progress("simulating", total=expected) as update:
        written = write_simulation(ws, simulate_world(config), replace=replace,
                                   on_rows=lambda table, n: update(n) if table == "events" else None)
    secs = time.perf_counter() - t0
    parts = ", ".join(f"{t} {written.get(t, 0):,}" for t in simulated_tables(written))
    return f"simulated in {secs:.1f} s: {parts}"


@click.command()
@click.option("--partners", "n_partners", default=1000, show_default=True, type=click.IntRange(10),
              help="Number of partner companies.")
@click.option("--seed", default=20261001, show_default=True, type=int, help="Random seed.")
@click.pass_context
def demo(ctx: click.Context, n_partners: int, seed: int) -> None:
    """Build a simulated PRM world in a new or simulated workspace, validate it and summarise it.

    The workspace is -C DIR, else the nearest supportlab.toml, else the current directory (a new
    workspace is created there). A world simulated earlier is replaced; a workspace holding
    ingested (real) data is refused and left untouched: run the demo in a new directory.
    """
    from supportlab.config.workspace import find_root, init_workspace, load_config
    from supportlab.data.workspace import Workspace

    root = Path(ctx.obj.get("workspace") or find_root() or Path.cwd())
    if find_root(root) is None:
        init_workspace(root)
    config = load_config(root)
    if config.database_path.exists():
        with Workspace.open(config.root, read_only=True, config=config) as ws:
            if ws.holds_real_data():
                sizes = ", ".join(f"{t} {n:,}" for t, n in ws.counts().items() if n)
                raise WorkspaceError(
                    f"the workspace holds data that did not come from the simulator ({sizes}); "
                    "the demo would replace it, so it stops here and changes nothing",
                    where=str(config.database_path),
                    fix="run the demo in a new directory (supportlab -C demo demo), or replace "
                        "the data on purpose with 'supportlab simulate --replace'")
    with Workspace.open(config.root, config=config) as ws:
        click.echo(run_simulation(ws, n_partners=n_partners, seed=seed, days=365, end=DEMO_END,
                                  events=None, replace=True))
        report = ws.validate()
        if not report.ok:
            raise DataValidationError(f"the simulated world failed validation:\n{report}")
        click.echo("validated: all schema, key and reference checks passed")
        click.echo(ws.summary_text())
    click.echo(f"workspace database: {config.database_path}")
