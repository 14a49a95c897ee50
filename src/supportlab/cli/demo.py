"""``supportlab demo``: the whole loop on a simulated PRM world.

The demo never overwrites a workspace holding data that did not come from the simulator.
"""

from __future__ import annotations

from pathlib import Path

import click

from supportlab.cli.sim import DEMO_END, run_simulation
from supportlab.errors import DataValidationError, WorkspaceError

__all__ = ["demo"]


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
    found = sorted(config.experiments_path.glob("*.yaml"))
    if found:
        rel = found[0].relative_to(Path.cwd()) if found[0].is_relative_to(Path.cwd()) else found[0]
        click.echo(f"next, the loop on {rel}: supportlab plan, assign, tasks, simulate-delivery, "
                   "evaluate, record-decision, packages (README: The loop)")
