"""The ``evaluate`` command: an experiment's estimates, checks and decision.

It reads the experiment file, the ledger and the logs of the workspace and prints the
:class:`~supportlab.design.evaluate.Evaluation` of :func:`supportlab.design.evaluate.evaluate`
as a table or as one JSON object. ``--out`` writes it to a file (``.json``, ``.md``, ``.html``,
``.txt``, or the estimates as ``.csv``/``.parquet``/``.xlsx``), atomically; nothing is written
to the workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from supportlab.cli.common import ENGINE_OPTION, as_of_date, open_workspace, write_frame
from supportlab.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from supportlab.design.evaluate import Evaluation

__all__ = ["evaluate"]

#: what ``--out`` can write: the whole evaluation as text, or its estimates as a table
_TEXT_SUFFIXES = (".json", ".md", ".html", ".txt")
_FRAME_SUFFIXES = (".csv", ".parquet", ".xlsx")


def _out_file(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    allowed = (*_TEXT_SUFFIXES, *_FRAME_SUFFIXES)
    if path.suffix.lower() not in allowed:
        raise ConfigError(f"cannot write '{path.suffix or '(no suffix)'}' files",
                          where=f"--out {path}", fix=f"name a {', '.join(allowed)} file")
    if path.is_dir():
        raise ConfigError("is a directory", where=f"--out {path}", fix="name a file in it")
    return path


def _write(result: Evaluation, path: Path, lang: str) -> None:
    suffix = path.suffix.lower()
    if suffix in _FRAME_SUFFIXES:
        write_frame(result.to_frame().set_index(["arm", "metric", "role"]), path)
        return
    text = {".json": lambda: result.to_json(indent=2), ".md": lambda: result.to_markdown(lang),
            ".html": lambda: result.to_html(lang), ".txt": lambda: result.to_string(lang)}[suffix]()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@click.option("--as-of", "as_of", help="Evaluation date (YYYY-MM-DD; the post window ends "
              "before it). Default: today, capped at the horizon and the end of the logs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format; json prints one JSON object.")
@click.option("--lang", type=click.Choice(["ja", "en"]), default=None,
              help="Language of the reasons and the table (default: the experiment's "
                   "report.lang, else en).")
@click.option("--out", help="Also write the evaluation to a file: .json, .md, .html, .txt, or "
                            "its estimates as .csv, .parquet or .xlsx.")
@ENGINE_OPTION
@click.pass_context
def evaluate(ctx: click.Context, experiment: str, as_of: str | None, fmt: str,
             lang: str | None, out: str | None, engine_kind: str | None) -> None:
    """Evaluate an experiment from its ledger and the logs: estimates, checks and the decision.

    The primary, secondary and guardrail metrics are computed per assigned partner in the
    engine (pre window before the start, post window from the start to --as-of or the end of
    the horizon) and estimated by assignment with the estimator the stored design calls for;
    then the sample-ratio check against the design's probabilities, balance, uptake and the
    step funnel per arm, the complier effect, the pre-declared segments, the sequential looks
    and the decision (promote, revise, continue or stop) with its reasons. A placebo (A/A)
    run is labelled as such. Nothing is written to the workspace.
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.data.engine import connect
    from supportlab.design.evaluate import evaluate as run_evaluation

    out_path = _out_file(out)
    day = as_of_date(as_of)
    with open_workspace(ctx, read_only=True) as ws:
        exp = load_experiment(experiment, ws.config.experiments_path / "packages")
        result = run_evaluation(ws, exp, as_of=day, lang=lang,
                                engine=connect(ws, engine_kind))
    language = result.lang
    if out_path is not None:
        _write(result, out_path, language)
    if fmt == "json":
        click.echo(result.to_json())
    else:
        click.echo(result.to_string(language))
    if out_path is not None:
        click.echo(f"wrote {out_path}", err=True)
