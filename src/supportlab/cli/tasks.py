"""Commands of the delivery stage: ``tasks`` and ``task-status``.

``tasks`` writes the PRM tasks of an assigned experiment (kept in the workspace ``tasks``
table, see :func:`supportlab.design.tasks.make_tasks`) as a CSV for Excel, JSON Lines, a
Salesforce Task file or a group-membership file; ``task-status`` reads a PRM task export back
and keeps every status change (:func:`supportlab.design.tasks.update_task_status`). Options
and mapping files are checked before any work; a failure writes no file and stores nothing.
"""

from __future__ import annotations

import click

from supportlab.cli.common import as_of_date, open_workspace
from supportlab.errors import ConfigError

__all__ = ["task_status", "tasks"]


def _status_map(pairs: tuple[str, ...]) -> dict[str, str]:
    """``WORD=STATUS`` options as a mapping (checked by the library).

    Example:
        >>> _status_map(("済=done", "Open=open"))
        {'済': 'done', 'Open': 'open'}
    """
    out: dict[str, str] = {}
    for p in pairs:
        word, sep, status = p.partition("=")
        if not sep or not word.strip() or not status.strip():
            raise ConfigError(f"--map {p!r} is not WORD=STATUS", where="--map",
                              fix="write e.g. --map 済=done")
        out[word.strip()] = status.strip()
    return out


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "salesforce", "groups"]),
              default="csv", show_default=True,
              help="csv (Excel), jsonl, salesforce (a Task file for Data Loader / Bulk API 2.0) "
                   "or groups (partner group membership).")
@click.option("--out", help="The file to write (.csv, or .jsonl for jsonl; jsonl without "
                            "--out goes to standard output).")
@click.option("--accounts", type=click.Path(dir_okay=False, exists=True),
              help="salesforce: CSV partner_id,AccountId (e.g. from an Account export).")
@click.option("--owners", type=click.Path(dir_okay=False, exists=True),
              help="salesforce: CSV manager,OwnerId (a manager '*' row owns the tasks of "
                   "partners without a manager).")
@click.option("--as-of", "as_of", help="The day the tasks are made (default: today).")
@click.option("--dry-run", is_flag=True, help="Write the file but store no tasks.")
@click.pass_context
def tasks(ctx: click.Context, experiment: str, fmt: str, out: str | None,
          accounts: str | None, owners: str | None, as_of: str | None, dry_run: bool) -> None:
    """Write the PRM tasks of an assigned experiment (CSV, JSON Lines or a Salesforce Task file).

    Every partner of a non-control arm gets one task per package item, due on the last day of
    its week (moved off weekends by tasks.weekend), owned by the partner's manager; with
    design.waitlist the control partners get them after the horizon. The tasks are kept in
    the workspace: running it again writes the stored tasks, with their current status, and
    a changed plan is refused. --format groups writes group membership instead, for PRMs that
    assign programs to partner groups.
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.design.tasks import (
        check_task_output,
        make_tasks,
        read_id_mapping,
        render_tasks,
        write_tasks,
    )

    path = check_task_output(out, fmt)
    if fmt == "salesforce" and (accounts is None or owners is None):
        raise ConfigError("a Salesforce Task file needs the account and owner ids",
                          where="--accounts/--owners",
                          fix="give --accounts FILE (partner_id,AccountId) and --owners FILE "
                              "(manager,OwnerId)")
    acc = read_id_mapping(accounts, "accounts") if fmt == "salesforce" and accounts else None
    own = read_id_mapping(owners, "owners") if fmt == "salesforce" and owners else None
    day = as_of_date(as_of)
    with open_workspace(ctx, read_only=dry_run) as ws:
        exp = load_experiment(experiment, ws.config.experiments_path / "packages")
        planned = make_tasks(ws, exp, as_of=day, dry_run=True)
        text = render_tasks(planned, fmt, accounts=acc, owners=own)  # fails before storing
        result = planned if dry_run else make_tasks(ws, exp, as_of=day)
    if result is not planned:
        text = render_tasks(result, fmt, accounts=acc, owners=own)
    for line in result.notes:
        click.echo(f"note: {line}", err=True)
    for line in result.warnings:
        click.echo(f"warning: {line}", err=True)
    kept = "not stored (dry run)" if dry_run else (
        "stored before" if result.already_tasked else "stored in the workspace")
    if path is None:
        click.echo(text, nl=False)
        click.echo(f"{result.n_tasks:,} tasks for {result.n_partners:,} partners ({kept})",
                   err=True)
        return
    write_tasks(result, path, fmt, accounts=acc, owners=own)
    click.echo(f"wrote {result.n_tasks:,} tasks for {result.n_partners:,} partners to {path} "
               f"({fmt}; {kept})")


@click.command("task-status")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--as-of", "as_of", help="Date of the export (YYYY-MM-DD; default: today): tasks "
              "due before it and not done become overdue.")
@click.option("--strict", is_flag=True,
              help="Task ids the workspace does not hold are an error (default: a warning).")
@click.option("--map", "mapping", multiple=True, metavar="WORD=STATUS",
              help="Another status word of the PRM, e.g. --map 済=done (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format; json prints one JSON object.")
@click.pass_context
def task_status(ctx: click.Context, file: str, as_of: str | None, strict: bool,
                mapping: tuple[str, ...], fmt: str) -> None:
    """Update task status from a PRM task export, keeping every change.

    FILE is CSV or JSON Lines with a task_id (or Supportlab_Task_Id__c) and a status column;
    statuses are supportlab words (pending, sent, done, skipped, ...) or Salesforce words
    (Completed, In Progress, Not Started, Deferred). Tasks past their due date and not done
    become overdue. Every change is appended to task_history, in one transaction; an unknown
    status writes nothing.
    """
    from supportlab.design.tasks import update_task_status

    words = _status_map(mapping)
    day = as_of_date(as_of)
    with open_workspace(ctx) as ws:
        result = update_task_status(ws, file, as_of=day, strict=strict, status_map=words)
    if fmt == "json":
        click.echo(result.to_json())
    else:
        click.echo(str(result))
