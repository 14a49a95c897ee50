"""Commands of the simulated world: ``simulate`` and ``simulate-delivery``.

``simulate`` writes a world from :mod:`supportlab.sim` into a workspace through
:func:`supportlab.data.workspace.write_simulation` and refuses to overwrite data without
``--replace`` (``supportlab demo``, in :mod:`supportlab.cli.demo`, shares :func:`run_simulation`).
``simulate-delivery`` plays an assigned experiment in a simulated workspace
(:func:`supportlab.design.simulated.simulate_experiment_delivery`): the world goes on through
the horizon and the package reaches the treated arms, with the ground truth stored.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

import click

from supportlab.cli.common import open_workspace, parse_date, progress
from supportlab.errors import ConfigError, WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    from supportlab.data.workspace import Workspace

__all__ = ["DEMO_END", "parse_dropoff", "run_simulation", "simulate",
           "simulate_delivery"]

#: the exclusive end of the demo world's history: the example experiments start on it, and
#: two cohorts fit between it and the end of 2026
DEMO_END = dt.date(2026, 6, 1)


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


def parse_dropoff(value: str | None) -> tuple[float, ...] | None:
    """The ``--dropoff`` list: probabilities of going on to each next step, comma-separated.

    Example:
        >>> parse_dropoff("0.8, 0.6")
        (0.8, 0.6)
        >>> parse_dropoff("0.8,x")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        supportlab.errors.ConfigError: --dropoff '0.8,x': 'x' is not a number. Fix: ...
    """
    if value is None:
        return None
    out: list[float] = []
    for part in value.split(","):
        text = part.strip()
        try:
            p = float(text)
        except ValueError:
            raise ConfigError(f"'{text}' is not a number", where=f"--dropoff '{value}'",
                              fix="give probabilities such as 0.8,0.7") from None
        if not 0 <= p <= 1:
            raise ConfigError(f"{p} is not a probability", where=f"--dropoff '{value}'",
                              fix="give values between 0 and 1, e.g. 0.8,0.7")
        out.append(p)
    return tuple(out)


@click.command("simulate-delivery")
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@click.option("--effect", type=click.FloatRange(min=0), default=0.6, show_default=True,
              help="True extra deals over the horizon of a partner who completes the package "
                   "(reference segment).")
@click.option("--uptake", type=click.FloatRange(0, 1), default=0.6, show_default=True,
              help="Baseline chance that an assigned partner opens the package.")
@click.option("--dropoff", help="Chance of going on to each next step, comma-separated "
              "(default 0.8,0.7; the last value repeats).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the delivery's draws (default: the design's seed).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format; json prints one JSON object.")
@click.pass_context
def simulate_delivery(ctx: click.Context, experiment: str, effect: float, uptake: float,
                      dropoff: str | None, seed: int | None, fmt: str) -> None:
    """Deliver an assigned experiment in a simulated workspace through its horizon.

    The simulated world goes on through the horizon (everyone's untreated behaviour, only
    beyond what was simulated already), the package reaches every non-control arm with the
    given true effect, and the ground truth is stored in sim_truth. Running it again for a
    delivered experiment adds nothing and shows the stored result.
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.design.simulated import simulate_experiment_delivery
    from supportlab.sim.delivery import EffectModel

    drops = parse_dropoff(dropoff)
    model = EffectModel(base_effect=effect, uptake=uptake, step_dropoff=drops)
    with open_workspace(ctx) as ws:
        exp = load_experiment(experiment, ws.config.experiments_path / "packages")
        result = simulate_experiment_delivery(ws, exp, effect=model, seed=seed)
    if fmt == "json":
        click.echo(result.to_json())
    else:
        click.echo(str(result))
