"""``supportlab analyze``: the library's estimators on any per-unit CSV or Parquet file.

With ``--format json`` it prints exactly one JSON object: the estimate object (``method``,
``n_control``, ``n_treatment``, ``mean_control``, ``mean_treatment``, ``effect``, ``ci_lower``,
``ci_upper``, ``p_value``, ``rel_effect``, ``rel_ci_lower``, ``rel_ci_upper``,
``confidence_level`` and more), plus ``srm``/``srm_p_value``, ``complier`` and ``segments`` when
asked for. Errors are :class:`~supportlab.errors.SupportlabError` subclasses, which the
``supportlab`` command prints as one paragraph.

CSV files may use ``,``, ``;`` (European exports, whose decimal commas are read too), tabs or
``|``: the delimiter is detected. Messages name CSV rows by their line in the file (the header
is line 1) and Parquet rows by their position (row 1 is the first).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import click
import pandas as pd

from supportlab.errors import DataValidationError, InputFileError
from supportlab.stats.estimation import METHODS

__all__ = ["DELIMITERS", "analyze", "detect_delimiter", "read_table"]

_CSV = {".csv", ".txt", ".tsv"}
_PARQUET = {".parquet", ".pq"}
#: delimiters recognised in CSV files, in order of preference when counts tie
DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_LINES = 50
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?$")


def detect_delimiter(text: str) -> str:
    r"""The delimiter of CSV ``text``: the candidate that splits the header into the most fields
    and the next lines into the same number (``,`` when nothing splits).

    European exports use ``;`` (their decimal mark is the comma), some tools tabs or ``|``.

    Example:
        >>> detect_delimiter("arm;deals\ncontrol;1,5\n"), detect_delimiter("a,b\n1,2\n")
        (';', ',')
    """
    lines = [ln for ln in text.splitlines() if ln.strip()][:_SAMPLE_LINES]
    if not lines:
        return ","
    best, best_fields = ",", 1
    for delim in DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
        except csv.Error:
            continue
        n = len(rows[0]) if rows else 0
        if n <= best_fields:
            continue
        # the last sampled line may be cut short; every full line must have the header's width
        body = rows[1:-1] if len(rows) > 2 else rows[1:]
        if all(len(r) == n for r in body):
            best, best_fields = delim, n
    return best


def _line_numbers(text: str, delim: str, n_rows: int) -> list[int] | None:
    """The file line each data record starts on (the header is line 1), or ``None``."""
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    starts: list[int] = []
    previous_end = 0
    header_seen = False
    try:
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not record:
                continue  # blank lines, which the reader of the frame skips too
            if not header_seen:
                header_seen = True
                continue
            starts.append(start)
    except csv.Error:
        return None
    return starts if len(starts) == n_rows else None


def _decimal_commas(df: pd.DataFrame) -> list[str]:
    """Convert text columns written with a decimal comma (``1,5``) to numbers; their names."""
    converted = []
    for col in df.columns:
        s = df[col]
        if not (pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype)):
            continue
        values = s.dropna().astype(str).str.strip()
        if values.empty or not values.str.contains(",", regex=False).any():
            continue
        if values.map(lambda v: bool(_DECIMAL_COMMA.match(v))).all():
            df[col] = pd.to_numeric(s.astype(str).str.strip().str.replace(",", ".", regex=False)
                                    .where(s.notna()))
            converted.append(str(col))
    return converted


def read_table(path: str | Path, *, encoding: str | None = None,
               delimiter: str | None = None) -> pd.DataFrame:
    """Read a per-unit CSV (UTF-8 or Shift_JIS/cp932, detected) or Parquet file.

    The CSV delimiter (``,``, ``;``, tab or ``|``) is detected unless given; with ``;``, columns
    written with a decimal comma (``1,5``) are read as numbers. Rows are named for messages:
    a CSV row by the **line of the file** it starts on (the header is line 1, so the first data
    row is line 2, as in an editor or a spreadsheet), a Parquet row by its position (``row 1`` is
    the first). The frame's index holds those numbers (named ``line`` or ``row``).

    Raises:
        InputFileError: the file is missing, of an unknown type, or cannot be parsed.
        DataValidationError: the file has no rows.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError("file not found", where=str(p),
                             fix="check the path (CSV or Parquet, one row per unit)")
    suffix = p.suffix.lower()
    if delimiter is not None and delimiter not in DELIMITERS:
        shown = ", ".join(repr(d) for d in DELIMITERS)
        raise InputFileError(f"unknown delimiter {delimiter!r}", where=str(p),
                             fix=f"use one of {shown} (or leave it out to detect it)")
    try:
        if suffix in _PARQUET:
            df = pd.read_parquet(p)
            df.index = pd.RangeIndex(1, len(df) + 1, name="row")
        elif suffix in _CSV:
            if encoding is None:
                from supportlab.data.ingestion import detect_encoding

                encoding = detect_encoding(p)
            text = p.read_text(encoding=encoding)
            delim = delimiter or ("\t" if suffix == ".tsv" else detect_delimiter(text[:65536]))
            df = pd.read_csv(io.StringIO(text), sep=delim)
            if delim == ";":
                _decimal_commas(df)
            lines = _line_numbers(text, delim, len(df))
            df.index = (pd.Index(lines, name="line") if lines is not None
                        else pd.RangeIndex(1, len(df) + 1, name="row"))
        else:
            raise InputFileError(f"unknown file type '{suffix or '(none)'}'", where=str(p),
                                 fix="use a .csv, .tsv or .parquet file")
    except InputFileError:
        raise
    except (UnicodeDecodeError, LookupError) as exc:
        raise InputFileError(f"cannot decode the file ({exc.__class__.__name__})",
                             where=str(p), fix="pass --encoding (utf-8 or cp932)") from None
    except pd.errors.EmptyDataError:
        raise DataValidationError("the file is empty", where=str(p),
                                  fix="export one row per unit with a header") from None
    except Exception as exc:  # parser errors of pandas/pyarrow
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputFileError(f"cannot read the file: {first}", where=str(p),
                             fix="check that it is a well-formed CSV or Parquet file") from None
    if df.empty:
        raise DataValidationError("the file has no rows", where=str(p),
                                  fix="export one row per unit")
    return df


@click.command("analyze")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--arm", required=True, help="Column with each unit's assigned arm.")
@click.option("--outcome", required=True, help="Numeric (or 0/1) outcome column.")
@click.option("--control", default=None,
              help="Control arm label (default: 'control', or 0 for 0/1 arms).")
@click.option("--treatment", default=None, help="Treatment arm label (default: the other one).")
@click.option("--covariate", "covariates", multiple=True,
              help="Pre-period covariate for regression adjustment (repeatable).")
@click.option("--strata", default=None, help="Randomization strata column.")
@click.option("--method", type=click.Choice(METHODS, case_sensitive=False), default="auto",
              show_default=True, help="Estimator.")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table",
              show_default=True, help="Output format; json prints one JSON object.")
@click.option("--confidence", type=click.FloatRange(0.5, 1, max_open=True), default=0.95,
              show_default=True, help="Confidence level of the intervals.")
@click.option("--winsorize", type=click.FloatRange(0.5, 1, min_open=True, max_open=True),
              default=None, help="Cap the outcome at this pooled quantile (e.g. 0.99); disclosed.")
@click.option("--seed", type=int, default=None,
              help="Seed of permutations/bootstrap (default: fresh, reported).")
@click.option("--permutations", type=click.IntRange(20), default=10_000, show_default=True,
              help="Re-randomizations of the permutation method.")
@click.option("--resamples", type=click.IntRange(200), default=5_000, show_default=True,
              help="Resamples of the bootstrap method.")
@click.option("--denominator", default=None,
              help="Analyse the ratio metric sum(OUTCOME)/sum(DENOMINATOR) per arm.")
@click.option("--control-share", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=None, help="Configured control share: adds a sample-ratio check.")
@click.option("--uptake", default=None,
              help="Consumption column: adds the complier effect (assignment as instrument).")
@click.option("--segment", default=None, help="Adds per-segment effects by this column.")
@click.option("--adjust", type=click.Choice(["bh", "holm", "none"]), default="bh",
              show_default=True, help="Multiplicity adjustment of --segment.")
@click.option("--encoding", default=None, help="CSV encoding (default: detected).")
@click.option("--delimiter", type=click.Choice([",", ";", "tab", "|"]), default=None,
              help="CSV delimiter (default: detected; with ';' decimal commas are read).")
def analyze(file: str, arm: str, outcome: str, control: str | None, treatment: str | None,
            covariates: tuple[str, ...], strata: str | None, method: str, fmt: str,
            confidence: float, winsorize: float | None, seed: int | None, permutations: int,
            resamples: int, denominator: str | None, control_share: float | None,
            uptake: str | None, segment: str | None, adjust: str, encoding: str | None,
            delimiter: str | None) -> None:
    """Estimate the effect of assignment on OUTCOME from FILE (CSV or Parquet, one row per unit).

    The CSV delimiter (, ; tab |) is detected. Errors name CSV rows by their line in the file
    (the header is line 1) and Parquet rows by their position (row 1 is the first).

    \b
    Example:
      supportlab analyze partners.csv --arm arm --outcome deals --covariate deals_pre \\
          --strata rank --format json
    """
    from supportlab.stats.checks import srm_check
    from supportlab.stats.estimation import analyze as run_analyze
    from supportlab.stats.estimation import complier_effect, segment_effects

    df = read_table(file, encoding=encoding,
                    delimiter="\t" if delimiter == "tab" else delimiter)
    where_file = Path(file).name
    try:
        est = run_analyze(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                          covariates=list(covariates), strata=strata, method=method.lower(),
                          confidence_level=confidence, winsorize=winsorize, seed=seed,
                          permutations=permutations, resamples=resamples,
                          denominator=denominator)
        extras: dict[str, Any] = {}
        srm = None
        if control_share is not None:
            srm = srm_check(est.n_control, est.n_treatment, control_share=control_share)
            extras["srm_p_value"] = srm.p_value
            extras["srm"] = srm.to_dict()
        comp = None
        if uptake is not None:
            comp = complier_effect(df, arm=arm, outcome=outcome, uptake=uptake, control=control,
                                   treatment=treatment, covariates=list(covariates),
                                   strata=strata, confidence_level=confidence,
                                   winsorize=winsorize)
            extras["complier"] = comp.to_dict()
        seg = None
        if segment is not None:
            seg_method = est.method if est.method in ("welch", "regression",
                                                      "proportion") else "auto"
            seg = segment_effects(df, arm=arm, outcome=outcome, segment=segment,
                                  control=control, treatment=treatment,
                                  covariates=list(covariates), strata=strata,
                                  method=seg_method, adjust=adjust,
                                  confidence_level=confidence, winsorize=winsorize)
            extras["segments"] = seg.to_dict()
    except DataValidationError as exc:
        if exc.where and not exc.where.startswith(where_file):
            raise DataValidationError(exc.what, where=f"{where_file} ({exc.where})",
                                      fix=exc.fix, report=exc.report) from None
        raise
    if fmt == "json":
        out = est.to_dict()
        out.update(extras)
        out["file"] = str(file)
        click.echo(json.dumps(out, ensure_ascii=False, allow_nan=False))
        return
    click.echo(f"{where_file}: {len(df):,} rows")
    click.echo(str(est))
    if srm is not None:
        click.echo(str(srm))
    if comp is not None:
        click.echo(str(comp))
    if seg is not None:
        click.echo(str(seg))
