"""Input preparation shared by every estimator and check: columns, arms, numbers, strata.

:func:`prepare` turns a per-unit frame into a :class:`Comparison` (analysis-ready arrays of one
treatment-versus-control comparison), with errors that name the column, show example rows and
say how to fix them. Rows are named by the frame's index labels; when the index has a name (the
CLI names CSV rows by their ``line`` in the file), that word is used instead of "row".

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["c", "t", "c", "t"], "y": [1.0, 2.0, 3.0, 5.0]})
    >>> d, _ = prepare(df, arm="arm", outcome="y", control="c", treatment="t")
    >>> d.n_c, d.n_t, float(d.y_t.mean())
    (2, 2, 3.5)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from supportlab.errors import ConfigError, DataValidationError
from supportlab.results import fmt
from supportlab.stats.num import skewness

__all__ = ["EXAMPLES", "Comparison", "examples", "is_binary", "numeric_column", "prepare",
           "require_columns", "resolve_arms", "thin_warnings"]

#: example rows shown in an error message
EXAMPLES = 3


def _row_word(index: Iterable[Any]) -> str:
    name = getattr(index, "name", None)
    return name if isinstance(name, str) and name else "row"


def examples(index: Iterable[Any], values: Iterable[Any] | None = None) -> str:
    """Up to :data:`EXAMPLES` row labels (with their values) for an error message.

    Example:
        >>> examples(pd.Index([4, 9, 12, 20], name="line"), ["x", "y", "z", "w"])
        "line 4: 'x', line 9: 'y', line 12: 'z'"
        >>> examples(pd.RangeIndex(2))
        'rows 0, 1'
    """
    word = _row_word(index)
    idx = list(index)[:EXAMPLES]
    if values is None:
        plural = word + "s" if word in ("row", "line") else word
        return f"{plural} " + ", ".join(str(i) for i in idx)
    vals = list(values)[:EXAMPLES]
    return ", ".join(f"{word} {i}: {v!r}" for i, v in zip(idx, vals, strict=False))


def require_columns(df: pd.DataFrame, columns: Iterable[str | None], where: str) -> None:
    """Raise :class:`DataValidationError` unless ``df`` is a frame with every named column."""
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError(f"expected a pandas DataFrame, got {type(df).__name__}",
                                  where=where, fix="pass the per-unit data as a DataFrame")
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        avail = ", ".join(map(str, list(df.columns)[:20]))
        raise DataValidationError(
            f"column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
            f"not found", where=where, fix=f"use one of the columns: {avail}")


def _label_matches(value: Any, label: Any) -> bool:
    if value == label or str(value) == str(label):
        return True
    try:
        return float(value) == float(label)
    except (TypeError, ValueError):
        return False


def resolve_arms(s: pd.Series, arm: str, control: Any, treatment: Any,
                  where: str) -> tuple[np.ndarray, np.ndarray, Any, Any, list[str]]:
    """Find the control and treatment arms in the arm column ``s``.

    Labels match by value or spelling (``1`` matches ``"1"`` and ``1.0``); with neither given,
    a two-valued column with ``control`` (or 0/1) is resolved, anything else is refused.

    Returns:
        ``(keep, treated, control label, treatment label, notes)``: ``keep`` marks the units of
        the two arms, ``treated`` the treatment units, ``notes`` mention units of other arms.
    """
    missing = s.isna().to_numpy()
    if missing.any():
        rows = s.index[missing]
        raise DataValidationError(
            f"arm column '{arm}' has {int(missing.sum())} missing value(s) ({examples(rows)})",
            where=where, fix="every unit must have its assigned arm; fill or remove those rows")
    codes, uniques = pd.factorize(s, sort=True)
    values = list(uniques)
    notes: list[str] = []

    def find(label: Any, role: str) -> int:
        hits = [i for i, v in enumerate(values) if _label_matches(v, label)]
        if not hits:
            raise DataValidationError(
                f"{role} arm {label!r} not found in column '{arm}'", where=where,
                fix=f"use one of its values: {', '.join(map(repr, values[:10]))}")
        if len(hits) > 1:  # e.g. "1" and "1.0": take the exact spelling, or refuse to guess
            exact = [i for i in hits if str(values[i]) == str(label)]
            if len(exact) != 1:
                raise DataValidationError(
                    f"{role} arm {label!r} matches several values of '{arm}' "
                    f"({', '.join(repr(values[i]) for i in hits)})", where=where,
                    fix="clean the arm column so each arm is written one way")
            hits = exact
        return hits[0]

    if control is None and treatment is None:
        if len(values) != 2:
            raise DataValidationError(
                f"arm column '{arm}' has {len(values)} value(s) "
                f"({', '.join(map(repr, values[:10]))}), cannot tell control from treatment",
                where=where, fix="pass control= and treatment= (--control/--treatment)")
        low = [str(v).strip().lower() for v in values]
        if "control" in low:
            ci = low.index("control")
        elif all(_label_matches(v, 0) or _label_matches(v, 1) for v in values):
            ci = next(i for i, v in enumerate(values) if _label_matches(v, 0))
        else:
            raise DataValidationError(
                f"cannot tell which of {values[0]!r} and {values[1]!r} in '{arm}' is control",
                where=where, fix="pass control= (--control VALUE)")
        ti = 1 - ci
    elif treatment is None:
        ci = find(control, "control")
        others = [i for i in range(len(values)) if i != ci]
        if len(others) != 1:
            raise DataValidationError(
                f"arm column '{arm}' has {len(values)} values; which one is treatment?",
                where=where, fix="pass treatment= (--treatment VALUE)")
        ti = others[0]
    elif control is None:
        ti = find(treatment, "treatment")
        others = [i for i in range(len(values)) if i != ti]
        if len(others) != 1:
            raise DataValidationError(
                f"arm column '{arm}' has {len(values)} values; which one is control?",
                where=where, fix="pass control= (--control VALUE)")
        ci = others[0]
    else:
        ci, ti = find(control, "control"), find(treatment, "treatment")
        if ci == ti:
            raise ConfigError(f"control and treatment are the same arm ({values[ci]!r})",
                              where=where, fix="name two different arms")
    keep = (codes == ci) | (codes == ti)
    if not keep.all():
        other = [values[i] for i in range(len(values)) if i not in (ci, ti)]
        notes.append(f"{int((~keep).sum())} unit(s) in other arms "
                     f"({', '.join(map(repr, other[:5]))}) are not part of this comparison")
    return keep, codes == ti, values[ci], values[ti], notes


def numeric_column(s: pd.Series, name: str, role: str, where: str) -> np.ndarray:
    """A numeric float64 array from ``s``, with errors that show example rows.

    Booleans become 0/1; text that is not a number, missing and infinite values are refused
    (never dropped silently). ``role`` (``outcome``, ``covariate``, …) names it in messages.

    Example:
        >>> numeric_column(pd.Series(["1", "2.5"]), "deals", "outcome", "analyze")
        array([1. , 2.5])
    """
    if pd.api.types.is_bool_dtype(s.dtype):
        if s.isna().any():
            bad = s.index[s.isna().to_numpy()]
            raise DataValidationError(
                f"{role} '{name}' has {len(bad)} missing value(s) ({examples(bad)})",
                where=where, fix="fill them (e.g. False) or drop those rows first")
        return s.to_numpy(dtype=float)
    if pd.api.types.is_numeric_dtype(s.dtype):
        num = s
    else:
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna().to_numpy() & s.notna().to_numpy()
        if bad.any():
            idx = s.index[bad]
            raise DataValidationError(
                f"{role} '{name}' is not numeric: {int(bad.sum())} value(s) are not numbers "
                f"({examples(idx, s[bad].tolist())})", where=where,
                fix="clean the column so it holds numbers only"
                    + (", or use it as strata" if role == "covariate" else ""))
    arr = num.to_numpy(dtype=float, na_value=np.nan)
    nan = np.isnan(arr)
    if nan.any():
        idx = s.index[nan]
        raise DataValidationError(
            f"{role} '{name}' has {int(nan.sum())} missing value(s) ({examples(idx)})",
            where=where, fix="fill them (e.g. 0 for 'no deals') or drop those rows explicitly "
                             "before the analysis; supportlab never drops rows silently")
    inf = np.isinf(arr)
    if inf.any():
        idx = s.index[inf]
        raise DataValidationError(
            f"{role} '{name}' has {int(inf.sum())} infinite value(s) ({examples(idx)})",
            where=where, fix="replace them with finite numbers")
    return arr


@dataclass
class Comparison:
    """Analysis-ready arrays of one treatment-versus-control comparison.

    ``y`` is the outcome, ``t`` the treatment mask, ``X`` the covariates (n × k), ``strata`` the
    stratum codes (or ``None``), ``index`` the row labels of the units kept and ``pos`` their
    positions in the input frame.
    """

    y: np.ndarray
    t: np.ndarray
    X: np.ndarray
    strata: np.ndarray | None
    strata_labels: list[Any]
    control: Any
    treatment: Any
    outcome: str
    arm: str
    covariates: tuple[str, ...]
    strata_col: str | None
    index: pd.Index
    pos: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def y_t(self) -> np.ndarray:
        return self.y[self.t]

    @functools.cached_property
    def y_c(self) -> np.ndarray:
        return self.y[~self.t]

    @property
    def n_t(self) -> int:
        return len(self.y_t)

    @property
    def n_c(self) -> int:
        return len(self.y_c)


def prepare(df: pd.DataFrame, *, arm: str, outcome: str, control: Any, treatment: Any,
             covariates: Sequence[str] | str | None = None, strata: str | None = None,
             winsorize: float | None = None, where: str = "analyze",
             extra: Sequence[str] = ()) -> tuple[Comparison, dict[str, np.ndarray]]:
    """Validate the inputs and build a :class:`Comparison` (plus numeric ``extra`` columns).

    Strata with fewer than 2 units in an arm are left out with a warning; ``winsorize`` caps
    the outcome at one pooled quantile of both arms, disclosed in the notes.

    Raises:
        DataValidationError: a column is missing, not numeric or incomplete, or an arm has
            fewer than 2 units.
        ConfigError: the arguments contradict each other.
    """
    covs = (covariates,) if isinstance(covariates, str) else tuple(covariates or ())
    require_columns(df, [arm, outcome, strata, *covs, *extra], where)
    if len(set(covs)) != len(covs):
        raise ConfigError(f"a covariate is listed twice: {list(covs)}", where=where)
    if outcome in covs or arm in covs or arm == outcome:
        raise ConfigError("the arm, the outcome and the covariates must be different columns",
                          where=where)
    keep, treated, c_label, t_label, notes = resolve_arms(df[arm], arm, control, treatment,
                                                           where)
    sub = df if keep.all() else df.loc[keep]
    pos = np.flatnonzero(keep)
    t = treated[keep]
    y = numeric_column(sub[outcome], outcome, "outcome", where)
    X = (np.column_stack([numeric_column(sub[c], c, "covariate", where) for c in covs])
         if covs else np.zeros((len(sub), 0)))
    ext = {c: numeric_column(sub[c], c, "column", where) for c in extra}
    codes: np.ndarray | None = None
    labels: list[Any] = []
    warnings: list[str] = []
    if strata is not None:
        s = sub[strata]
        if s.isna().any():
            bad = s.index[s.isna().to_numpy()]
            raise DataValidationError(
                f"strata column '{strata}' has {len(bad)} missing value(s) ({examples(bad)})",
                where=where, fix="every unit needs the stratum it was randomized in")
        codes, uniq = pd.factorize(s, sort=True)
        labels = list(uniq)
        n_s = len(labels)
        cnt_t = np.bincount(codes[t], minlength=n_s)
        cnt_c = np.bincount(codes[~t], minlength=n_s)
        thin = (cnt_t < 2) | (cnt_c < 2)
        if thin.any():
            drop = thin[codes]
            names = [labels[i] for i in np.flatnonzero(thin)]
            warnings.append(
                f"{len(names)} stratum/strata of '{strata}' ({', '.join(map(repr, names[:5]))}"
                f"{', ...' if len(names) > 5 else ''}) have fewer than 2 units in an arm; their "
                f"{int(drop.sum())} unit(s) are left out, so the effect is for the other strata")
            y, t, X, codes, pos = y[~drop], t[~drop], X[~drop], codes[~drop], pos[~drop]
            ext = {k: v[~drop] for k, v in ext.items()}
            sub = sub.loc[~drop]
            kept = np.flatnonzero(~thin)
            remap = np.full(n_s, -1)
            remap[kept] = np.arange(len(kept))
            codes = remap[codes]
            labels = [labels[i] for i in kept]
    n_t, n_c = int(t.sum()), int((~t).sum())
    if n_t < 2 or n_c < 2:
        raise DataValidationError(
            f"need at least 2 units per arm, found {n_c} control ({c_label!r}) and "
            f"{n_t} treatment ({t_label!r})", where=where,
            fix="check the arm labels and any filter applied to the data")
    details: dict[str, Any] = {}
    if winsorize is not None:
        q = float(winsorize)
        if not 0.5 < q < 1:
            raise ConfigError(f"winsorize == {winsorize!r}, must be a quantile in (0.5, 1)",
                              where=where, fix="use e.g. 0.99 to cap at the pooled 99th "
                                               "percentile")
        cap = float(np.quantile(y, q))
        over = y > cap
        y = np.minimum(y, cap)
        notes.append(
            f"outcome winsorized at one pooled cap {fmt(cap)} (the {q * 100:g}th percentile of "
            f"both arms together): {int(over[~t].sum())} control and {int(over[t].sum())} "
            "treatment value(s) capped; the effect is on the capped outcome")
        details["winsorize_quantile"] = q
        details["winsorize_cap"] = cap
        details["winsorized_control"] = int(over[~t].sum())
        details["winsorized_treatment"] = int(over[t].sum())
    data = Comparison(y=y, t=t, X=X, strata=codes, strata_labels=labels, control=c_label,
                 treatment=t_label, outcome=outcome, arm=arm, covariates=covs,
                 strata_col=strata, index=sub.index, pos=pos, warnings=warnings, notes=notes,
                 details=details)
    return data, ext


def thin_warnings(d: Comparison, binary: bool) -> list[str]:
    """Warnings when the data are too thin (few units, few events, heavy skew) for the
    normal approximation to be trusted."""
    out: list[str] = []
    for name, y in (("control", d.y_c), ("treatment", d.y_t)):
        n = len(y)
        if n < 30:
            out.append(f"only {n} units in the {name} arm: intervals rest on large-sample "
                       "approximations; method='permutation' gives an exact p-value")
        if binary:
            events = int(y.sum())
            if min(events, n - events) < 5:
                out.append(f"only {min(events, n - events)} "
                           f"{'events' if events < n - events else 'non-events'} in the {name} "
                           "arm: too few to say much about a difference")
        else:
            g = skewness(y)
            if n >= 30 and n < 25 * g * g:
                out.append(f"the outcome is heavily skewed in the {name} arm (skewness "
                           f"{g:.1f}, n={n} < 25·skewness²): the normal interval may "
                           "under-cover; consider winsorize=0.99 or method='permutation'")
        if n and y.min() == y.max():
            out.append(f"the outcome does not vary in the {name} arm")
    return out


def is_binary(y: np.ndarray) -> bool:
    """Whether every value is 0 or 1.

    Example:
        >>> is_binary(np.array([0.0, 1.0, 1.0])), is_binary(np.array([0.0, 2.0]))
        (True, False)
    """
    return bool(np.all((y == 0) | (y == 1)))


# -- core estimators on arrays --------------------------------------------------------------------
