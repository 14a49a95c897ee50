"""``supportlab analyze``: the library's estimators on any per-unit CSV or Parquet file.

With ``--format json`` it prints exactly one JSON object: the estimate object (``method``,
``n_control``, ``n_treatment``, ``mean_control``, ``mean_treatment``, ``effect``, ``ci_lower``,
``ci_upper``, ``p_value``, ``rel_effect``, ``rel_ci_lower``, ``rel_ci_upper``,
``confidence_level`` and more), plus ``srm``/``srm_p_value``, ``complier`` and ``segments`` when
asked for. Errors are :class:`~supportlab.errors.SupportlabError` subclasses, which the
``supportlab`` command prints as one paragraph.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd

from supportlab.errors import DataValidationError, InputFileError
from supportlab.stats.estimation import METHODS

__all__ = ["analyze", "read_table"]

_CSV = {".csv", ".txt", ".tsv"}
_PARQUET = {".parquet", ".pq"}


def read_table(path: str | Path, *, encoding: str | None = None) -> pd.DataFrame:
    """Read a per-unit CSV (UTF-8 or Shift_JIS/cp932, detected) or Parquet file.

    Raises:
        InputFileError: the file is missing, of an unknown type, or cannot be parsed.
        DataValidationError: the file has no rows.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError("file not found", where=str(p),
                             fix="check the path (CSV or Parquet, one row per unit)")
    suffix = p.suffix.lower()
    try:
        if suffix in _PARQUET:
            df = pd.read_parquet(p)
        elif suffix in _CSV:
            if encoding is None:
                from supportlab.data.ingestion import detect_encoding

                encoding = detect_encoding(p)
            df = pd.read_csv(p, encoding=encoding, sep="\t" if suffix == ".tsv" else ",")
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
def analyze(file: str, arm: str, outcome: str, control: str | None, treatment: str | None,
            covariates: tuple[str, ...], strata: str | None, method: str, fmt: str,
            confidence: float, winsorize: float | None, seed: int | None, permutations: int,
            resamples: int, denominator: str | None, control_share: float | None,
            uptake: str | None, segment: str | None, adjust: str, encoding: str | None) -> None:
    """Estimate the effect of assignment on OUTCOME from FILE (CSV or Parquet, one row per unit).

    \b
    Example:
      supportlab analyze partners.csv --arm arm --outcome deals --covariate deals_pre \\
          --strata rank --format json
    """
    from supportlab.stats.checks import srm_check
    from supportlab.stats.estimation import analyze as run_analyze
    from supportlab.stats.estimation import complier_effect, segment_effects

    df = read_table(file, encoding=encoding)
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
                                  method=seg_method, adjust=adjust,  # type: ignore[arg-type]
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
