"""The shipped notebooks and their typed parameters.

Every notebook of ``notebooks/`` has a ``parameters`` cell of scalars, and a copy ships inside the
package (``supportlab/report/notebooks/``), so the runner works from an installed wheel. Before a
notebook runs, its parameters are checked here against a pydantic model (strict types, no
unknown names), so a wrong value fails in a second with a message naming it, not in a kernel
minutes later.

Example:
    >>> from supportlab.report.notebooks import parameters
    >>> parameters("experiment_report", workspace=".", experiment="exp.yaml", lang="en")["lang"]
    'en'
"""

from __future__ import annotations

import datetime as dt
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from supportlab.errors import ConfigError

__all__ = ["NOTEBOOKS", "ExperimentReportParameters", "PortfolioParameters",
           "SupportScoreParameters", "TargetingParameters", "notebook_path", "parameters"]


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    workspace: str = Field(min_length=1, description="the workspace folder")
    lang: Literal["ja", "en"] = Field(description="the page's language")
    as_of: str = Field("", description="the evaluation date (YYYY-MM-DD; empty: the default)")
    output_dir: str = Field("", description="where save() writes result.json, tables and "
                                            "summary.md (empty: nowhere)")

    @field_validator("as_of")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        if value:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"as_of == {value!r}, must be a date YYYY-MM-DD or empty") \
                    from None
        return value


class ExperimentReportParameters(_Parameters):
    """``experiment_report.ipynb``: one experiment's decision report."""

    experiment: str = Field(min_length=1, description="the experiment's YAML file")
    permutations: Annotated[int, Field(ge=0, le=100_000)] = Field(
        1000, description="redraws of the randomization test")
    explore: str = Field("", description="exploratory segments besides the pre-declared ones, "
                                         "comma-separated partner attributes (e.g. 'region')")
    inputs: str = Field("", description="a folder of evaluation inputs read ahead for the "
                                        "whole run (supportlab run writes one; empty: the "
                                        "notebook reads the logs)")


class PortfolioParameters(_Parameters):
    """``portfolio.ipynb``: every package and experiment, for leadership."""

    packages_dir: str = Field("packages", description="the package files' folder")
    reports_dir: str = Field("reports", description="where the experiment reports are")


class TargetingParameters(_Parameters):
    """``targeting.ipynb``: who should get which package next."""

    packages_dir: str = Field("packages", description="the package files' folder")
    top: Annotated[int, Field(ge=1, le=10_000)] = Field(20, description="rows in top lists")


class SupportScoreParameters(_Parameters):
    """``support_score.ipynb``: the score's distribution and movers."""

    top: Annotated[int, Field(ge=1, le=10_000)] = Field(20, description="rows in top lists")


#: notebook name -> its parameters' model
NOTEBOOKS: dict[str, type[_Parameters]] = {
    "experiment_report": ExperimentReportParameters,
    "portfolio": PortfolioParameters,
    "targeting": TargetingParameters,
    "support_score": SupportScoreParameters,
}


def notebook_path(name: str) -> Path:
    """The shipped copy of notebook ``name`` (``experiment_report``, ``portfolio``...).

    Raises:
        ConfigError: an unknown name, or a notebook missing from the installation.
    """
    if name not in NOTEBOOKS:
        raise ConfigError(f"no notebook named {name!r}",
                          fix=f"use one of {', '.join(sorted(NOTEBOOKS))}")
    path = Path(str(files("supportlab.report") / "notebooks" / f"{name}.ipynb"))
    if not path.is_file():
        raise ConfigError(f"the notebook {name}.ipynb is missing from the installation",
                          where=str(path), fix="reinstall supportlab")
    return path


def parameters(name: str, **values: Any) -> dict[str, Any]:
    """The checked parameters of notebook ``name`` (defaults filled in).

    Raises:
        ConfigError: an unknown name, a wrong type or value, or a name the notebook does not
            take; every problem is listed.
    """
    if name not in NOTEBOOKS:
        raise ConfigError(f"no notebook named {name!r}",
                          fix=f"use one of {', '.join(sorted(NOTEBOOKS))}")
    try:
        model = NOTEBOOKS[name](**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(parameters)'}: "
            f"{'unknown parameter' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors())
        raise ConfigError(f"bad parameters: {problems}", where=f"{name}.ipynb",
                          fix=f"{name}.ipynb takes {', '.join(NOTEBOOKS[name].model_fields)}") \
            from None
    return model.model_dump()
