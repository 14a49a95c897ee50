"""Commands of the registry: ``record-decision``, ``packages`` and ``credits``.

``record-decision`` appends one decision to the workspace's append-only ``decisions`` log
(:func:`supportlab.design.registry.record_decision`); ``packages`` and ``credits`` read the
log with the package files (:func:`~supportlab.design.registry.packages`,
:func:`~supportlab.design.registry.credits`) and write nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from supportlab.cli.common import open_workspace
from supportlab.errors import ConfigError

__all__ = ["credits", "packages", "record_decision"]

_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                       show_default=True, help="Output format; json prints one JSON object.")
_LANG = click.option("--lang", type=click.Choice(["ja", "en"]), default=None,
                     help="Language of the table (default: the workspace's language).")
_DIR = click.option("--packages-dir", "packages_dir", type=click.Path(file_okay=False),
                    default=None, help="Folder of package files (default: experiments/packages).")


def _packages_dir(ws: Any, given: str | None) -> Path:
    return Path(given) if given else ws.config.experiments_path / "packages"


def _evaluation(ws: Any, exp: Any) -> Any:
    """The experiment's evaluation (:func:`supportlab.design.evaluate.evaluate`)."""
    from supportlab.design.evaluate import evaluate

    return evaluate(ws, exp)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@click.option("--decision", type=click.Choice(["promote", "revise", "continue", "stop", "retire"]),
              default=None, help="The decision taken (default: the evaluation's).")
@click.option("--reason", default=None,
              help="Why, in your words: required when --decision differs from the evaluation's, "
                   "without an evaluation, and for retire.")
@click.option("--by", "decided_by", default=None, help="Who decided.")
@click.option("--report", default=None, help="The report the decision was taken on.")
@click.option("--without-evaluation", is_flag=True,
              help="Record --decision without evaluating the experiment (needs --reason).")
@_FORMAT
@_LANG
@click.pass_context
def record_decision(ctx: click.Context, experiment: str, decision: str | None,
                    reason: str | None, decided_by: str | None, report: str | None,
                    without_evaluation: bool, fmt: str, lang: str | None) -> None:
    """Append the decision on an experiment's package version to the log.

    Without --decision the evaluation's computed decision is recorded with its primary
    estimate. A --decision that differs from it is kept as an override beside the computed one
    and needs --reason. retire takes the package version out of use (with --reason; it does not
    evaluate). The log is append-only: recording the same decision again adds nothing.
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.design.registry import record_decision as record

    if without_evaluation and decision is None:
        raise ConfigError("--without-evaluation records a person's decision",
                          fix="give it with --decision D --reason TEXT")
    with open_workspace(ctx) as ws:
        exp = load_experiment(experiment, ws.config.experiments_path / "packages")
        evaluation = None if without_evaluation or decision == "retire" else _evaluation(ws, exp)
        result = record(ws, evaluation, experiment=exp, decision=decision, reason=reason,
                        decided_by=decided_by, report=report)
        language = lang or exp.language or ws.config.language
    if fmt == "json":
        click.echo(result.to_json())
        return
    click.echo(result.to_string(language))


@click.command()
@click.option("--package", "package_id", default=None, help="Only this package id.")
@_DIR
@_FORMAT
@_LANG
@click.pass_context
def packages(ctx: click.Context, package_id: str | None, packages_dir: str | None, fmt: str,
             lang: str | None) -> None:
    """List every package version with its status, lineage, experiments and reproduction.

    Status comes from the decision log (draft, piloting, promoted, revise, stopped, retired);
    "reproduced in N of M" counts the later experiments in other cohorts that confirmed a
    promotion; the pooled effect (random effects) is shown raw and shrunk towards the
    registry's mean. With --format json it prints one JSON object.
    """
    from supportlab.design.registry import packages as registry

    with open_workspace(ctx, read_only=True, create=True) as ws:
        result = registry(ws, _packages_dir(ws, packages_dir), package=package_id)
        language = lang or ws.config.language
    if fmt == "json":
        click.echo(result.to_json())
        return
    click.echo(result.to_string(language))


@click.command()
@_DIR
@_FORMAT
@_LANG
@click.pass_context
def credits(ctx: click.Context, packages_dir: str | None, fmt: str, lang: str | None) -> None:
    """Credit each owner with packages designed, promoted and reproduced, from the decision log.

    Computed from the package files and the log, never self-reported: a reproduction counts
    when a later experiment in another cohort, delivered by others, confirmed the promotion;
    those who delivered it are credited with spreading it. Overrides are listed.
    """
    from supportlab.design.registry import credits as make_credits

    with open_workspace(ctx, read_only=True, create=True) as ws:
        result = make_credits(ws, _packages_dir(ws, packages_dir))
        language = lang or ws.config.language
    if fmt == "json":
        click.echo(result.to_json())
        return
    click.echo(result.to_string(language))
