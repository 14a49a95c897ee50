"""The ``supportlab`` click group: the command table, error handling and the entry point.

Every command lives in the module of its stage and is imported on first use (see
:data:`COMMANDS`), so ``supportlab --help`` starts without loading pandas or the engine. A
:class:`~supportlab.errors.SupportlabError` becomes one paragraph on stderr and the exit code of
its class; any other exception becomes one line naming it; ``--debug`` adds the traceback.
Warnings raised by the library while a command runs are shown as ``warning: ...`` lines.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import click

from supportlab.errors import SupportlabError

__all__ = ["COMMANDS", "CommandRef", "SupportlabGroup", "cli", "main"]

#: the installed package: warnings raised from files below it are the library's own
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


class CommandRef(NamedTuple):
    """Where a command lives, and its one-line summary for ``supportlab --help``.

    The summary is shown before the command's module is imported (a test keeps it equal to the
    command's own short help); ``None`` means: import the module to read it.
    """

    module: str
    function: str
    summary: str | None


#: every command: name -> module, function and summary (the map of ``docs/architecture.md``)
COMMANDS: dict[str, CommandRef] = {
    "init": CommandRef("supportlab.cli.data", "init", "Create a workspace in DIRECTORY "
                       "(supportlab.toml, data/, experiments/, reports/)."),
    "ingest": CommandRef("supportlab.cli.data", "ingest", "Load PRM exports (CSV, Parquet, "
                         ".xlsx) into TABLE, validating every row."),
    "quarantine": CommandRef("supportlab.cli.data", "quarantine",
                             "Show quarantined rows with the reason they were rejected."),
    "validate": CommandRef("supportlab.cli.data", "validate", "Re-check the whole workspace: "
                           "schemas, unique keys and cross-table references."),
    "export": CommandRef("supportlab.cli.data", "export",
                         "Write workspace tables as Parquet files (e.g. for the Spark engine)."),
    "simulate": CommandRef("supportlab.cli.sim", "simulate",
                           "Generate a seeded, believable PRM world into the workspace database."),
    "demo": CommandRef("supportlab.cli.demo", "demo", "Build a simulated PRM world in a new or "
                       "simulated workspace, validate it and summarise it."),
    "metrics": CommandRef("supportlab.cli.features", "metrics",
                          "Compute per-partner metrics as of a date, in the engine."),
    "targets": CommandRef("supportlab.cli.features", "targets", "List the ranked eligible "
                          "partners of EXPERIMENT.yaml, with why each is eligible."),
    "score": CommandRef("supportlab.cli.features", "score", "Compute the support score "
                        "(支援スコア) of every partner and export it for dashboards."),
    "plan": CommandRef("supportlab.cli.plan", "plan", "Say whether EXPERIMENT.yaml can detect "
                       "its min_effect: eligible partners, MDE and what would help."),
    "assign": CommandRef("supportlab.cli.assign", "assign", "Randomize the eligible partners of "
                         "EXPERIMENT.yaml into arms and store the immutable ledger."),
    "tasks": CommandRef("supportlab.cli.tasks", "tasks", "Write the PRM tasks of an assigned "
                        "experiment (CSV, JSON Lines or a Salesforce Task file)."),
    "task-status": CommandRef("supportlab.cli.tasks", "task_status", "Update task status from "
                              "a PRM task export, keeping every change."),
    "simulate-delivery": CommandRef("supportlab.cli.sim", "simulate_delivery", "Deliver an "
                                    "assigned experiment in a simulated workspace through its "
                                    "horizon."),
    "evaluate": CommandRef("supportlab.cli.evaluate", "evaluate", "Evaluate an experiment from "
                           "its ledger and the logs: estimates, checks and the decision."),
    "record-decision": CommandRef("supportlab.cli.registry", "record_decision", "Append the "
                                  "decision on an experiment's package version to the log."),
    "packages": CommandRef("supportlab.cli.registry", "packages", "List every package version "
                           "with its status, lineage, experiments and reproduction."),
    "credits": CommandRef("supportlab.cli.registry", "credits", "Credit each owner with packages "
                          "designed, promoted and reproduced, from the decision log."),
    "report": CommandRef("supportlab.cli.report", "report", "Execute the experiment_report "
                         "notebook for EXPERIMENT.yaml and publish its report."),
    "run": CommandRef("supportlab.cli.report", "run", "Report every active experiment in "
                      "parallel, then the portfolio (for cron and Airflow)."),
    "analyze": CommandRef("supportlab.cli.analyze", "analyze", "Estimate the effect of "
                          "assignment on OUTCOME from FILE (CSV or Parquet, one row per unit)."),
    "schema": CommandRef("supportlab.cli.schema", "schema", "Print the JSON Schema of a file KIND "
                         "(experiment, package, metrics, ...)."),
}


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, as click does."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3].rsplit(" ", 1)[0]
    return cut + "..."


def _available(ref: CommandRef) -> bool:
    """Whether the command's module is installed (finding it imports only its package)."""
    try:
        return importlib.util.find_spec(ref.module) is not None
    except ImportError:
        return False


class SupportlabGroup(click.Group):
    """A click group that loads commands on first use and prints errors as one paragraph."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = {name for name, ref in COMMANDS.items() if _available(ref)}
        return sorted({*super().list_commands(ctx), *lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        ref = COMMANDS.get(name)
        if ref is not None and name not in self.commands and _available(ref):
            command = getattr(importlib.import_module(ref.module), ref.function)
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, with summaries that do not import the commands' modules."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        rows = []
        for name in names:
            ref = COMMANDS.get(name)
            if name not in self.commands and ref is not None and ref.summary is not None:
                rows.append((name, _shorten(ref.summary, limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or "--debug" in sys.argv
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    return super().invoke(ctx)
                finally:
                    _show_warnings(caught)
        except SupportlabError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise
        except KeyboardInterrupt:
            _interrupted()
        except Exception as exc:  # the last line of defence
            if debug:
                traceback.print_exc()
            if _is_interrupt(exc):
                _interrupted()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"error: unexpected {exc.__class__.__name__}: {first} "
                       "(run again with --debug for the traceback)", err=True)
            ctx.exit(1)


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Warnings raised by supportlab's own code as ``warning: ...`` lines, each text once.

    Warnings of other libraries (pandas, DuckDB, ...) are left out: they speak of their
    internals, not of the user's data.
    """
    seen: set[str] = set()
    for w in caught:
        text = str(w.message)
        if _from_supportlab(w) and not issubclass(w.category, DeprecationWarning) \
                and text not in seen:
            seen.add(text)
            click.echo(f"warning: {text}", err=True)


def _from_supportlab(w: warnings.WarningMessage) -> bool:
    """Whether a warning was raised by (or on behalf of) supportlab's own code."""
    try:
        Path(w.filename).resolve().relative_to(_PACKAGE_DIR)
    except (ValueError, OSError):
        return False
    return True


def _is_interrupt(exc: BaseException) -> bool:
    """The engine turns Ctrl-C into its own exceptions; recognise them."""
    text = str(exc).lower()
    return "interrupted" in text or ("rollback" in text and "transaction" in text)


def _interrupted() -> None:
    click.echo("interrupted: the step that was running was rolled back; steps that had "
               "finished are kept (see 'supportlab quarantine' and the ingest log)", err=True)
    sys.exit(130)


@click.group(cls=SupportlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("-C", "--workspace", "workspace", type=click.Path(file_okay=False),
              default=None, help="Workspace directory (default: nearest supportlab.toml).")
@click.version_option(package_name="supportlab")
@click.pass_context
def cli(ctx: click.Context, debug: bool, workspace: str | None) -> None:
    """supportlab: randomized experiments for partner enablement.

    Quick start: 'supportlab demo' builds a simulated PRM world in a workspace, validates it and
    summarises it; then try 'supportlab targets', 'supportlab score' and 'supportlab analyze'.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["workspace"] = workspace


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``supportlab`` command (``supportlab.cli:main``)."""
    try:
        cli.main(args=argv, prog_name="supportlab", standalone_mode=True)
    except KeyboardInterrupt:  # before a command started, or while click unwinds
        _interrupted()
    except BrokenPipeError:  # `supportlab ... | head`: the reader left; not an error of ours
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
