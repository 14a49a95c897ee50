"""Per-segment effects with multiplicity adjustment, and a ranking of units by expected uplift.

:func:`segment_effects` analyses each segment with one method, adjusts the p-values (Holm or
Benjamini–Hochberg) and computes every interval at the level that agrees with its adjusted
p-value; Cochran's Q tests heterogeneity and empirical-Bayes shrinkage ranks the segments.
:func:`uplift_ranking` predicts each unit's uplift from the arm-specific Lin slopes.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(5)
    >>> df = pd.DataFrame({"arm": np.tile([0, 1], 300), "rank": np.repeat(["A", "B"], 300)})
    >>> df["y"] = rng.normal(0, 1, 600) + df["arm"] * (df["rank"] == "B")
    >>> segment_effects(df, arm="arm", outcome="y", segment="rank").ranking()["segment"].tolist()
    ['B', 'A']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from supportlab.errors import ConfigError, DataValidationError
from supportlab.results import ResultMixin, json_safe
from supportlab.stats.estimation import Estimate, Method, estimate_comparison, resolve_method
from supportlab.stats.inputs import Comparison, examples, numeric_column, prepare, require_columns
from supportlab.stats.num import check_level, critical_value
from supportlab.stats.regression import fit_by_arm

__all__ = ["SegmentEffects", "segment_effects", "uplift_ranking"]


# -- multiplicity ---------------------------------------------------------------------------------


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
    _title_ja: ClassVar[str] = "セグメント別の効果"
    _hidden: ClassVar[frozenset[str]] = frozenset(
        {"estimates", "labels", "p_adjusted", "levels", "expected_uplift", "expected_uplift_sd",
         "segment", "method", "adjust"})

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
        """The fields plus ``table``, the per-segment rows of :meth:`to_frame`."""
        out = super().to_dict()
        out["table"] = json_safe(self.to_frame())
        return out

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return f"{self.segment} 別の効果（{self.method}、補正 {self.adjust}）"
        return f"effects by {self.segment} ({self.method}, {self.adjust} adjustment)"

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        cols = ["rank", "segment", "n_control", "n_treatment", "effect", "ci_lower", "ci_upper",
                "ci_level", "p_value", "p_adjusted", "expected_uplift"]
        frame = self.ranking()
        return [("ランキング" if lang == "ja" else "ranking", frame[[c for c in cols
                                                                    if c in frame.columns]])]


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
    level = check_level(confidence_level)
    alpha = 1 - level
    where = "segment_effects"
    if adjust not in ("bh", "holm", "none"):
        raise ConfigError(f"adjust == {adjust!r}", where=where, fix="use 'bh', 'holm' or 'none'")
    require_columns(df, [segment], where)
    d, _ = prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                    covariates=covariates, strata=strata, winsorize=winsorize, where=where)
    m = resolve_method(method, d)
    if m not in ("welch", "regression", "proportion"):
        raise ConfigError(f"method '{m}' is not available per segment", where=where,
                          fix="use 'welch', 'regression', 'proportion' or 'auto'")
    seg = df[segment].iloc[d.pos]
    if seg.isna().any():
        bad = seg.index[seg.isna().to_numpy()]
        raise DataValidationError(
            f"segment column '{segment}' has {len(bad)} missing value(s) ({examples(bad)})",
            where=where, fix="fill them (e.g. 'unknown') so every unit is in a segment")
    codes, uniq = pd.factorize(seg, sort=True)
    subsets: list[tuple[str, Comparison]] = []
    skipped: list[str] = []
    for k, lab in enumerate(uniq):
        mask = codes == k
        t = d.t[mask]
        if t.sum() < 2 or (~t).sum() < 2:
            skipped.append(f"{lab}: fewer than 2 units in an arm")
            continue
        sd = Comparison(y=d.y[mask], t=t, X=d.X[mask],
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
                sd = Comparison(y=sd.y[keep], t=sd.t[keep], X=sd.X[keep], strata=None,
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
        first.append(estimate_comparison(sd, sm, level, seed=None, permutations=0,
                                         resamples=0, where=where))
    p = np.array([e.p_value for e in first], dtype=float)
    p_for_adj = np.where(np.isnan(p), 1.0, p)
    p_adj = _adjust_p(p_for_adj, adjust)
    lv_alpha = _adjusted_levels(p_for_adj, alpha, adjust)
    ests = tuple(estimate_comparison(sd, sm, 1 - a, seed=None, permutations=0, resamples=0,
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
    level = check_level(confidence_level)
    where = "uplift_ranking"
    covs = (covariates,) if isinstance(covariates, str) else tuple(covariates)
    if not covs:
        raise ConfigError("uplift_ranking needs at least one covariate", where=where,
                          fix="pass the pre-period columns that may explain who gains")
    d, _ = prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                    covariates=covs, where=where)
    xbar = d.X.mean(axis=0)
    fit_t, fit_c, _ = fit_by_arm(d, d.y, where)
    target = df if candidates is None else candidates
    require_columns(target, covs, f"{where} (candidates)")
    Xn = np.column_stack([numeric_column(target[c], c, "covariate", f"{where} (candidates)")
                          for c in covs])
    C = np.column_stack([np.ones(len(Xn)), Xn - xbar])
    diff = fit_t.coef[:, 0] - fit_c.coef[:, 0]
    V = fit_t.cov[0, 0] + fit_c.cov[0, 0]
    up = C @ diff
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", C, V, C), 0))
    z = critical_value(1 - level, math.inf)
    out = target.copy()
    out["expected_uplift"] = up
    out["se"] = se
    out["ci_lower"] = up - z * se
    out["ci_upper"] = up + z * se
    out["uplift_rank"] = pd.Series(up, index=out.index).rank(ascending=False,
                                                             method="first").astype(int)
    return out.sort_values("uplift_rank")

