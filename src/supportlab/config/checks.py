"""Checks across files, where the workspace is known: do the names a file uses exist?

Pure functions over plain sets of names (this layer knows nothing of tables or engines): the
caller passes what exists — the metric catalogue, the partner feature columns, the content ids
of the ``contents`` table, the columns of each table — and gets :class:`Problem` s back, or one
:class:`ConfigFileError` from :func:`check_experiment`.

Example:
    >>> from supportlab.config.experiment import Package, PackageItem, PackageStep
    >>> kit = Package("kit", 1, (PackageStep(1, (PackageItem("video-a", "view"),)),), path="kit.yaml")
    >>> [(p.where, p.what) for p in package_problems(kit, contents={"video-b"})]
    [('kit.yaml: steps.0.items.0.content', "content 'video-a' is not in the contents catalogue")]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from supportlab.config.experiment import Experiment, Package
from supportlab.config.problems import ConfigFileError, Problem, did_you_mean

__all__ = ["check_experiment", "experiment_problems", "mapping_problems", "metric_problems",
           "package_problems"]


def _sorted(names: Iterable[Any]) -> list[str]:
    return sorted({str(n) for n in names})


def package_problems(package: Package, *, contents: Collection[str] | None = None) -> list[Problem]:
    """Items of a package whose content id is not in the ``contents`` catalogue.

    An item missing from the catalogue can never be delivered or done, which silently lowers
    every partner's completion rate.
    """
    if contents is None:
        return []
    known = _sorted(contents)
    out = []
    for i, step in enumerate(package.steps):
        for j, item in enumerate(step.items):
            if item.content not in contents:
                fix = (did_you_mean(item.content, known, label="content ids there") if known else
                       "the contents catalogue is empty: load it with 'supportlab ingest contents "
                       "FILE'")
                out.append(Problem(("steps", i, "items", j, "content"),
                                   f"content '{item.content}' is not in the contents catalogue",
                                   fix, source=package.path))
    return out


def experiment_problems(experiment: Experiment, *, metrics: Collection[str] | None = None,
                        columns: Collection[str] | None = None,
                        contents: Collection[str] | None = None) -> list[Problem]:
    """Names an experiment (and its package) uses that do not exist in the workspace.

    Args:
        experiment: the experiment.
        metrics: the metric catalogue's names (primary, secondary and guardrail metrics).
        columns: the partner feature columns (strata and the priority feature).
        contents: the content ids of the ``contents`` table (the package's items).

    Returns:
        The problems, each placed in its file (the experiment's or the package's).
    """
    src = experiment.path
    out: list[Problem] = []
    if metrics is not None:
        known = _sorted(metrics)
        m = experiment.metrics
        named: list[tuple[tuple[str | int, ...], str]] = [(("metrics", "primary"), m.primary)]
        named += [(("metrics", "secondary", i), n) for i, n in enumerate(m.secondary)]
        named += [(("metrics", "guardrails", i, "metric"), g.metric)
                  for i, g in enumerate(m.guardrails)]
        for loc, name in named:
            if name not in metrics:
                out.append(Problem(loc, f"unknown metric '{name}'",
                                   did_you_mean(name, known, label="metrics") +
                                   " (or define it in experiments/metrics.yaml)", source=src))
    if columns is not None:
        known = _sorted(columns)
        for i, col in enumerate(experiment.design.stratify_by):
            if col not in columns:
                out.append(Problem(("design", "stratify_by", i), f"unknown partner column '{col}'",
                                   did_you_mean(col, known, label="columns"), source=src))
        if experiment.priority is not None and experiment.priority not in columns:
            out.append(Problem(("priority",), f"unknown priority feature '{experiment.priority}'",
                               did_you_mean(experiment.priority, known, label="features") +
                               " (a metric, an attribute or support_score)", source=src))
    out += package_problems(experiment.package, contents=contents)
    return out


def check_experiment(experiment: Experiment, *, metrics: Collection[str] | None = None,
                     columns: Collection[str] | None = None,
                     contents: Collection[str] | None = None) -> None:
    """Raise every problem of :func:`experiment_problems` at once (nothing when all is well).

    Call it wherever an experiment meets its workspace (targeting, assignment, evaluation); a
    name given as ``None`` is not checked.

    Raises:
        ConfigFileError: with every problem, each as ``file: key.path``.
    """
    problems = experiment_problems(experiment, metrics=metrics, columns=columns, contents=contents)
    if problems:
        raise ConfigFileError(problems, source=experiment.path)


def metric_problems(name: str, spec: Any, tables: Mapping[str, Collection[str]],
                    extra_columns: Mapping[str, Collection[str]] | None = None) -> list[Problem]:
    """Tables and columns a metric definition names that do not exist.

    Works on the raw mapping (before or after validation), so that its problems are reported
    together with the shape's. Key paths are relative to the definition (``where.value``).

    Args:
        name: the metric's name.
        spec: its definition as written.
        tables: the columns of each workspace table.
        extra_columns: columns a table offers besides its own (events: the content's columns).
    """
    if not isinstance(spec, Mapping):
        return []
    base: tuple[str, ...] = ()
    table = spec.get("table", "events")
    if not isinstance(table, str):
        return []
    if table not in tables:
        return [Problem((*base, "table"), f"table '{table}' is not a workspace table",
                        did_you_mean(table, _sorted(tables), label="allowed tables"))]
    own = set(tables[table])
    cols = own | set((extra_columns or {}).get(table, ()))
    listing = _sorted(cols)
    out = []
    column = spec.get("column")
    if isinstance(column, str) and column not in cols:
        out.append(Problem((*base, "column"), f"column '{column}' is not in {table}",
                           did_you_mean(column, listing, label=f"columns of {table}")))
    where = spec.get("where")
    if isinstance(where, Mapping):
        for col in where:
            if isinstance(col, str) and col not in cols:
                out.append(Problem((*base, "where", col), f"filter column '{col}' is not in {table}",
                                   did_you_mean(col, listing, label=f"columns of {table}")))
    time = spec.get("time")
    if isinstance(time, str) and time not in own:
        out.append(Problem((*base, "time"), f"time column '{time}' is not in {table}",
                           did_you_mean(time, _sorted(own), label=f"columns of {table}")))
    return out


def mapping_problems(spec: Any, tables: Mapping[str, Collection[str]]) -> list[Problem]:
    """The table and canonical columns an ingest mapping names that do not exist."""
    if not isinstance(spec, Mapping):
        return []
    table = spec.get("table")
    if not isinstance(table, str):
        return []
    if table not in tables:
        return [Problem(("table",), f"table '{table}' is not a canonical table",
                        did_you_mean(table, _sorted(tables), label="tables"))]
    cols = set(tables[table])
    listing = _sorted(cols)
    out = []
    columns = spec.get("columns")
    if isinstance(columns, Mapping):
        for header, target in columns.items():
            if isinstance(target, str) and target not in cols:
                out.append(Problem(("columns", str(header)), f"'{target}' is not a column of {table}",
                                   did_you_mean(target, listing, label=f"columns of {table}")))
    values = spec.get("values")
    if isinstance(values, Mapping):
        for col in values:
            if isinstance(col, str) and col not in cols:
                out.append(Problem(("values", col), f"values for '{col}', which is not a column of "
                                   f"{table}", did_you_mean(col, listing, label=f"columns of {table}")))
    return out
