"""``supportlab demo``: the whole loop on a simulated PRM world.

The demo never overwrites a workspace holding data that did not come from the simulator.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from supportlab.cli.sim import DEMO_END, run_simulation
from supportlab.errors import DataValidationError, WorkspaceError

__all__ = ["demo"]


@click.command()
@click.option("--partners", "n_partners", default=1000, show_default=True, type=click.IntRange(10),
              help="Number of partner companies.")
@click.option("--seed", default=20261001, show_default=True, type=int, help="Random seed.")
@click.option("--world-only", is_flag=True,
              help="Only simulate and validate the world (history up to the first experiment).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1),
              help="Reports run this many at a time.")
@click.pass_context
def demo(ctx: click.Context, n_partners: int, seed: int, world_only: bool, workers: int) -> None:
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
    end = demo_world_end(config.experiments_path)
    with Workspace.open(config.root, config=config) as ws:
        click.echo(run_simulation(ws, n_partners=n_partners, seed=seed, days=365, end=end,
                                  events=None, replace=True))
        report = ws.validate()
        if not report.ok:
            raise DataValidationError(f"the simulated world failed validation:\n{report}")
        click.echo("validated: all schema, key and reference checks passed")
        click.echo(ws.summary_text())
    click.echo(f"workspace database: {config.database_path}")
    plan = demo_experiments(config.experiments_path) if config.experiments_path.is_dir() else []
    if world_only:
        if plan:
            click.echo(f"next, the loop on {_shown(plan[0].path)}: supportlab plan, assign, "
                       "tasks, simulate-delivery, evaluate, report (README: The loop)")
        return
    if not plan:
        click.echo(f"no demo experiments in {config.experiments_path}: the loop is skipped")
        return
    _clear_reports(config.reports_path)
    click.echo(f"\nthe loop, in calendar order ({len(plan)} experiments):")
    with Workspace.open(config.root, config=config) as ws:
        for line in run_demo_loop(ws, plan, config.experiments_path / "packages"):
            click.echo(f"  {line}")
    from supportlab.report.runner import run_all

    click.echo(f"\nreports (papermill, {', '.join(LANGS)}; {workers} at a time):")
    results = run_all(config.root, experiments=[e.path for e in plan], workers=workers,
                      languages=list(LANGS))
    failed = 0
    for res in results:
        click.echo(f"  {res.line()}")
        failed += not res.ok
    with Workspace.open(config.root, read_only=True, config=config) as ws:
        from supportlab.design.registry import packages

        reg = packages(ws, config.experiments_path / "packages")
    click.echo("\nthe registry (supportlab packages, supportlab credits):")
    for row in reg.frame.to_dict("records"):
        tries = int(row.get("n_reproduction_tries") or 0)
        repro = f", reproduced in {int(row.get('n_reproduced') or 0)} of {tries}" if tries else ""
        click.echo(f"  {row['ref']:<22} {row['owner']:<8} {row['status']:<9} "
                   f"{row['lineage']}{repro}")
    index = config.reports_path / "index.html"
    click.echo(f"\nopen {_shown(index)} in a browser (the portfolio, linking every report); "
               "make lab opens the notebooks")
    if failed:
        raise WorkspaceError(f"{failed} report run(s) failed",
                             where=str(config.reports_path / "runs.jsonl"),
                             fix="open the failed/index.html page each line above names")


#: the report languages of the demo
LANGS = ("ja", "en")

#: the true effect the simulated delivery gives each demo experiment (extra deals registered by a
#: partner who completes the package, and the share who open it); others get the default
DEMO_EFFECTS: dict[str, tuple[float, float]] = {
    "product-a-launch-v1-2026q2": (0.05, 0.45),   # the first version barely moves anything
    "partner-webinar-b-2026q2": (3.5, 0.75),
    "product-a-launch-2026q2": (3.6, 0.7),        # v2, revised after the first version
    "product-a-launch-v2-2026q3": (3.6, 0.7),     # v2 in a later cohort: the reproduction
}


@dataclass(frozen=True)
class DemoExperiment:
    """One experiment of the demo loop."""

    path: Path
    id: str
    start: dt.date


def demo_experiments(folder: Path) -> list[DemoExperiment]:
    """The experiment files of ``folder`` (not placebo runs), earliest start first."""
    from supportlab.config.experiment import load_experiment

    out = []
    for f in sorted(folder.glob("*.yaml")):
        exp = load_experiment(f, folder / "packages")
        if not exp.design.placebo:
            out.append(DemoExperiment(f.resolve(), exp.id, exp.design.start))
    return sorted(out, key=lambda e: (e.start, e.id))


def demo_world_end(folder: Path) -> dt.date:
    """Where the simulated history ends: the first demo experiment's start (else the default)."""
    found = demo_experiments(folder) if folder.is_dir() else []
    return found[0].start if found else DEMO_END


def run_demo_loop(ws: Any, plan: list[DemoExperiment], packages_dir: Path) -> Iterator[str]:
    """Assign, task and deliver every experiment of ``plan`` in calendar order.

    Experiments that start on the same day are all assigned before any is delivered: delivering
    one continues the world through its horizon, after which a randomization on that day would
    come after outcomes (and is refused).
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.design.ledger import assign
    from supportlab.design.simulated import continue_simulated_world, simulate_experiment_delivery
    from supportlab.design.tasks import make_tasks
    from supportlab.sim.delivery import EffectModel

    for start in sorted({e.start for e in plan}):
        group = [e for e in plan if e.start == start]
        continue_simulated_world(ws, start)
        exps = [load_experiment(e.path, packages_dir) for e in group]
        lines, ends = {}, {}
        for exp in exps:
            a = assign(ws, exp)
            t = make_tasks(ws, exp)
            ends[exp.id] = a.end - dt.timedelta(days=1)
            arms = " / ".join(f"{n:,}" for n in a.n_per_arm.values())
            lines[exp.id] = (f"{start}  {exp.id:<28} {exp.package.id}@{exp.package.version}: "
                             f"{a.n_assigned:,} partners ({arms}), {t.n_tasks:,} tasks")
        for exp in exps:
            base, uptake = DEMO_EFFECTS.get(exp.id, (0.6, 0.6))
            d = simulate_experiment_delivery(ws, exp, effect=EffectModel(base_effect=base,
                                                                         uptake=uptake))
            yield (f"{lines[exp.id]}, delivered through {ends[exp.id]} "
                   f"(true effect {d.true_itt:+.2f} deals per assigned partner)")


def _clear_reports(reports: Path) -> None:
    """Reports of an earlier demo world describe data that is gone: remove them."""
    if not reports.is_dir():
        return
    for child in reports.iterdir():
        if child.name.startswith(".") and child.name != ".staging":
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
