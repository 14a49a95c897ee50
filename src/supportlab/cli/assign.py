"""The ``assign`` command: randomize an experiment's eligible partners and store the ledger.

It runs :func:`supportlab.design.ledger.assign` (or, with ``--verify``,
:func:`supportlab.design.ledger.verify`) and prints the counts per arm and stratum, the balance
table, the exclusions, the capacity and what was done: ``assigned N partners``, or ``already
assigned on <date>: the stored assignment is unchanged``.
"""

from __future__ import annotations

import click

from supportlab.cli.common import ENGINE_OPTION, open_workspace, parse_date

__all__ = ["assign"]


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@click.option("--dry-run", is_flag=True, help="Compute and show the assignment; write nothing.")
@click.option("--verify", "check", is_flag=True,
              help="Recompute the stored ledger from its seed and inputs and compare row by row.")
@click.option("--as-of", default=None,
              help="Measure eligibility as of this day (default: the start, or the day after "
                   "the data for a planned start).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format; json prints one JSON object.")
@click.option("--lang", type=click.Choice(["ja", "en"]), default=None,
              help="Language of the table (default: the experiment's report.lang, else en).")
@ENGINE_OPTION
@click.pass_context
def assign(ctx: click.Context, experiment: str, dry_run: bool, check: bool, as_of: str | None,
           fmt: str, lang: str | None, engine_kind: str | None) -> None:
    """Randomize the eligible partners of EXPERIMENT.yaml into arms and store the immutable ledger.

    Eligible partners (the experiment's targets as of the start) are randomized with the
    design of the file (stratified, blocked or rerandomized) and written once, in one
    transaction, to the assignments table with the stored design. Running it again returns the
    stored assignment; a changed design or eligibility is refused (use a new experiment id or
    design.phase). With --verify the stored ledger is recomputed and compared; it exits 1 when
    they differ.
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.data.engine import connect
    from supportlab.design.ledger import assign as run_assign
    from supportlab.design.ledger import verify

    day = parse_date(as_of, "--as-of")
    with open_workspace(ctx, read_only=check) as ws:
        exp = load_experiment(experiment, ws.config.experiments_path / "packages")
        lang = lang or exp.language or "en"
        if check:
            v = verify(ws, exp)
            click.echo(v.to_json() if fmt == "json" else v.to_string(lang))
            if not v.equal:
                ctx.exit(1)
            return
        result = run_assign(ws, exp, dry_run=dry_run, as_of=day,
                            engine=connect(ws, engine_kind) if engine_kind else None)
    if fmt == "json":
        click.echo(result.to_json())
        return
    click.echo(result.to_string(lang))
    click.echo(result.message())
