"""The ``plan`` command: can an experiment detect its ``min_effect``?

It reads the experiment file and the workspace's history and prints the plan of
:func:`supportlab.design.plan.plan` (eligible partners by stratum and arm, the measured spread,
variance reduction and uptake, the MDE, the sample needed, the verdict and the alternatives).
Nothing is written.
"""

from __future__ import annotations

import click

from supportlab.cli.common import ENGINE_OPTION, open_workspace

__all__ = ["plan"]


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format; json prints one JSON object.")
@click.option("--lang", type=click.Choice(["ja", "en"]), default=None,
              help="Language of the table (default: the experiment's report.lang, else en).")
@ENGINE_OPTION
@click.pass_context
def plan(ctx: click.Context, experiment: str, fmt: str, lang: str | None,
         engine_kind: str | None) -> None:
    """Say whether EXPERIMENT.yaml can detect its min_effect: eligible partners, MDE and what would help.

    The MDE uses the primary metric's spread over the horizon before the start, the variance
    reduction the pre-period covariate and the strata gave on the two previous periods, and
    the package's past uptake (else design.expected_uptake, else 100%, with a warning). The
    verdict lists what would help: a longer horizon, two cohorts pooled, fewer arms, a wider
    eligibility rule, each with its own MDE. With --format json it prints one JSON object.
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.data.engine import connect
    from supportlab.design.plan import plan as make_plan

    with open_workspace(ctx, read_only=True) as ws:
        exp = load_experiment(experiment, ws.config.experiments_path / "packages")
        result = make_plan(ws, exp, engine=connect(ws, engine_kind))
    if fmt == "json":
        click.echo(result.to_json())
        return
    click.echo(result.to_string(lang or exp.language or "en"))
