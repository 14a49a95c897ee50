"""Uplift estimators for randomized experiments: pandas in, frozen result objects out.

Every estimator compares a treatment arm with a control arm *by assignment* (intention to
treat) and returns an :class:`Estimate` whose field names are the result vocabulary of the whole
library (``effect``, ``ci_lower``, ``ci_upper``, ``p_value``, ``rel_effect``, ...).

Methods (``method=`` of :func:`analyze`, ``--method`` of ``supportlab analyze``):

* ``welch``: difference in means with the Welch–Satterthwaite *t* interval; with ``strata`` it
  becomes the post-stratified difference (method ``poststratified``).
* ``regression``: regression adjustment in the style of Lin (2013): the outcome on the arm,
  covariates centred at their pooled mean and their interactions with the arm, with HC2
  standard errors; randomization strata enter as centred dummies interacted with the arm.
* ``proportion``: difference of two proportions with Newcombe's hybrid score interval; its
  p-value is the interval's dual (the smallest α whose interval excludes zero).
* ``permutation``: randomization inference, seeded and vectorized, re-randomizing within strata;
  interval by test inversion under a constant additive effect.
* ``bootstrap``: stratified bootstrap (arms and strata resampled separately) with the
  expanded percentile interval.
* ``auto`` (default): ``regression`` when covariates are given, ``proportion`` for 0/1 outcomes,
  otherwise ``welch``.

Also here: ratio metrics with the delta method (:func:`ratio_effect`), the complier effect with
assignment as instrument (:func:`complier_effect`), per-segment effects with multiplicity
adjustment and a heterogeneity test (:func:`segment_effects`) and a ranking of units by expected
uplift (:func:`uplift_ranking`). The formulas and their sources are in ``docs/statistics.md``.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"arm": np.repeat(["control", "treatment"], 200),
    ...                    "deals": rng.poisson(np.repeat([2.0, 2.6], 200))})
    >>> est = analyze(df, arm="arm", outcome="deals")
    >>> est.method, est.n_control, est.n_treatment
    ('welch', 200, 200)
    >>> est.ci_lower < est.effect < est.ci_upper
    True
"""

from __future__ import annotations

import functools
import html
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import linalg, stats

from supportlab.errors import ConfigError, DataValidationError
from supportlab.results import ResultMixin, fmt, fmt_p, json_safe

__all__ = [
    "METHODS",
    "ComplierEstimate",
    "Estimate",
    "SegmentEffects",
    "analyze",
    "complier_effect",
    "newcombe_interval",
    "newcombe_p_value",
    "ratio_effect",
    "segment_effects",
    "uplift_ranking",
]

#: method names accepted by :func:`analyze` and ``supportlab analyze --method``
METHODS = ("auto", "welch", "regression", "proportion", "permutation", "bootstrap")

Method = Literal["auto", "welch", "regression", "proportion", "permutation", "bootstrap"]
SeedLike = int | np.random.Generator | None

_TINY = np.finfo(float).tiny
_EXAMPLES = 3


# -- the estimate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate(ResultMixin):
    """The estimated effect of assignment to treatment (intention to treat).

    ``effect == mean_treatment - mean_control`` and ``rel_effect == mean_treatment /
    mean_control - 1`` always hold: for regression adjustment and post-stratification the two
    means are the *adjusted* means the effect compares; the plain arm means are in
    ``raw_mean_control`` and ``raw_mean_treatment``.

    Attributes:
        method: the method that produced the numbers (``welch``, ``poststratified``,
            ``regression``, ``proportion``, ``permutation``, ``bootstrap``, ``ratio``).
        outcome: the outcome column.
        arm: the arm column.
        control: the control arm's label.
        treatment: the treatment arm's label.
        n_control: units analysed in the control arm.
        n_treatment: units analysed in the treatment arm.
        mean_control: (adjusted) control mean.
        mean_treatment: (adjusted) treatment mean.
        effect: treatment − control.
        ci_lower: lower end of the confidence interval of ``effect``.
        ci_upper: upper end of the confidence interval of ``effect``.
        p_value: two-sided p-value of "no effect".
        rel_effect: treatment / control − 1.
        rel_ci_lower: lower end of the delta-method (or bootstrap) interval of ``rel_effect``.
        rel_ci_upper: upper end of that interval.
        confidence_level: e.g. 0.95.
        se: standard error of ``effect`` (for permutation and bootstrap: for reference).
        rel_se: delta-method standard error of ``rel_effect``.
        df: degrees of freedom of the *t* reference distribution (``inf`` = normal).
        raw_mean_control: unadjusted control mean.
        raw_mean_treatment: unadjusted treatment mean.
        covariates: covariate columns used.
        strata: strata column used, if any.
        warnings: reasons to be careful with these numbers.
        notes: disclosures (winsorization, dropped strata, what the interval assumes).
        details: method-specific extras (permutations, seed, winsorization cap, ...).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"arm": ["c"] * 4 + ["t"] * 4, "y": [1, 2, 3, 4, 2, 3, 4, 5]})
        >>> est = analyze(df, arm="arm", outcome="y", control="c", treatment="t")
        >>> round(est.effect, 3), round(est.rel_effect, 3)
        (1.0, 0.4)
        >>> sorted(est.to_dict())[:3]
        ['arm', 'ci_lower', 'ci_upper']
    """

    _title: ClassVar[str] = "Estimate (intention to treat)"

    method: str
    outcome: str
    arm: str
    control: str
    treatment: str
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    effect: float
    ci_lower: float
    ci_upper: float
    p_value: float
    rel_effect: float
    rel_ci_lower: float
    rel_ci_upper: float
    confidence_level: float
    se: float
    rel_se: float
    df: float
    raw_mean_control: float
    raw_mean_treatment: float
    covariates: tuple[str, ...] = ()
    strata: str | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return bool(self.ci_lower > 0 or self.ci_upper < 0)

    def critical_value(self, confidence_level: float | None = None) -> float:
        """Two-sided critical value of this estimate's reference distribution."""
        level = self.confidence_level if confidence_level is None else confidence_level
        return _crit(1 - level, self.df)

    def _lines(self) -> list[str]:
        lvl = f"{self.confidence_level * 100:g}%"
        lines = [
            f"{self.method}: {self.outcome} by {self.arm} ({self.treatment} vs {self.control}), "
            f"{lvl} intervals",
            f"  {self.control:<12} n={self.n_control:<8,} mean={fmt(self.mean_control)}",
            f"  {self.treatment:<12} n={self.n_treatment:<8,} mean={fmt(self.mean_treatment)}",
            f"  effect       {fmt(self.effect, signed=True)}  "
            f"[{fmt(self.ci_lower, signed=True)}, {fmt(self.ci_upper, signed=True)}]  "
            f"p={fmt_p(self.p_value)}",
            f"  relative     {fmt(self.rel_effect, pct=True, signed=True)}  "
            f"[{fmt(self.rel_ci_lower, pct=True, signed=True)}, "
            f"{fmt(self.rel_ci_upper, pct=True, signed=True)}]",
        ]
        if self.covariates:
            lines.append(f"  covariates   {', '.join(self.covariates)}")
        if self.strata:
            lines.append(f"  strata       {self.strata}")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  warning: {w}" for w in self.warnings]
        return lines

    def _repr_html_(self) -> str:
        e = html.escape
        lvl = f"{self.confidence_level * 100:g}% CI"
        head = (f"<caption>{e(self.method)}: {e(self.outcome)} — {e(self.treatment)} vs "
                f"{e(self.control)}</caption>")
        rows = [
            ("n", fmt(self.n_control), fmt(self.n_treatment), "", ""),
            ("mean", fmt(self.mean_control), fmt(self.mean_treatment), "", ""),
            ("effect", "", "", fmt(self.effect, signed=True),
             f"[{fmt(self.ci_lower, signed=True)}, {fmt(self.ci_upper, signed=True)}]"),
            ("relative", "", "", fmt(self.rel_effect, pct=True, signed=True),
             f"[{fmt(self.rel_ci_lower, pct=True, signed=True)}, "
             f"{fmt(self.rel_ci_upper, pct=True, signed=True)}]"),
            ("p-value", "", "", fmt_p(self.p_value), ""),
        ]
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>"
                       for r in rows)
        th = "".join(f"<th>{e(h)}</th>" for h in ("", self.control, self.treatment,
                                                  "estimate", lvl))
        extra = "".join(f"<li>{e(n)}</li>" for n in self.notes)
        extra += "".join(f"<li><strong>warning:</strong> {e(w)}</li>" for w in self.warnings)
        return (f"<div class='supportlab-estimate'><table>{head}<tr>{th}</tr>{body}</table>"
                + (f"<ul>{extra}</ul>" if extra else "") + "</div>")


# -- small statistical helpers --------------------------------------------------------------------


def _check_level(confidence_level: float) -> float:
    try:
        level = float(confidence_level)
    except (TypeError, ValueError):
        raise ConfigError(f"confidence_level == {confidence_level!r}, must be a number",
                          fix="use e.g. 0.95") from None
    if not 0.5 <= level < 1:
        raise ConfigError(f"confidence_level == {confidence_level!r}, must be in [0.5, 1)",
                          fix="use e.g. 0.95 for 95% intervals")
    return level


def _crit(alpha: float, df: float) -> float:
    """Two-sided critical value at level ``alpha`` of t(df), or the normal when df is inf."""
    if not math.isfinite(df):
        return float(stats.norm.isf(alpha / 2))
    return float(stats.t.isf(alpha / 2, df))


def _two_sided_p(stat: float, df: float) -> float:
    """Two-sided p-value from the survival function (never underflows to 0 needlessly)."""
    if not math.isfinite(stat):
        return math.nan
    a = abs(stat)
    logp = (stats.norm.logsf(a) if not math.isfinite(df) else stats.t.logsf(a, df)) + math.log(2)
    return float(max(min(math.exp(logp), 1.0), _TINY))


def _rel(effect: float, mean_c: float, var_eff: float, var_c: float, cov_eff_c: float,
         crit: float) -> tuple[float, float, float, float]:
    """Relative effect ``effect / mean_c`` with its delta-method interval.

    Uses ``Var(e/c) ≈ Var(e)/c² + e²Var(c)/c⁴ − 2e·Cov(e, c)/c³``: the variance of both means
    (and their covariance) enters, the absolute interval is never simply rescaled.
    """
    if not math.isfinite(mean_c) or mean_c <= 1e-12 * max(1.0, abs(effect)):
        # a change relative to a control mean of zero or below has no meaning
        return math.nan, math.nan, math.nan, math.nan
    r = effect / mean_c
    var = (var_eff / mean_c**2 + effect**2 * var_c / mean_c**4
           - 2 * effect * cov_eff_c / mean_c**3)
    se = math.sqrt(max(var, 0.0))
    return r, se, r - crit * se, r + crit * se


def _skewness(y: np.ndarray) -> float:
    """Sample skewness g1 = m3 / m2^1.5 (0 for fewer than 3 values or no variation)."""
    n = len(y)
    if n < 3:
        return 0.0
    dev = y - y.mean()
    sq = dev * dev
    m2 = float(sq.sum()) / n
    if m2 <= 0:
        return 0.0
    return float(np.dot(sq, dev)) / n / m2**1.5


# -- input preparation ----------------------------------------------------------------------------


def _examples(index: Iterable[Any], values: Iterable[Any] | None = None) -> str:
    idx = list(index)[:_EXAMPLES]
    if values is None:
        return ", ".join(str(i) for i in idx)
    vals = list(values)[:_EXAMPLES]
    return ", ".join(f"row {i}: {v!r}" for i, v in zip(idx, vals, strict=False))


def _require_columns(df: pd.DataFrame, columns: Iterable[str | None], where: str) -> None:
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


def _resolve_arms(s: pd.Series, arm: str, control: Any, treatment: Any,
                  where: str) -> tuple[np.ndarray, np.ndarray, Any, Any, list[str]]:
    """Codes of the arm column -> (keep mask, treated mask, control label, treatment label)."""
    missing = s.isna().to_numpy()
    if missing.any():
        rows = s.index[missing]
        raise DataValidationError(
            f"arm column '{arm}' has {int(missing.sum())} missing value(s) ({_examples(rows)})",
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


def _numeric(s: pd.Series, name: str, role: str, where: str) -> np.ndarray:
    """A numeric float64 array from ``s``, with errors that show example rows."""
    if pd.api.types.is_bool_dtype(s.dtype):
        if s.isna().any():
            bad = s.index[s.isna().to_numpy()]
            raise DataValidationError(
                f"{role} '{name}' has {len(bad)} missing value(s) ({_examples(bad)})",
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
                f"({_examples(idx, s[bad].tolist())})", where=where,
                fix="clean the column so it holds numbers only"
                    + (", or use it as strata" if role == "covariate" else ""))
    arr = num.to_numpy(dtype=float, na_value=np.nan)
    nan = np.isnan(arr)
    if nan.any():
        idx = s.index[nan]
        raise DataValidationError(
            f"{role} '{name}' has {int(nan.sum())} missing value(s) ({_examples(idx)})",
            where=where, fix="fill them (e.g. 0 for 'no deals') or drop those rows explicitly "
                             "before the analysis; supportlab never drops rows silently")
    inf = np.isinf(arr)
    if inf.any():
        idx = s.index[inf]
        raise DataValidationError(
            f"{role} '{name}' has {int(inf.sum())} infinite value(s) ({_examples(idx)})",
            where=where, fix="replace them with finite numbers")
    return arr


@dataclass
class _Data:
    """Analysis-ready arrays of one comparison."""

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


def _prepare(df: pd.DataFrame, *, arm: str, outcome: str, control: Any, treatment: Any,
             covariates: Sequence[str] | str | None = None, strata: str | None = None,
             winsorize: float | None = None, where: str = "analyze",
             extra: Sequence[str] = ()) -> tuple[_Data, dict[str, np.ndarray]]:
    """Validate the inputs and build :class:`_Data` (plus numeric ``extra`` columns)."""
    covs = (covariates,) if isinstance(covariates, str) else tuple(covariates or ())
    _require_columns(df, [arm, outcome, strata, *covs, *extra], where)
    if len(set(covs)) != len(covs):
        raise ConfigError(f"a covariate is listed twice: {list(covs)}", where=where)
    if outcome in covs or arm in covs or arm == outcome:
        raise ConfigError("the arm, the outcome and the covariates must be different columns",
                          where=where)
    keep, treated, c_label, t_label, notes = _resolve_arms(df[arm], arm, control, treatment,
                                                           where)
    sub = df if keep.all() else df.loc[keep]
    pos = np.flatnonzero(keep)
    t = treated[keep]
    y = _numeric(sub[outcome], outcome, "outcome", where)
    X = (np.column_stack([_numeric(sub[c], c, "covariate", where) for c in covs])
         if covs else np.zeros((len(sub), 0)))
    ext = {c: _numeric(sub[c], c, "column", where) for c in extra}
    codes: np.ndarray | None = None
    labels: list[Any] = []
    warnings: list[str] = []
    if strata is not None:
        s = sub[strata]
        if s.isna().any():
            bad = s.index[s.isna().to_numpy()]
            raise DataValidationError(
                f"strata column '{strata}' has {len(bad)} missing value(s) ({_examples(bad)})",
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
    data = _Data(y=y, t=t, X=X, strata=codes, strata_labels=labels, control=c_label,
                 treatment=t_label, outcome=outcome, arm=arm, covariates=covs,
                 strata_col=strata, index=sub.index, pos=pos, warnings=warnings, notes=notes,
                 details=details)
    return data, ext


def _thin_warnings(d: _Data, binary: bool) -> list[str]:
    """Warnings when the data are too thin for the normal approximation to be trusted."""
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
            g = _skewness(y)
            if n >= 30 and n < 25 * g * g:
                out.append(f"the outcome is heavily skewed in the {name} arm (skewness "
                           f"{g:.1f}, n={n} < 25·skewness²): the normal interval may "
                           "under-cover; consider winsorize=0.99 or method='permutation'")
        if n and y.min() == y.max():
            out.append(f"the outcome does not vary in the {name} arm")
    return out


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.all((y == 0) | (y == 1)))


# -- core estimators on arrays --------------------------------------------------------------------


@dataclass
class _Core:
    """What each estimator computes before it is wrapped into an :class:`Estimate`."""

    method: str
    mean_t: float
    mean_c: float
    effect: float
    se: float
    df: float
    ci: tuple[float, float]
    p: float
    var_t: float
    var_c: float
    cov_tc: float = 0.0
    rel: tuple[float, float, float, float] | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _t_interval(effect: float, se: float, df: float, alpha: float) -> tuple[tuple[float, float],
                                                                               float]:
    if not se > 0:
        return (math.nan, math.nan), math.nan
    c = _crit(alpha, df)
    return (effect - c * se, effect + c * se), _two_sided_p(effect / se, df)


def _welch_core(yt: np.ndarray, yc: np.ndarray, alpha: float) -> _Core:
    nt, nc = len(yt), len(yc)
    mt, mc = float(yt.mean()), float(yc.mean())
    vt, vc = float(yt.var(ddof=1)) / nt, float(yc.var(ddof=1)) / nc
    se = math.sqrt(vt + vc)
    denom = vt**2 / (nt - 1) + vc**2 / (nc - 1)
    df = (vt + vc) ** 2 / denom if denom > 0 else math.nan
    ci, p = _t_interval(mt - mc, se, df, alpha)
    return _Core("welch", mt, mc, mt - mc, se, df, ci, p, vt, vc)


def _strata_cells(y: np.ndarray, t: np.ndarray, codes: np.ndarray,
                  n_s: int) -> dict[str, np.ndarray]:
    """Per stratum × arm: counts, means, variances (ddof=1) and stratum weights."""
    out: dict[str, np.ndarray] = {}
    n = len(y)
    for name, mask in (("t", t), ("c", ~t)):
        c = codes[mask]
        v = y[mask]
        cnt = np.bincount(c, minlength=n_s).astype(float)
        s1 = np.bincount(c, weights=v, minlength=n_s)
        mean = s1 / cnt
        dev = v - mean[c]
        ss = np.bincount(c, weights=dev * dev, minlength=n_s)
        out[f"n_{name}"] = cnt
        out[f"m_{name}"] = mean
        out[f"v_{name}"] = ss / (cnt - 1)
    out["w"] = (out["n_t"] + out["n_c"]) / n
    return out


def _poststrat_core(y: np.ndarray, t: np.ndarray, codes: np.ndarray, n_s: int,
                    alpha: float) -> _Core:
    """Post-stratified difference: Σ w_s (ȳ_ts − ȳ_cs) with w_s the stratum shares."""
    cells = _strata_cells(y, t, codes, n_s)
    w = cells["w"]
    mt = float(np.sum(w * cells["m_t"]))
    mc = float(np.sum(w * cells["m_c"]))
    ct = w**2 * cells["v_t"] / cells["n_t"]
    cc = w**2 * cells["v_c"] / cells["n_c"]
    vt, vc = float(ct.sum()), float(cc.sum())
    se = math.sqrt(vt + vc)
    denom = float(np.sum(ct**2 / (cells["n_t"] - 1)) + np.sum(cc**2 / (cells["n_c"] - 1)))
    df = (vt + vc) ** 2 / denom if denom > 0 else math.nan
    ci, p = _t_interval(mt - mc, se, df, alpha)
    core = _Core("poststratified", mt, mc, mt - mc, se, df, ci, p, vt, vc)
    # The adjusted means are levels: as estimates of the population means they also carry the
    # sampling noise of the stratum shares, Var(Σ w_s μ_s) = (Σ w_s μ_s² − (Σ w_s μ_s)²) / n.
    # It cancels in the difference, not in the ratio, so it enters the relative interval only.
    n = float(len(y))
    ext_t = float(np.sum(w * cells["m_t"] ** 2) - mt**2) / n
    ext_c = float(np.sum(w * cells["m_c"] ** 2) - mc**2) / n
    ext_tc = float(np.sum(w * cells["m_t"] * cells["m_c"]) - mt * mc) / n
    core.rel = _rel(mt - mc, mc, vt + vc + ext_t + ext_c - 2 * ext_tc, vc + ext_c,
                    ext_tc - vc - ext_c, _crit(alpha, df))
    core.notes.append(f"post-stratified on {n_s} strata (weights = stratum shares); "
                      "Satterthwaite degrees of freedom")
    return core


def _wilson(x: np.ndarray, n: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = x / n
    z2 = z * z
    centre = (x + z2 / 2) / (n + z2)
    half = z * np.sqrt(n * p * (1 - p) + z2 / 4) / (n + z2)
    return centre - half, centre + half


def newcombe_interval(x_t: Any, n_t: Any, x_c: Any, n_c: Any,
                      z: Any) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p_t − p_c`` (Newcombe 1998, method 10).

    Works elementwise on arrays; ``z`` is the two-sided critical value.

    Example:
        >>> lo, hi = newcombe_interval(30, 100, 20, 100, 1.959963984540054)
        >>> round(float(lo), 4), round(float(hi), 4)
        (-0.0202, 0.2167)
    """
    x_t, n_t, x_c, n_c, z = (np.asarray(a, dtype=float) for a in (x_t, n_t, x_c, n_c, z))
    pt, pc = x_t / n_t, x_c / n_c
    lt, ut = _wilson(x_t, n_t, z)
    lc, uc = _wilson(x_c, n_c, z)
    d = pt - pc
    lo = d - np.sqrt((pt - lt) ** 2 + (uc - pc) ** 2)
    hi = d + np.sqrt((ut - pt) ** 2 + (pc - lc) ** 2)
    return lo, hi


def newcombe_p_value(x_t: Any, n_t: Any, x_c: Any, n_c: Any) -> np.ndarray:
    """Two-sided p-value dual to Newcombe's interval: the smallest α whose interval excludes 0.

    So ``p < α`` exactly when the ``1 − α`` Newcombe interval excludes zero. Found by
    bisection on the critical value (vectorized).

    Example:
        >>> round(float(newcombe_p_value(30, 100, 20, 100)), 4)
        0.103
    """
    x_t, n_t, x_c, n_c = np.broadcast_arrays(*(np.asarray(a, dtype=float)
                                               for a in (x_t, n_t, x_c, n_c)))
    d = x_t / n_t - x_c / n_c
    lo = np.zeros(d.shape)
    hi = np.full(d.shape, 40.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        low, upp = newcombe_interval(x_t, n_t, x_c, n_c, mid)
        excl = np.where(d > 0, low > 0, upp < 0)
        lo = np.where(excl, mid, lo)
        hi = np.where(excl, hi, mid)
    z = (lo + hi) / 2
    p = np.exp(stats.norm.logsf(z) + math.log(2))
    p = np.where(d == 0, 1.0, np.clip(p, _TINY, 1.0))
    return p


def _proportion_core(yt: np.ndarray, yc: np.ndarray, alpha: float) -> _Core:
    nt, nc = len(yt), len(yc)
    xt, xc = float(yt.sum()), float(yc.sum())
    pt, pc = xt / nt, xc / nc
    z = _crit(alpha, math.inf)
    lo, hi = newcombe_interval(xt, nt, xc, nc, z)
    p = float(newcombe_p_value(xt, nt, xc, nc))
    vt, vc = pt * (1 - pt) / nt, pc * (1 - pc) / nc
    core = _Core("proportion", pt, pc, pt - pc, math.sqrt(vt + vc), math.inf,
                 (float(lo), float(hi)), p, vt, vc)
    core.notes.append("Newcombe hybrid score interval; p-value dual to it (p < α exactly when "
                      "the interval excludes 0); se is the Wald standard error, for reference")
    return core


def _adjusters(d: _Data) -> tuple[np.ndarray, list[str]]:
    """Covariates and stratum dummies, centred at their pooled means."""
    cols = [d.X]
    names = list(d.covariates)
    if d.strata is not None and len(d.strata_labels) > 1:
        n_s = len(d.strata_labels)
        dummies = np.zeros((len(d.y), n_s - 1))
        rows = np.flatnonzero(d.strata > 0)
        dummies[rows, d.strata[rows] - 1] = 1.0
        cols.append(dummies)
        names += [f"{d.strata_col}={lab}" for lab in d.strata_labels[1:]]
    A = np.column_stack(cols) if cols else np.zeros((len(d.y), 0))
    if A.shape[1]:
        A = A - A.mean(axis=0)
    return A, names


@dataclass
class _LinArm:
    """Within-arm OLS on ``[1, centred adjusters]`` with HC2 covariances."""

    coef: np.ndarray  # (p, m)
    cov: np.ndarray  # (m, m, p, p): HC2 covariance between the coefficient vectors
    n: int


def _lin_arm(Y: np.ndarray, A: np.ndarray, arm_name: str, names: list[str],
             where: str) -> _LinArm:
    """OLS of each column of ``Y`` on ``[1, A]`` with HC2 (cross-)covariances.

    Works on the transposed design ``Zt`` (p × n) so that every large product has a wide or a
    tiny output; tall-skinny matrix products are slow with threaded BLAS on busy machines.
    """
    n = len(Y)
    p = A.shape[1] + 1
    Zt = np.empty((p, n))
    Zt[0] = 1.0
    Zt[1:] = A.T
    G = Zt @ Zt.T
    scale = np.sqrt(np.diag(G))
    if np.any(scale == 0) or n <= p:
        raise DataValidationError(
            f"too few units ({n}) in the {arm_name} arm for {p - 1} adjustment term(s)",
            where=where, fix="use fewer covariates or strata")
    Gs = G / np.outer(scale, scale)
    if np.linalg.cond(Gs) > 1e12:
        raise DataValidationError(
            f"the covariates/strata are collinear in the {arm_name} arm ({', '.join(names)}): "
            "one is constant there or a combination of others", where=where,
            fix="remove the redundant covariate")
    cf = linalg.cho_factor(G)
    Ginv = np.ascontiguousarray(linalg.cho_solve(cf, np.eye(p)))
    m = Y.shape[1]
    B = np.empty((p, m))
    E = np.empty((m, n))
    for j in range(m):
        B[:, j] = linalg.cho_solve(cf, Zt @ Y[:, j])
        E[j] = Y[:, j] - B[:, j] @ Zt
    h = np.einsum("ij,ij->j", Ginv @ Zt, Zt)
    if np.any(h > 1 - 1e-10):
        raise DataValidationError(
            f"a unit in the {arm_name} arm has leverage 1 (it alone determines an adjustment "
            "term), so HC2 errors are undefined", where=where,
            fix="drop rare strata or covariates that single out one unit")
    w = 1.0 / (1.0 - h)
    cov = np.empty((m, m, p, p))
    for j in range(m):
        for k in range(j, m):
            meat = (Zt * (E[j] * E[k] * w)) @ Zt.T
            cov[j, k] = cov[k, j] = Ginv @ meat @ Ginv
    return _LinArm(B, cov, n)


def _lin_fit(d: _Data, Y: np.ndarray, where: str) -> tuple[_LinArm, _LinArm, list[str]]:
    A, names = _adjusters(d)
    Y2 = Y if Y.ndim == 2 else Y[:, None]
    fit_t = _lin_arm(Y2[d.t], A[d.t], "treatment", names, where)
    fit_c = _lin_arm(Y2[~d.t], A[~d.t], "control", names, where)
    return fit_t, fit_c, names


def _regression_core(d: _Data, alpha: float, where: str) -> _Core:
    """Lin (2013): y ~ 1 + T + Xc + T·Xc with HC2 errors, fitted as one regression per arm.

    The interacted model is block-diagonal by arm, so its coefficients, leverages and HC2
    covariance equal those of separate regressions on ``[1, Xc]`` in each arm; the treatment
    coefficient is the difference of the two intercepts (the adjusted means).
    """
    fit_t, fit_c, names = _lin_fit(d, d.y, where)
    mt, mc = float(fit_t.coef[0, 0]), float(fit_c.coef[0, 0])
    vt, vc = float(fit_t.cov[0, 0, 0, 0]), float(fit_c.cov[0, 0, 0, 0])
    se = math.sqrt(max(vt + vc, 0.0))
    if se <= 1e-10 * max(1.0, abs(mt), abs(mc)):  # rounding noise of a perfect fit, not data
        vt = vc = se = 0.0
    df = float(len(d.y) - 2 * (len(names) + 1))
    ci, p = _t_interval(mt - mc, se, df, alpha)
    core = _Core("regression", mt, mc, mt - mc, se, df, ci, p, vt, vc)
    # The adjusted means are centred at the pooled covariate means, themselves estimates: as
    # estimates of the population means each carries β'Σβ/n more variance (and the two a
    # covariance β_t'Σβ_c/n). That noise cancels in the difference when β_t = β_c but never in
    # the ratio, so it enters the relative interval (the absolute one stays Lin's HC2).
    A, _ = _adjusters(d)
    if A.shape[1]:
        n = float(len(d.y))
        sigma = np.atleast_2d(np.cov(A, rowvar=False))
        bt, bc = fit_t.coef[1:, 0], fit_c.coef[1:, 0]
        ext_t, ext_c = float(bt @ sigma @ bt) / n, float(bc @ sigma @ bc) / n
        ext_tc = float(bt @ sigma @ bc) / n
        core.rel = _rel(mt - mc, mc, vt + vc + ext_t + ext_c - 2 * ext_tc, vc + ext_c,
                        ext_tc - vc - ext_c, _crit(alpha, df))
    core.notes.append("regression adjustment (Lin 2013): arm × centred "
                      + (", ".join(names) if names else "nothing (no covariates)")
                      + "; HC2 standard errors; t with n − 2(k+1) degrees of freedom")
    core.details["adjusters"] = names
    return core


# -- permutation ----------------------------------------------------------------------------------


def _rng(seed: SeedLike) -> tuple[np.random.Generator, Any]:
    if isinstance(seed, np.random.Generator):
        return seed, "generator"
    if seed is None:
        ss = np.random.SeedSequence()
        return np.random.Generator(np.random.SFC64(ss)), ss.entropy
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed == {seed!r}, must be an integer or a numpy Generator")
    return np.random.Generator(np.random.SFC64(int(seed))), int(seed)


def _residualize(d: _Data, v: np.ndarray) -> np.ndarray:
    """Residuals of ``v`` on ``[1, covariates]`` (pooled, arm ignored)."""
    if not d.X.shape[1]:
        return v - v.mean(axis=0)
    Z = np.column_stack([np.ones(len(v)), d.X - d.X.mean(axis=0)])
    coef, *_ = np.linalg.lstsq(Z, v, rcond=None)
    return v - Z @ coef


def _contrast_stats(T: np.ndarray, V: np.ndarray, groups: list[tuple[slice, float, int]]
                    ) -> np.ndarray:
    """``c(T)'V`` for assignment rows ``T`` (B × n, 0/1) where ``c`` is the post-stratified
    difference-in-means contrast (weights w_s/n_ts for treated, −w_s/n_cs for control units)."""
    out = np.zeros((T.shape[0], V.shape[1]))
    for sl, w, n_t in groups:
        Vs = V[sl]
        n_c = Vs.shape[0] - n_t
        out += w * ((1 / n_t + 1 / n_c) * (T[:, sl].astype(float) @ Vs)
                    - Vs.sum(axis=0) / n_c)
    return out


def _permutation_core(d: _Data, alpha: float, permutations: int, seed: SeedLike,
                      ref: _Core) -> _Core:
    """Randomization test of the sharp null and its inversion under a constant effect.

    Statistic: the (post-stratified) difference in means of ``u = M(y − τT)``, the residuals of
    the shifted outcome on the covariates (Rosenbaum 2002). For every re-randomization ``T*``
    it is linear in τ: ``D*(τ) = a* − τ b*`` with ``a* = c(T*)'My`` and ``b* = c(T*)'MT``.
    """
    if permutations < math.ceil(1 / alpha):
        raise ConfigError(f"permutations == {permutations}, too few for a "
                          f"{(1 - alpha) * 100:g}% interval",
                          fix=f"use at least {math.ceil(1 / alpha)}; 10000 is the default")
    rng, used_seed = _rng(seed)
    n = len(d.y)
    V = _residualize(d, np.column_stack([d.y, d.t.astype(float)]))
    T0 = d.t.astype(np.uint8)
    if d.strata is not None and len(d.strata_labels) > 1:
        order = np.argsort(d.strata, kind="stable")
        V, T0 = V[order], T0[order]
        bounds = np.searchsorted(d.strata[order], np.arange(len(d.strata_labels) + 1))
        groups = [(slice(int(a), int(b)), (b - a) / n, int(T0[a:b].sum()))
                  for a, b in itertools.pairwise(bounds)]
    else:
        groups = [(slice(0, n), 1.0, int(T0.sum()))]
    obs = _contrast_stats(T0[None, :], V, groups)[0]
    a0, b0 = float(obs[0]), float(obs[1])
    # small blocks keep the 0/1 rows and their float copies in cache
    block = max(16, min(permutations, 262_144 // max(n, 1)))
    S = np.zeros((permutations, 2))
    for (sl, w, n_t) in groups:
        Vs = np.ascontiguousarray(V[sl])
        n_c = Vs.shape[0] - n_t
        shift = Vs.sum(axis=0) / n_c
        scale = 1 / n_t + 1 / n_c
        row = T0[sl]
        for start in range(0, permutations, block):
            m = min(block, permutations - start)
            T = np.tile(row, (m, 1))
            rng.permuted(T, axis=1, out=T)
            S[start:start + m] += w * (scale * (T.astype(float) @ Vs) - shift)
    a, b = S[:, 0], S[:, 1]

    def pval(tau: float) -> float:
        o = abs(a0 - tau * b0)
        tol = 1e-9 * max(o, abs(a0), abs(tau * b0), 1e-300)
        return (1 + int(np.count_nonzero(np.abs(a - tau * b) >= o - tol))) / (permutations + 1)

    est = a0 / b0 if b0 != 0 else math.nan
    p0 = pval(0.0)
    step = ref.se if ref.se > 0 else max(abs(est), 1.0)

    def bound(direction: int) -> float:
        inside, k = est, 0
        outside = est + direction * 2 * step
        while pval(outside) > alpha:
            inside = outside
            outside = est + direction * 2 ** (k + 2) * step
            k += 1
            if k > 60:
                return direction * math.inf
        for _ in range(60):
            mid = (inside + outside) / 2
            if pval(mid) > alpha:
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) <= 1e-10 * max(abs(mid), step):
                break
        return (inside + outside) / 2

    lo, hi = bound(-1), bound(+1)
    mc = ref.mean_c
    core = _Core("permutation", mc + est, mc, est, ref.se, math.inf, (lo, hi), p0,
                 ref.var_t, ref.var_c)
    core.notes.append(
        f"randomization test with {permutations:,} re-randomizations"
        + (" within strata" if d.strata is not None else "")
        + (", covariates adjusted by residualization (Rosenbaum 2002)" if d.X.shape[1] else "")
        + "; p = (1 + #{|D*| ≥ |D|}) / (B + 1); interval by test inversion assuming a constant "
          "additive effect; se and the relative interval are analytic, for reference")
    core.details.update({"permutations": permutations, "seed": used_seed,
                         "p_value_mc_se": math.sqrt(p0 * (1 - p0) / permutations)})
    return core


# -- bootstrap ------------------------------------------------------------------------------------


def _expansion(ref: _Core, cells: list[tuple[np.ndarray, float, bool]],
               y: np.ndarray) -> float:
    """Expansion factor f of the expanded percentile interval (Hesterberg 2015).

    The percentile interval is too narrow in small samples: the bootstrap variance uses
    divisor n instead of n − 1 and normal instead of t quantiles. The expanded interval takes
    the quantiles at ``α'/2`` and ``1 − α'/2`` with ``z_{α'/2} = f·t_{α/2, df}``, where
    ``f = sqrt(V_unbiased / V_plugin)`` over the arms (and strata) and ``df`` is the
    Welch–Satterthwaite df.
    """
    v_unb = v_plug = 0.0
    for idx, w, _ in cells:
        k = len(idx)
        s2 = float(y[idx].var(ddof=1)) if k > 1 else 0.0
        v_unb += w * w * s2 / k
        v_plug += w * w * s2 * (k - 1) / k / k
    return math.sqrt(v_unb / v_plug) if v_plug > 0 else 1.0


def _percentile(boot: np.ndarray, alpha_exp: float) -> tuple[float, float]:
    lo, hi = np.quantile(boot, [alpha_exp / 2, 1 - alpha_exp / 2])
    return float(lo), float(hi)


def _percentile_p(boot: np.ndarray, factor_alpha: Callable[[float], float]) -> float:
    """p-value dual to the expanded percentile interval: the α at which an end reaches 0."""
    B = len(boot)
    f0 = (np.count_nonzero(boot < 0) + 0.5 * np.count_nonzero(boot == 0)) / B
    f0 = min(max(f0, 0.5 / B), 1 - 0.5 / B)
    return min(max(factor_alpha(2 * min(f0, 1 - f0)), 1 / B), 1.0)


def _bootstrap_core(d: _Data, alpha: float, resamples: int, seed: SeedLike,
                    ref: _Core) -> _Core:
    """Stratified bootstrap with the expanded percentile interval, for the difference and the
    relative effect (arms, and strata when given, are resampled separately)."""
    if resamples < 200:
        raise ConfigError(f"bootstrap resamples == {resamples}, too few for an interval",
                          fix="use at least 1000; 5000 is the default")
    rng, used_seed = _rng(seed)
    n = len(d.y)
    if d.strata is not None:
        strata_ids = range(len(d.strata_labels))
        code = d.strata
    else:
        strata_ids = range(1)
        code = np.zeros(n, dtype=int)
    mt_b = np.zeros(resamples)
    mc_b = np.zeros(resamples)
    cells = []
    for s in strata_ids:
        in_s = code == s
        w = in_s.sum() / n
        for arm_t in (True, False):
            idx = np.flatnonzero(in_s & (d.t == arm_t))
            cells.append((idx, w, arm_t))
            ys = d.y[idx]
            k = len(idx)
            block = max(1, 2_000_000 // k)
            for b0 in range(0, resamples, block):
                b1 = min(resamples, b0 + block)
                draws = rng.integers(0, k, size=(b1 - b0, k))
                means = ys[draws].mean(axis=1)
                (mt_b if arm_t else mc_b)[b0:b1] += w * means
    mt, mc = ref.mean_t, ref.mean_c
    boot = mt_b - mc_b
    factor = _expansion(ref, cells, d.y)

    def to_expanded(a: float) -> float:  # α -> α' with z_{α'/2} = f·t_{α/2, df}
        return float(2 * stats.norm.sf(factor * _crit(a, ref.df)))

    def to_alpha(a_prime: float) -> float:  # the inverse map, for the dual p-value
        q = float(stats.norm.isf(a_prime / 2)) / factor
        return 2 * float(stats.t.sf(q, ref.df) if math.isfinite(ref.df) else stats.norm.sf(q))

    a_exp = to_expanded(alpha)
    lo, hi = _percentile(boot, a_exp)
    p = _percentile_p(boot, to_alpha)
    core = _Core("bootstrap", mt, mc, mt - mc, float(boot.std(ddof=1)), ref.df, (lo, hi), p,
                 ref.var_t, ref.var_c)
    if mc != 0 and np.all(mc_b != 0):
        rboot = mt_b / mc_b - 1
        rlo, rhi = _percentile(rboot, a_exp)
        core.rel = (mt / mc - 1, float(rboot.std(ddof=1)), rlo, rhi)
    core.notes.append(
        f"bootstrap with {resamples:,} resamples drawn within arms"
        + (" and strata" if d.strata is not None else "")
        + f"; expanded percentile interval (quantiles at {a_exp / 2:.4f} and "
          f"{1 - a_exp / 2:.4f}, Hesterberg 2015); p-value dual to it; se is the bootstrap "
          "standard deviation")
    core.details.update({"resamples": resamples, "seed": used_seed,
                         "percentile_levels": (a_exp / 2, 1 - a_exp / 2)})
    return core


# -- wrapping -------------------------------------------------------------------------------------


def _estimate(d: _Data, core: _Core, level: float, extra_warnings: Sequence[str] = ()
              ) -> Estimate:
    alpha = 1 - level
    crit = _crit(alpha, core.df)
    if core.rel is not None:
        rel, rel_se, rlo, rhi = core.rel
    else:
        rel, rel_se, rlo, rhi = _rel(core.effect, core.mean_c,
                                     core.var_t + core.var_c - 2 * core.cov_tc,
                                     core.var_c, core.cov_tc - core.var_c, crit)
    warnings = list(d.warnings) + list(core.warnings) + list(extra_warnings)
    if not math.isfinite(rel) and math.isfinite(core.effect):
        warnings.append("the control mean is zero or negative: no relative effect")
    elif math.isfinite(rel) and core.var_c > 0 and core.mean_c < 2 * math.sqrt(core.var_c):
        warnings.append("the control mean is not clearly above zero: the relative effect and "
                        "its interval are unstable; read the absolute effect")
    if not core.se > 0:
        warnings.append("the effect has no sampling variation (constant outcome): no interval")
    return Estimate(
        method=core.method, outcome=d.outcome, arm=d.arm, control=str(d.control),
        treatment=str(d.treatment), n_control=d.n_c, n_treatment=d.n_t,
        mean_control=core.mean_c, mean_treatment=core.mean_t, effect=core.effect,
        ci_lower=float(core.ci[0]), ci_upper=float(core.ci[1]), p_value=float(core.p),
        rel_effect=rel, rel_ci_lower=rlo, rel_ci_upper=rhi, confidence_level=level,
        se=float(core.se), rel_se=rel_se, df=float(core.df),
        raw_mean_control=float(d.y_c.mean()), raw_mean_treatment=float(d.y_t.mean()),
        covariates=d.covariates, strata=d.strata_col, warnings=tuple(dict.fromkeys(warnings)),
        notes=tuple(d.notes + core.notes), details={**d.details, **core.details})


def _resolve_method(method: str, d: _Data) -> str:
    m = str(method).strip().lower()
    if m not in METHODS:
        raise ConfigError(f"method {method!r} is not known",
                          fix=f"use one of {', '.join(METHODS)}")
    if m == "auto":
        if d.covariates:
            return "regression"
        return "proportion" if _is_binary(d.y) else "welch"
    return m


def _analyze_data(d: _Data, method: str, level: float, *, seed: SeedLike, permutations: int,
                  resamples: int, where: str, thin: bool = True) -> Estimate:
    alpha = 1 - level
    m = _resolve_method(method, d)
    binary = _is_binary(d.y)
    if m == "proportion" and not binary:
        bad = np.flatnonzero((d.y != 0) & (d.y != 1))
        raise DataValidationError(
            f"method 'proportion' needs a 0/1 outcome; '{d.outcome}' has other values "
            f"({_examples(d.index[bad], d.y[bad])})", where=where,
            fix="use method 'welch' for a numeric outcome, or recode it to 0/1")
    if d.covariates and m in ("welch", "proportion", "bootstrap"):
        raise ConfigError(f"method '{m}' does not use covariates "
                          f"({', '.join(d.covariates)})", where=where,
                          fix="use method 'regression' (or 'permutation'), or drop the "
                              "covariates")
    stratified = d.strata is not None and len(d.strata_labels) > 1

    def base() -> _Core:
        if stratified:
            return _poststrat_core(d.y, d.t, d.strata, len(d.strata_labels), alpha)
        return _welch_core(d.y_t, d.y_c, alpha)

    if m == "welch":
        core = base()
    elif m == "proportion":
        if stratified:
            core = base()
            core.notes.append("a 0/1 outcome with strata: post-stratified difference of "
                              "proportions (the Newcombe interval has no stratified form)")
        else:
            core = _proportion_core(d.y_t, d.y_c, alpha)
    elif m == "regression":
        core = _regression_core(d, alpha, where)
    elif m == "permutation":
        ref = _regression_core(d, alpha, where) if d.covariates else base()
        core = _permutation_core(d, alpha, permutations, seed, ref)
    else:
        core = _bootstrap_core(d, alpha, resamples, seed, base())
    extra = _thin_warnings(d, binary) if thin and m != "permutation" else []
    return _estimate(d, core, level, extra)


def analyze(df: pd.DataFrame, *, arm: str, outcome: str, control: Any = None,
            treatment: Any = None, covariates: Sequence[str] | str | None = None,
            strata: str | None = None, method: Method | str = "auto",
            confidence_level: float = 0.95, winsorize: float | None = None,
            seed: SeedLike = None, permutations: int = 10_000, resamples: int = 5_000,
            denominator: str | None = None) -> Estimate:
    """Estimate the effect of assignment on ``outcome`` from one row per unit.

    Args:
        df: one row per randomized unit.
        arm: column with each unit's assigned arm.
        outcome: numeric (or 0/1) outcome column.
        control: label of the control arm; inferred when the column has two values and one is
            ``"control"`` or they are 0/1.
        treatment: label of the treatment arm; the other value when there are two.
        covariates: pre-period covariate columns (regression adjustment).
        strata: the randomization strata column (post-stratification, stratified
            re-randomization and resampling, or dummies in the regression).
        method: one of :data:`METHODS`; ``auto`` picks ``regression`` with covariates,
            ``proportion`` for 0/1 outcomes and ``welch`` otherwise (never by sample size).
        confidence_level: of every interval.
        winsorize: opt-in quantile (e.g. ``0.99``) of one pooled cap on the outcome, applied to
            both arms alike and disclosed in ``notes``.
        seed: integer seed or ``numpy.random.Generator`` of the permutation or bootstrap draws;
            ``None`` draws fresh entropy and records it in ``details["seed"]``.
        permutations: re-randomizations of the ``permutation`` method.
        resamples: resamples of the ``bootstrap`` method.
        denominator: makes ``outcome / denominator`` a ratio metric (see :func:`ratio_effect`).

    Returns:
        The :class:`Estimate`.

    Raises:
        DataValidationError: a column is missing, not numeric, has missing values, or an arm has
            fewer than 2 units.
        ConfigError: an argument is invalid.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(11)
        >>> pre = rng.gamma(2.0, 2.0, 400)
        >>> df = pd.DataFrame({"arm": np.tile(["control", "treatment"], 200), "pre": pre})
        >>> df["y"] = pre + rng.normal(0, 1, 400) + (df["arm"] == "treatment") * 0.5
        >>> est = analyze(df, arm="arm", outcome="y", covariates=["pre"])
        >>> est.method, round(est.effect, 2), round(est.se, 2)
        ('regression', 0.49, 0.1)
    """
    level = _check_level(confidence_level)
    if denominator is not None:
        if method not in ("auto", "welch"):
            raise ConfigError(f"method {method!r} is not available for ratio metrics",
                              fix="use method 'auto' (delta method) with denominator=")
        if covariates or strata:
            raise ConfigError("covariates and strata are not supported for ratio metrics",
                              fix="drop them, or analyse the numerator per unit instead")
        return ratio_effect(df, arm=arm, numerator=outcome, denominator=denominator,
                            control=control, treatment=treatment,
                            confidence_level=level, winsorize=winsorize)
    d, _ = _prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                    covariates=covariates, strata=strata, winsorize=winsorize)
    return _analyze_data(d, method, level, seed=seed, permutations=int(permutations),
                         resamples=int(resamples), where="analyze")


# -- ratio metrics --------------------------------------------------------------------------------


def ratio_effect(df: pd.DataFrame, *, arm: str, numerator: str, denominator: str,
                 control: Any = None, treatment: Any = None, confidence_level: float = 0.95,
                 winsorize: float | None = None) -> Estimate:
    """Effect on a ratio metric ``Σ numerator / Σ denominator`` per arm (e.g. revenue per deal).

    The variance of each arm's ratio ``R = x̄ / ȳ`` is the delta-method one *with* the
    covariance term: ``Var(R) ≈ (s²_x − 2R·s_xy + R²·s²_y) / (n·ȳ²)``. The interval is normal.

    Args:
        df: one row per unit.
        arm: arm column.
        numerator: per-unit numerator (e.g. won revenue).
        denominator: per-unit denominator (e.g. deals); must have a non-zero sum in each arm.
        control: control label (see :func:`analyze`).
        treatment: treatment label.
        confidence_level: of the intervals.
        winsorize: optional pooled cap on the numerator (see :func:`analyze`).

    Returns:
        An :class:`Estimate` with ``method == "ratio"``; ``mean_*`` are the arm ratios.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"arm": ["c", "c", "c", "t", "t", "t"],
        ...                    "rev": [10., 0., 20., 30., 10., 20.], "deals": [1, 0, 2, 2, 1, 1]})
        >>> est = ratio_effect(df, arm="arm", numerator="rev", denominator="deals",
        ...                    control="c", treatment="t")
        >>> est.mean_control, est.mean_treatment
        (10.0, 15.0)
    """
    level = _check_level(confidence_level)
    d, ext = _prepare(df, arm=arm, outcome=numerator, control=control, treatment=treatment,
                      winsorize=winsorize, where="ratio_effect", extra=[denominator])
    den = ext[denominator]
    parts = {}
    for name, mask in (("t", d.t), ("c", ~d.t)):
        x, y = d.y[mask], den[mask]
        n = len(x)
        ybar = y.mean()
        if ybar == 0:
            raise DataValidationError(
                f"denominator '{denominator}' sums to 0 in the "
                f"{'treatment' if name == 't' else 'control'} arm", where="ratio_effect",
                fix="a ratio metric needs units with a non-zero denominator in each arm")
        r = x.mean() / ybar
        cov = np.cov(x, y, ddof=1)
        var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * ybar**2)
        parts[name] = (float(r), float(var))
    (rt, vt), (rc, vc) = parts["t"], parts["c"]
    se = math.sqrt(vt + vc)
    alpha = 1 - level
    ci, p = _t_interval(rt - rc, se, math.inf, alpha)
    core = _Core("ratio", rt, rc, rt - rc, se, math.inf, ci, p, vt, vc)
    core.notes.append(f"ratio metric Σ{numerator} / Σ{denominator} per arm; delta-method "
                      "variance with the numerator–denominator covariance; normal interval")
    d.outcome = f"{numerator}/{denominator}"
    core.details["denominator"] = denominator
    est = _estimate(d, core, level)
    return est


# -- complier effect ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplierEstimate(ResultMixin):
    """Effect on the units that actually consumed the package (complier average causal effect).

    Assignment is the instrument for consumption (``uptake``): the effect is the Wald ratio
    ``ITT on the outcome / ITT on uptake`` (the just-identified two-stage least squares
    estimate). Shown beside the intention-to-treat effect, never instead of it.

    Attributes:
        label: plain-words label of the estimand.
        outcome: outcome column.
        uptake: consumption column (0/1 or a share).
        effect: complier effect.
        se: delta-method standard error (equal to 2SLS with HC2-type errors).
        ci_lower: lower end of the Anderson–Rubin interval (robust to a weak first stage).
        ci_upper: upper end of that interval (may be infinite).
        wald_ci_lower: lower end of the delta-method (Wald) interval, for reference.
        wald_ci_upper: upper end of the delta-method interval.
        p_value: p-value of "no effect": the ITT z-test, dual to the Anderson–Rubin interval.
        confidence_level: of the intervals.
        itt: the intention-to-treat :class:`Estimate` on the outcome.
        first_stage: the :class:`Estimate` of assignment on uptake.
        first_stage_f: robust first-stage F statistic (weak when below 10).
        uptake_control: mean uptake in the control arm (0 = one-sided non-compliance).
        uptake_treatment: mean uptake in the treatment arm.
        warnings: e.g. a weak first stage.
        notes: what the estimate assumes.
    """

    _title: ClassVar[str] = "Complier effect (assignment as instrument)"

    label: str
    outcome: str
    uptake: str
    effect: float
    se: float
    ci_lower: float
    ci_upper: float
    wald_ci_lower: float
    wald_ci_upper: float
    p_value: float
    confidence_level: float
    itt: Estimate
    first_stage: Estimate
    first_stage_f: float
    uptake_control: float
    uptake_treatment: float
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def _lines(self) -> list[str]:
        lvl = f"{self.confidence_level * 100:g}%"
        lines = [
            f"{self.label}: {self.outcome}, uptake '{self.uptake}'",
            f"  effect on compliers  {fmt(self.effect, signed=True)}  "
            f"[{fmt(self.ci_lower, signed=True)}, {fmt(self.ci_upper, signed=True)}] "
            f"({lvl} Anderson–Rubin)  p={fmt_p(self.p_value)}",
            f"  intention to treat   {fmt(self.itt.effect, signed=True)}  "
            f"[{fmt(self.itt.ci_lower, signed=True)}, {fmt(self.itt.ci_upper, signed=True)}]",
            f"  first stage          uptake {fmt(self.uptake_control, pct=True)} → "
            f"{fmt(self.uptake_treatment, pct=True)}, F={fmt(self.first_stage_f)}",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  warning: {w}" for w in self.warnings]
        return lines

    def to_frame(self) -> pd.DataFrame:
        """Three rows: intention to treat, first stage and complier effect."""
        rows = [
            {"estimand": "intention to treat (by assignment)", "effect": self.itt.effect,
             "ci_lower": self.itt.ci_lower, "ci_upper": self.itt.ci_upper,
             "p_value": self.itt.p_value},
            {"estimand": f"first stage (effect of assignment on {self.uptake})",
             "effect": self.first_stage.effect, "ci_lower": self.first_stage.ci_lower,
             "ci_upper": self.first_stage.ci_upper, "p_value": self.first_stage.p_value},
            {"estimand": self.label, "effect": self.effect, "ci_lower": self.ci_lower,
             "ci_upper": self.ci_upper, "p_value": self.p_value},
        ]
        return pd.DataFrame(rows)


def complier_effect(df: pd.DataFrame, *, arm: str, outcome: str, uptake: str,
                    control: Any = None, treatment: Any = None,
                    covariates: Sequence[str] | str | None = None, strata: str | None = None,
                    confidence_level: float = 0.95, winsorize: float | None = None
                    ) -> ComplierEstimate:
    """Effect on the units that consumed the package, with assignment as the instrument.

    Both intention-to-treat effects (on the outcome and on uptake) come from one joint fit
    (Lin-style regression adjustment when covariates or strata are given, otherwise the
    difference in means) with HC2 covariances, so the delta-method variance of the ratio
    ``τ = ITT_Y / ITT_D`` includes their covariance:
    ``Var(τ) ≈ (V_Y − 2τ·C_YD + τ²·V_D) / ITT_D²``. The reported interval is the
    Anderson–Rubin set ``{τ: |ITT_Y − τ·ITT_D| ≤ z·sd(ITT_Y − τ·ITT_D)}``, valid even when the
    first stage is weak, and the p-value is its dual (the ITT z-test).

    Args:
        df: one row per unit.
        arm: arm column.
        outcome: outcome column.
        uptake: consumption column: 0/1 (opened, completed) or a share in [0, 1].
        control: control label.
        treatment: treatment label.
        covariates: optional pre-period covariates.
        strata: optional randomization strata.
        confidence_level: of the intervals.
        winsorize: optional pooled cap on the outcome.

    Returns:
        A :class:`ComplierEstimate`.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(3)
        >>> z = np.tile([0, 1], 500)
        >>> d = z * (rng.random(1000) < 0.5)
        >>> y = rng.normal(0, 1, 1000) + 2.0 * d
        >>> res = complier_effect(pd.DataFrame({"arm": z, "y": y, "opened": d}), arm="arm",
        ...                       outcome="y", uptake="opened")
        >>> bool(res.ci_lower < 2.0 < res.ci_upper), round(res.uptake_control, 2)
        (True, 0.0)
    """
    level = _check_level(confidence_level)
    where = "complier_effect"
    d, ext = _prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                      covariates=covariates, strata=strata, winsorize=winsorize, where=where,
                      extra=[uptake])
    u = ext[uptake]
    alpha = 1 - level
    z = _crit(alpha, math.inf)
    fit_t, fit_c, names = _lin_fit(d, np.column_stack([d.y, u]), where)
    ity = float(fit_t.coef[0, 0] - fit_c.coef[0, 0])
    itd = float(fit_t.coef[0, 1] - fit_c.coef[0, 1])
    vy = float(fit_t.cov[0, 0, 0, 0] + fit_c.cov[0, 0, 0, 0])
    vd = float(fit_t.cov[1, 1, 0, 0] + fit_c.cov[1, 1, 0, 0])
    cyd = float(fit_t.cov[0, 1, 0, 0] + fit_c.cov[0, 1, 0, 0])
    method = "regression" if names else "welch"
    d_u = _Data(y=u, t=d.t, X=d.X, strata=d.strata, strata_labels=d.strata_labels,
                control=d.control, treatment=d.treatment, outcome=uptake, arm=d.arm,
                covariates=d.covariates, strata_col=d.strata_col, index=d.index)
    itt = _analyze_data(d, method, level, seed=None, permutations=0, resamples=0, where=where)
    first = _analyze_data(d_u, method, level, seed=None, permutations=0, resamples=0,
                          where=where, thin=False)
    warnings: list[str] = []
    notes = ["effect on partners who consumed the package (compliers), with assignment as the "
             "instrument: assumes assignment changes the outcome only through uptake and that "
             "nobody consumes less because of assignment"]
    f_stat = itd**2 / vd if vd > 0 else (math.inf if itd != 0 else math.nan)
    if itd == 0:
        raise DataValidationError(f"uptake '{uptake}' does not differ between the arms",
                                  where=where, fix="the complier effect needs assignment to "
                                                   "change uptake; check the uptake column")
    tau = ity / itd
    var = (vy - 2 * tau * cyd + tau * tau * vd) / itd**2
    se = math.sqrt(max(var, 0.0))
    # Anderson–Rubin set: (ity − τ itd)² ≤ z² (vy − 2τ cyd + τ² vd)
    qa = itd**2 - z * z * vd
    qb = -2 * (ity * itd - z * z * cyd)
    qc = ity**2 - z * z * vy
    disc = qb * qb - 4 * qa * qc
    if qa > 0 and disc >= 0:
        r1, r2 = sorted(((-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)))
        ar = (r1, r2)
    elif qa < 0 and disc > 0:
        # two rays (−∞, r1] ∪ [r2, ∞): an interval cannot hold it, so the whole line is
        # reported, and the rays are named so that nothing is hidden
        r1, r2 = sorted(((-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)))
        ar = (-math.inf, math.inf)
        notes.append(f"the Anderson–Rubin set is two rays, (−∞, {fmt(r1)}] ∪ [{fmt(r2)}, ∞)"
                     + (", which exclude 0" if r1 < 0 < r2 else "")
                     + ": the first stage is too weak to bound the complier effect; the "
                       "interval shown is the whole line")
    else:
        ar = (-math.inf, math.inf)
        notes.append("the Anderson–Rubin set is unbounded: the first stage is too weak at this "
                     "confidence level to bound the complier effect")
    if f_stat < 10:
        warnings.append(f"weak first stage (F = {f_stat:.1f} < 10): assignment barely changes "
                        f"'{uptake}', so the complier effect is poorly determined")
    uc = float(u[~d.t].mean())
    ut = float(u[d.t].mean())
    if uc == 0:
        notes.append("one-sided non-compliance (no control unit consumed the package): the "
                     "complier effect is the effect on treated units that consumed it")
    if not _is_binary(u):
        notes.append(f"uptake '{uptake}' is not 0/1: the ratio is the effect per unit of uptake")
    # dual to the Anderson–Rubin set at τ = 0: the ITT z-test from the same joint fit
    ps = _two_sided_p(ity / math.sqrt(vy), math.inf) if vy > 0 else math.nan
    return ComplierEstimate(
        label="effect on partners who consumed the package (complier effect)",
        outcome=outcome, uptake=uptake, effect=tau, se=se, ci_lower=ar[0], ci_upper=ar[1],
        wald_ci_lower=tau - z * se, wald_ci_upper=tau + z * se, p_value=ps,
        confidence_level=level, itt=itt, first_stage=first, first_stage_f=float(f_stat),
        uptake_control=uc, uptake_treatment=ut, warnings=tuple(warnings), notes=tuple(notes))


# -- segments -------------------------------------------------------------------------------------


def _adjust_p(p: np.ndarray, how: str) -> np.ndarray:
    """Holm or Benjamini–Hochberg adjusted p-values (step-down / step-up)."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    if how == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ps)
    elif how == "bh":
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ps[::-1])[::-1]
    else:
        adj = ps.copy()
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def _adjusted_levels(p: np.ndarray, alpha: float, how: str) -> np.ndarray:
    """Per-hypothesis α for intervals that agree with the adjusted p-values.

    * ``bh``: all intervals at ``1 − R·α/m`` (R rejections, at least 1), the false-coverage-rate
      intervals of Benjamini & Yekutieli (2005): rejected hypotheses have p ≤ Rα/m, the others
      p > Rα/m, so an interval excludes 0 exactly when the BH-adjusted p is below α.
    * ``holm``: the k-th smallest p gets ``α/(m − k + 1)`` until the first non-rejection, whose
      level the rest share: again an interval excludes 0 exactly when Holm rejects.
    """
    m = len(p)
    if how == "none":
        return np.full(m, alpha)
    if how == "bh":
        ps = np.sort(p)
        ok = ps <= alpha * np.arange(1, m + 1) / m
        r = int(np.max(np.flatnonzero(ok)) + 1) if ok.any() else 0
        return np.full(m, max(r, 1) * alpha / m)
    order = np.argsort(p, kind="stable")
    levels = np.empty(m)
    stop: float | None = None
    for k, i in enumerate(order):
        lvl = alpha / (m - k) if stop is None else stop
        if stop is None and p[i] > lvl:
            stop = lvl
        levels[i] = lvl
    return levels


@dataclass(frozen=True)
class SegmentEffects(ResultMixin):
    """Per-segment effects with multiplicity adjustment, a heterogeneity test and a ranking.

    Attributes:
        segment: the segment column.
        method: the estimator used in every segment.
        adjust: ``bh`` (Benjamini–Hochberg), ``holm`` or ``none``.
        confidence_level: the nominal level before adjustment.
        estimates: one :class:`Estimate` per segment (``None`` keys skipped), with intervals at
            the adjusted level given in ``levels``.
        labels: segment labels in the order of ``estimates``.
        p_adjusted: adjusted p-values.
        levels: the confidence level of each segment's interval after adjustment.
        heterogeneity_q: Cochran's Q of "the effect is the same in every segment".
        heterogeneity_df: its degrees of freedom (segments − 1).
        heterogeneity_p: its p-value.
        expected_uplift: empirical-Bayes (shrunken) effect per segment, for ranking.
        expected_uplift_sd: posterior standard deviation of that effect.
        skipped: segments left out, with the reason.
        notes: how the intervals and the ranking were made.
    """

    _title: ClassVar[str] = "Effects by segment"

    segment: str
    method: str
    adjust: str
    confidence_level: float
    estimates: tuple[Estimate, ...]
    labels: tuple[str, ...]
    p_adjusted: tuple[float, ...]
    levels: tuple[float, ...]
    heterogeneity_q: float
    heterogeneity_df: int
    heterogeneity_p: float
    expected_uplift: tuple[float, ...]
    expected_uplift_sd: tuple[float, ...]
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per segment: counts, effect, adjusted interval and p-values, ranking."""
        rows = []
        for lab, e, pa_, lv, eu, sd in zip(self.labels, self.estimates, self.p_adjusted,
                                           self.levels, self.expected_uplift,
                                           self.expected_uplift_sd, strict=True):
            rows.append({"segment": lab, "n_control": e.n_control,
                         "n_treatment": e.n_treatment, "mean_control": e.mean_control,
                         "mean_treatment": e.mean_treatment, "effect": e.effect,
                         "ci_lower": e.ci_lower, "ci_upper": e.ci_upper, "ci_level": lv,
                         "p_value": e.p_value, "p_adjusted": pa_, "rel_effect": e.rel_effect,
                         "expected_uplift": eu, "expected_uplift_sd": sd})
        out = pd.DataFrame(rows)
        if len(out):
            out["rank"] = out["expected_uplift"].rank(ascending=False, method="first"
                                                      ).astype(int)
        return out

    def ranking(self) -> pd.DataFrame:
        """Segments ordered by expected uplift (shrunken effect), best first."""
        return self.to_frame().sort_values("rank").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["table"] = json_safe(self.to_frame())
        return out

    def _lines(self) -> list[str]:
        lines = [f"effects by {self.segment} ({self.method}, {self.adjust} adjustment; "
                 f"heterogeneity Q={fmt(self.heterogeneity_q)}, df={self.heterogeneity_df}, "
                 f"p={fmt_p(self.heterogeneity_p)})"]
        for r in self.ranking().itertuples():
            lines.append(f"  #{r.rank} {r.segment}: {fmt(r.effect, signed=True)} "
                         f"[{fmt(r.ci_lower, signed=True)}, {fmt(r.ci_upper, signed=True)}] "
                         f"({r.ci_level * 100:.2f}% level) p_adj={fmt_p(r.p_adjusted)} "
                         f"n={r.n_control}+{r.n_treatment} "
                         f"expected {fmt(r.expected_uplift, signed=True)}")
        lines += [f"  skipped: {s}" for s in self.skipped]
        lines += [f"  note: {n}" for n in self.notes]
        return lines


def segment_effects(df: pd.DataFrame, *, arm: str, outcome: str, segment: str,
                    control: Any = None, treatment: Any = None,
                    covariates: Sequence[str] | str | None = None, strata: str | None = None,
                    method: Method | str = "auto", adjust: Literal["bh", "holm", "none"] = "bh",
                    confidence_level: float = 0.95, winsorize: float | None = None
                    ) -> SegmentEffects:
    """Effects per segment with adjusted p-values and intervals that agree with them.

    Each segment is analysed on its own with the same method (``welch``, ``regression`` or
    ``proportion``; ``auto`` decides once on the whole data). P-values are adjusted by
    Benjamini–Hochberg (default) or Holm; each interval is then computed at the level that makes
    "interval excludes 0" and "adjusted p < α" the same statement. Cochran's Q tests whether the
    effect differs between segments. ``expected_uplift`` shrinks each segment's effect towards
    the precision-weighted mean by the between-segment variance (DerSimonian–Laird), the
    empirical-Bayes estimate to rank segments by.

    Args:
        df: one row per unit.
        arm: arm column.
        outcome: outcome column.
        segment: column defining the segments (e.g. rank).
        control: control label.
        treatment: treatment label.
        covariates: covariates for ``regression``.
        strata: randomization strata (used within each segment).
        method: estimator for every segment.
        adjust: ``bh``, ``holm`` or ``none``.
        confidence_level: nominal level before adjustment.
        winsorize: optional pooled cap (computed once on all units, the same for every segment).

    Returns:
        A :class:`SegmentEffects`.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(5)
        >>> n = 600
        >>> df = pd.DataFrame({"arm": np.tile([0, 1], n // 2),
        ...                    "rank": np.repeat(["A", "B", "C"], n // 3)})
        >>> df["y"] = rng.normal(0, 1, n) + df["arm"] * df["rank"].map({"A": 0, "B": 0, "C": 1})
        >>> seg = segment_effects(df, arm="arm", outcome="y", segment="rank")
        >>> seg.ranking()["segment"].iloc[0], bool(seg.heterogeneity_p < 0.05)
        ('C', True)
    """
    level = _check_level(confidence_level)
    alpha = 1 - level
    where = "segment_effects"
    if adjust not in ("bh", "holm", "none"):
        raise ConfigError(f"adjust == {adjust!r}", where=where, fix="use 'bh', 'holm' or 'none'")
    _require_columns(df, [segment], where)
    d, _ = _prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                    covariates=covariates, strata=strata, winsorize=winsorize, where=where)
    m = _resolve_method(method, d)
    if m not in ("welch", "regression", "proportion"):
        raise ConfigError(f"method '{m}' is not available per segment", where=where,
                          fix="use 'welch', 'regression', 'proportion' or 'auto'")
    seg = df[segment].iloc[d.pos]
    if seg.isna().any():
        bad = seg.index[seg.isna().to_numpy()]
        raise DataValidationError(
            f"segment column '{segment}' has {len(bad)} missing value(s) ({_examples(bad)})",
            where=where, fix="fill them (e.g. 'unknown') so every unit is in a segment")
    codes, uniq = pd.factorize(seg, sort=True)
    subsets: list[tuple[str, _Data]] = []
    skipped: list[str] = []
    for k, lab in enumerate(uniq):
        mask = codes == k
        t = d.t[mask]
        if t.sum() < 2 or (~t).sum() < 2:
            skipped.append(f"{lab}: fewer than 2 units in an arm")
            continue
        sd = _Data(y=d.y[mask], t=t, X=d.X[mask],
                   strata=None, strata_labels=[], control=d.control, treatment=d.treatment,
                   outcome=d.outcome, arm=d.arm, covariates=d.covariates, strata_col=None,
                   index=d.index[mask], notes=[f"segment {segment} = {lab}"])
        if d.strata is not None:
            sc, su = pd.factorize(d.strata[mask], sort=True)
            nt = np.bincount(sc[t], minlength=len(su))
            nc = np.bincount(sc[~t], minlength=len(su))
            ok = (nt >= 2) & (nc >= 2)
            if not ok.all():
                keep = ok[sc]
                sd.warnings.append(f"{int((~keep).sum())} unit(s) in strata with fewer than 2 "
                                   "units per arm left out in this segment")
                sd = _Data(y=sd.y[keep], t=sd.t[keep], X=sd.X[keep], strata=None,
                           strata_labels=[], control=sd.control, treatment=sd.treatment,
                           outcome=sd.outcome, arm=sd.arm, covariates=sd.covariates,
                           strata_col=None, index=sd.index[keep], warnings=sd.warnings,
                           notes=sd.notes)
                sc = pd.factorize(sc[keep], sort=True)[0]
            if sd.t.sum() < 2 or (~sd.t).sum() < 2:
                skipped.append(f"{lab}: fewer than 2 units in an arm within usable strata")
                continue
            sd.strata = sc
            sd.strata_labels = [f"{i}" for i in range(int(sc.max()) + 1)]
            sd.strata_col = d.strata_col
        subsets.append((str(lab), sd))
    if not subsets:
        raise DataValidationError(f"no segment of '{segment}' has 2+ units in both arms",
                                  where=where, fix="use coarser segments")
    sm = m
    first = []
    for _lab, sd in subsets:
        first.append(_analyze_data(sd, sm, level, seed=None, permutations=0, resamples=0,
                                   where=where))
    p = np.array([e.p_value for e in first], dtype=float)
    p_for_adj = np.where(np.isnan(p), 1.0, p)
    p_adj = _adjust_p(p_for_adj, adjust)
    lv_alpha = _adjusted_levels(p_for_adj, alpha, adjust)
    ests = tuple(_analyze_data(sd, sm, 1 - a, seed=None, permutations=0, resamples=0,
                               where=where) if abs((1 - a) - level) > 1e-15 else e
                 for (_lab, sd), e, a in zip(subsets, first, lv_alpha, strict=True))
    eff = np.array([e.effect for e in first])
    se = np.array([e.se for e in first])
    ok = se > 0
    w = np.where(ok, 1 / np.where(ok, se, 1) ** 2, 0.0)
    if ok.sum() >= 2:
        mu = float(np.sum(w * eff) / w.sum())
        q = float(np.sum(w * (eff - mu) ** 2))
        dfq = int(ok.sum() - 1)
        qp = float(stats.chi2.sf(q, dfq))
        tau2 = max(0.0, (q - dfq) / (w.sum() - np.sum(w**2) / w.sum()))
    else:
        mu, q, dfq, qp, tau2 = float(eff[0]), math.nan, 0, math.nan, 0.0
    if tau2 > 0:
        ws = 1 / (se**2 + tau2)
        mu_re = float(np.sum(ws * eff) / ws.sum())
        shrink = tau2 / (tau2 + se**2)
        post = mu_re + shrink * (eff - mu_re)
        post_sd = np.sqrt(tau2 * se**2 / (tau2 + se**2))
    else:
        post = np.full(len(eff), mu)
        post_sd = np.full(len(eff), math.sqrt(1 / w.sum()) if w.sum() > 0 else math.nan)
    notes = [
        {"bh": "Benjamini–Hochberg adjusted p-values; intervals at the false-coverage-rate level "
               "1 − R·α/m (Benjamini & Yekutieli 2005), so an interval excludes 0 exactly "
               "when the adjusted p-value is below α",
         "holm": "Holm adjusted p-values; each interval at its Holm step level, so an interval "
                 "excludes 0 exactly when Holm rejects",
         "none": "no multiplicity adjustment: with several segments some will look different "
                 "by chance"}[adjust],
        "heterogeneity: Cochran's Q over the segment effects; expected uplift: empirical-Bayes "
        "shrinkage towards the overall effect (DerSimonian–Laird between-segment variance)",
    ]
    return SegmentEffects(
        segment=segment, method=first[0].method, adjust=adjust, confidence_level=level,
        estimates=ests, labels=tuple(lab for lab, _ in subsets),
        p_adjusted=tuple(float(x) for x in p_adj),
        levels=tuple(float(1 - a) for a in lv_alpha), heterogeneity_q=q,
        heterogeneity_df=dfq, heterogeneity_p=qp,
        expected_uplift=tuple(float(x) for x in post),
        expected_uplift_sd=tuple(float(x) for x in post_sd), skipped=tuple(skipped),
        notes=tuple(notes))


def uplift_ranking(df: pd.DataFrame, *, arm: str, outcome: str, covariates: Sequence[str] | str,
                   control: Any = None, treatment: Any = None,
                   candidates: pd.DataFrame | None = None, confidence_level: float = 0.95
                   ) -> pd.DataFrame:
    """Rank units by expected uplift from the covariates, to choose where the package goes next.

    Uses the Lin regression fitted on the experiment: the expected uplift of a unit with
    covariates ``x`` is ``τ + (x − x̄)'(β_t − β_c)`` (the arm-specific slopes differ), with a
    standard error from the two arms' HC2 covariances. It is a model-based prediction, as good
    as the covariates are at explaining who gains; check :func:`segment_effects` beside it.

    Args:
        df: the experiment, one row per unit.
        arm: arm column.
        outcome: outcome column.
        covariates: pre-period covariates that may explain who gains.
        control: control label.
        treatment: treatment label.
        candidates: rows to score (e.g. partners not yet treated); default: the units of
            ``df``. Needs the covariate columns.
        confidence_level: of ``ci_lower``/``ci_upper``.

    Returns:
        ``candidates`` (or ``df``) with ``expected_uplift``, ``se``, ``ci_lower``,
        ``ci_upper`` and ``uplift_rank`` (1 = largest), sorted best first.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(2)
        >>> df = pd.DataFrame({"arm": np.tile([0, 1], 300), "x": rng.normal(0, 1, 600)})
        >>> df["y"] = rng.normal(0, 1, 600) + df["arm"] * (1 + df["x"])
        >>> top = uplift_ranking(df, arm="arm", outcome="y", covariates=["x"])
        >>> bool(top["x"].iloc[:50].mean() > 1)
        True
    """
    level = _check_level(confidence_level)
    where = "uplift_ranking"
    covs = (covariates,) if isinstance(covariates, str) else tuple(covariates)
    if not covs:
        raise ConfigError("uplift_ranking needs at least one covariate", where=where,
                          fix="pass the pre-period columns that may explain who gains")
    d, _ = _prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                    covariates=covs, where=where)
    xbar = d.X.mean(axis=0)
    fit_t, fit_c, _ = _lin_fit(d, d.y, where)
    target = df if candidates is None else candidates
    _require_columns(target, covs, f"{where} (candidates)")
    Xn = np.column_stack([_numeric(target[c], c, "covariate", f"{where} (candidates)")
                          for c in covs])
    C = np.column_stack([np.ones(len(Xn)), Xn - xbar])
    diff = fit_t.coef[:, 0] - fit_c.coef[:, 0]
    V = fit_t.cov[0, 0] + fit_c.cov[0, 0]
    up = C @ diff
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", C, V, C), 0))
    z = _crit(1 - level, math.inf)
    out = target.copy()
    out["expected_uplift"] = up
    out["se"] = se
    out["ci_lower"] = up - z * se
    out["ci_upper"] = up + z * se
    out["uplift_rank"] = pd.Series(up, index=out.index).rank(ascending=False,
                                                             method="first").astype(int)
    return out.sort_values("uplift_rank")

