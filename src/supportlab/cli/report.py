"""``supportlab report`` and ``supportlab run``: notebooks executed into published reports.

Both call :mod:`supportlab.report.runner`; see it for the layout of ``reports/`` and the
guarantees (checked parameters, one run per experiment at a time, atomic publication, the
failure page, the decision log, ``reports/runs.jsonl``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from supportlab.cli.common import parse_date
from supportlab.errors import ConfigError

__all__ = ["report", "run"]

_LANG = click.option("--lang", "lang", type=click.Choice(["ja", "en", "all"]), default=None,
                     help="Report language; all writes both (default: the experiment's "
                          "report.lang, else the workspace's language).")
_AS_OF = click.option("--as-of", "as_of", help="Evaluation date (YYYY-MM-DD). Default: today, "
                      "capped at the horizon and the end of the logs.")
_TIMEOUT = click.option("--timeout", default=600.0, show_default=True,
                        type=click.FloatRange(min=1),
                        help="Seconds a report's notebook runs may take together.")
_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                       show_default=True, help="Output format; json prints one JSON object.")


def _root(ctx: click.Context) -> Path:
    from supportlab.config.workspace import find_root

    given = ctx.obj.get("workspace")
    root = find_root(given) if given else find_root()
    if root is None:
        from supportlab.errors import WorkspaceError

        raise WorkspaceError("no supportlab workspace here", where=str(given or Path.cwd()),
                             fix="run the command in a workspace, pass -C DIR, or create one "
                                 "with 'supportlab init DIR'")
    return Path(root)


def _emit(results: list[Any], fmt: str) -> None:
    if fmt == "json":
        payload: Any = results[0].to_dict() if len(results) == 1 else \
            [r.to_dict() for r in results]
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for r in results:
            click.echo(r.line(), err=not r.ok)
            for note in r.notes:
                click.echo(f"  {note}")
    failed = [r for r in results if not r.ok]
    if failed:
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@_LANG
@_AS_OF
@_TIMEOUT
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Publish under this folder instead of the workspace's reports/.")
@click.option("--no-record", "no_record", is_flag=True,
              help="Do not append the computed decision to the decision log.")
@click.option("--permutations", default=1000, show_default=True, type=click.IntRange(0, 100_000),
              help="Redraws of the randomization test.")
@click.option("--explore", "explore", multiple=True, metavar="ATTRIBUTE",
              help="An exploratory segment besides the pre-declared ones (repeatable), marked "
                   "exploratory on the page.")
@_FORMAT
@click.pass_context
def report(ctx: click.Context, experiment: str, lang: str | None, as_of: str | None,
           timeout: float, out: str | None, no_record: bool, permutations: int,
           explore: tuple[str, ...], fmt: str) -> None:
    """Execute the experiment_report notebook for EXPERIMENT.yaml and publish its report.

    The report goes to reports/<experiment-id>/: index.html (index.<lang>.html per language),
    result.json, the tables as CSV, summary.md, the executed notebook and manifest.json. A failed
    run keeps the previous good report, writes reports/<id>/failed/ (an error page and the
    notebook with the failing cell) and exits 1. The computed decision is appended to the
    decision log unless --no-record. Every run is a line of reports/runs.jsonl.
    """
    from supportlab.report.runner import report as run_report

    parse_date(as_of, "--as-of")
    result = run_report(_root(ctx), experiment, languages=lang, as_of=as_of, timeout=timeout,
                        reports_dir=out, record=not no_record, permutations=permutations,
                        explore=explore)
    _emit([result], fmt)


@click.command()
@click.option("--experiments", "experiments_dir", type=click.Path(file_okay=False, exists=True),
              default=None, help="Folder of experiment files (default: the workspace's "
                                 "experiments/).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Reports run in this many processes at once.")
@click.option("--all", "include_decided", is_flag=True,
              help="Also experiments that already have a final decision.")
@_LANG
@_AS_OF
@_TIMEOUT
@click.option("--no-record", "no_record", is_flag=True,
              help="Do not append the computed decisions to the decision log.")
@click.option("--no-portfolio", "no_portfolio", is_flag=True,
              help="Skip the portfolio page (reports/index.html).")
@click.option("--no-views", "no_views", is_flag=True,
              help="Skip the roll-out targeting and support-score pages.")
@click.option("--portfolio-only", "portfolio_only", is_flag=True,
              help="Only rebuild the portfolio (e.g. after reports run one per task).")
@click.option("--no-share", "no_share", is_flag=True,
              help="Each report reads the logs itself (default: read once for all).")
@_FORMAT
@click.pass_context
def run(ctx: click.Context, experiments_dir: str | None, workers: int, include_decided: bool,
        lang: str | None, as_of: str | None, timeout: float, no_record: bool,
        no_portfolio: bool, no_views: bool, portfolio_only: bool, no_share: bool,
        fmt: str) -> None:
    """Report every active experiment in parallel, then the portfolio (for cron and Airflow).

    Active: assigned in the workspace and without a final decision (promote, revise, stop) in
    the log; --all includes decided ones. Each report is published as 'supportlab report'
    does, with the roll-out targeting and support-score views (reports/targeting/,
    reports/support-score/); decisions are recorded in the order the experiments started; the
    portfolio goes to reports/index.html. What the evaluations read from the logs is read
    once, before the reports start, for all of them (one engine session and one scan); the
    reports read it from a temporary folder. One failure does not stop the others; the
    command exits 1 when any run failed.
    """
    from supportlab.report.runner import active_experiments, run_all

    parse_date(as_of, "--as-of")
    root = _root(ctx)
    if portfolio_only:
        if no_portfolio:
            raise ConfigError("--portfolio-only and --no-portfolio exclude each other",
                              fix="pass one of them")
        _emit(run_all(root, experiments=[], languages=lang, as_of=as_of, timeout=timeout,
                      record=False, with_views=False), fmt)
        return
    files = active_experiments(root, experiments_dir, include_decided=include_decided)
    if not files and no_portfolio and no_views:
        raise ConfigError("no active experiment to report",
                          fix="assign one, or pass --all to report decided experiments again")
    results = run_all(root, experiments=files, workers=workers, languages=lang, as_of=as_of,
                      timeout=timeout, record=not no_record, with_portfolio=not no_portfolio,
                      with_views=not no_views, share=not no_share)
    if not files and fmt == "text":
        click.echo("no active experiment (use --all to report decided ones again)")
    _emit(results, fmt)
