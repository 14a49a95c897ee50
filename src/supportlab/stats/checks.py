"""Checks that say whether an experiment's numbers can be trusted and whether it did harm.

* :func:`srm_check`: sample-ratio mismatch against the *configured* split (never an assumed
  50/50): an exact binomial test below 1,000 units, Pearson's chi-square from there on.
* :func:`balance_check`: standardized mean differences of pre-period covariates and an omnibus
  test (regression of the arm on all covariates, HC2 Wald test, F reference).
* :func:`guardrail_check`: non-inferiority of a guardrail metric with an absolute or relative
  margin (e.g. "portal logins may not drop by more than 10%").

Example:
    >>> srm_check(480, 520, control_share=0.5).mismatch
    False
    >>> srm_check(300, 700, control_share=0.5).mismatch
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from supportlab.errors import ConfigError
from supportlab.results import ResultMixin, fmt, fmt_p
from supportlab.stats.estimation import Estimate
from supportlab.stats.inputs import prepare
from supportlab.stats.num import TINY, critical_value

__all__ = ["EXACT_BELOW", "BalanceCheck", "GuardrailCheck", "SRMCheck", "balance_check",
           "guardrail_check", "srm_check"]

#: below this many units the SRM check uses the exact binomial test
EXACT_BELOW = 1000


@dataclass(frozen=True)
class SRMCheck(ResultMixin):
    """Sample-ratio mismatch: do the arm sizes fit the configured split?

    Attributes:
        n_control: control units.
        n_treatment: treatment units.
        expected_control_share: the configured share of control units.
        observed_control_share: the share found.
        p_value: two-sided p-value of "the split is as configured".
        test: ``exact binomial`` or ``chi-square``.
        threshold: p-values below it flag a mismatch.
        mismatch: ``p_value < threshold``; blocks any promotion.
    """

    _title: ClassVar[str] = "Sample-ratio check"
    _title_ja: ClassVar[str] = "サンプル比率の検定"

    n_control: int
    n_treatment: int
    expected_control_share: float
    observed_control_share: float
    p_value: float
    test: str
    threshold: float
    mismatch: bool

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return "比率の不一致（MISMATCH）" if self.mismatch else "問題なし（ok）"
        return (f"MISMATCH: the arm sizes do not fit the configured split (p={fmt_p(self.p_value)})"
                if self.mismatch else "ok")


def srm_check(n_control: int, n_treatment: int, *, control_share: float,
              threshold: float = 0.001) -> SRMCheck:
    """Test the arm sizes against the configured split.

    Args:
        n_control: units analysed in the control arm.
        n_treatment: units analysed in the treatment arm.
        control_share: the configured share of control units (required: a 30/70 design must
            not be checked against 50/50).
        threshold: flag a mismatch below this p-value (0.001 by convention, since the check
            runs on every report).

    Returns:
        An :class:`SRMCheck`.

    Example:
        >>> r = srm_check(290, 710, control_share=0.3)
        >>> r.test, r.mismatch
        ('chi-square', False)
    """
    if not 0 < control_share < 1:
        raise ConfigError(f"control_share == {control_share!r}, must be in (0, 1)",
                          where="srm_check", fix="give the design's share of control units")
    if not 0 < threshold < 1:
        raise ConfigError(f"threshold == {threshold!r}, must be in (0, 1)", where="srm_check")
    nc, nt = int(n_control), int(n_treatment)
    if nc < 0 or nt < 0 or nc + nt == 0:
        raise ConfigError(f"arm sizes {n_control!r} and {n_treatment!r} must be non-negative "
                          "with a positive total", where="srm_check")
    n = nc + nt
    if n < EXACT_BELOW:
        p = float(stats.binomtest(nc, n, control_share).pvalue)
        test = "exact binomial"
    else:
        p = float(stats.chisquare([nc, nt], [n * control_share, n * (1 - control_share)]).pvalue)
        test = "chi-square"
    p = max(p, TINY)  # below the smallest float, report the smallest float, never 0
    return SRMCheck(n_control=nc, n_treatment=nt, expected_control_share=float(control_share),
                    observed_control_share=nc / n, p_value=p, test=test,
                    threshold=float(threshold), mismatch=p < threshold)


@dataclass(frozen=True)
class BalanceCheck(ResultMixin):
    """Covariate balance between the arms.

    Attributes:
        table: per covariate: means per arm, standardized mean difference (SMD).
        omnibus_f: F statistic of "no covariate predicts the arm" (HC2 Wald / k).
        omnibus_df: its degrees of freedom (k, n − k − 1).
        omnibus_p: its p-value.
        smd_threshold: |SMD| above it is flagged.
        imbalanced: covariates with |SMD| above the threshold.
    """

    _title: ClassVar[str] = "Covariate balance"
    _title_ja: ClassVar[str] = "共変量のバランス"

    table: pd.DataFrame
    omnibus_f: float
    omnibus_df: tuple[int, int]
    omnibus_p: float
    smd_threshold: float
    imbalanced: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The per-covariate table."""
        return self.table.copy()

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return (f"不均衡な共変量 {len(self.imbalanced)} 件" if self.imbalanced
                    else "均衡（不均衡な共変量なし）")
        return (f"{len(self.imbalanced)} imbalanced covariate(s): {', '.join(self.imbalanced)}"
                if self.imbalanced else "balanced")


def balance_check(df: pd.DataFrame, *, arm: str, covariates: Sequence[str] | str,
                  control: Any = None, treatment: Any = None,
                  smd_threshold: float = 0.1) -> BalanceCheck:
    """Standardized mean differences and an omnibus test of covariate balance.

    SMD = (mean_t − mean_c) / sqrt((s²_t + s²_c)/2). The omnibus test regresses the arm
    indicator on all covariates and tests them jointly with an HC2 Wald statistic divided by
    k, referred to F(k, n − k − 1). Under randomization imbalance is chance, so a small p-value
    points at a broken assignment or at post-randomization data, not at a reason to adjust.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"arm": np.tile([0, 1], 2000), "x": rng.normal(0, 1, 4000)})
        >>> balance_check(df, arm="arm", covariates=["x"]).imbalanced
        ()
    """
    covs = (covariates,) if isinstance(covariates, str) else tuple(covariates)
    if not covs:
        raise ConfigError("balance_check needs at least one covariate", where="balance_check")
    first = covs[0]
    d, ext = prepare(df, arm=arm, outcome=first, control=control, treatment=treatment,
                      where="balance_check", extra=list(covs[1:]))
    X = np.column_stack([d.y, *[ext[c] for c in covs[1:]]])
    rows = []
    for j, c in enumerate(covs):
        xt, xc = X[d.t, j], X[~d.t, j]
        pooled = math.sqrt((xt.var(ddof=1) + xc.var(ddof=1)) / 2)
        diff = xt.mean() - xc.mean()
        smd = diff / pooled if pooled > 0 else (0.0 if diff == 0 else math.inf)
        rows.append({"covariate": c, "mean_control": float(xc.mean()),
                     "mean_treatment": float(xt.mean()), "smd": float(smd)})
    table = pd.DataFrame(rows)
    n = X.shape[0]
    keep = X.std(axis=0) > 0
    Z = np.column_stack([np.ones(n), X[:, keep] - X[:, keep].mean(axis=0)])
    y = d.t.astype(float)
    G = Z.T @ Z
    try:
        Ginv = np.linalg.inv(G)
    except np.linalg.LinAlgError:
        Ginv = np.linalg.pinv(G)
    b = Ginv @ (Z.T @ y)
    e = y - Z @ b
    h = np.einsum("ij,jk,ik->i", Z, Ginv, Z)
    w = e * e / np.clip(1 - h, 1e-12, None)
    V = Ginv @ (Z.T @ (Z * w[:, None])) @ Ginv
    kk = int(keep.sum())
    if kk:
        bb = b[1:]
        wald = float(bb @ np.linalg.solve(V[1:, 1:], bb))
        f = wald / kk
        dfd = n - kk - 1
        p = float(stats.f.sf(f, kk, dfd))
    else:
        f, dfd, p = math.nan, n - 1, math.nan
    imb = tuple(r["covariate"] for r in rows if abs(r["smd"]) > smd_threshold)
    return BalanceCheck(table=table, omnibus_f=f, omnibus_df=(kk, dfd), omnibus_p=p,
                        smd_threshold=smd_threshold, imbalanced=imb)


@dataclass(frozen=True)
class GuardrailCheck(ResultMixin):
    """Non-inferiority of a guardrail metric.

    Attributes:
        metric: the guardrail's outcome.
        margin: the tolerated change on the harmful side (positive number).
        relative: whether ``margin`` is relative (0.10 = 10%) or absolute.
        better: ``higher`` (a drop is harm) or ``lower`` (a rise is harm).
        alpha: one-sided error rate of the non-inferiority test.
        effect: the estimate (relative or absolute, matching ``margin``).
        lower: one-sided ``1 − α`` bound on the harmful side.
        upper: the other one-sided bound.
        p_value: p-value of "the change is at least the margin" (non-inferiority test).
        status: ``ok`` (non-inferiority shown), ``breached`` (confidently beyond the margin)
            or ``inconclusive``.
        n_control, n_treatment: units analysed per arm.
        mean_control, mean_treatment: the arms' plain (unadjusted) means.
    """

    _title: ClassVar[str] = "Guardrail"
    _title_ja: ClassVar[str] = "ガードレール"

    metric: str
    margin: float
    relative: bool
    better: str
    alpha: float
    effect: float
    lower: float
    upper: float
    p_value: float
    status: Literal["ok", "breached", "inconclusive"]
    n_control: int = 0
    n_treatment: int = 0
    mean_control: float = math.nan
    mean_treatment: float = math.nan

    def _headline(self, lang: str) -> str:
        side = "drop" if self.better == "higher" else "rise"
        m = fmt(self.margin, pct=True) if self.relative else fmt(self.margin)
        if lang == "ja":
            return f"{self.metric}: {self.status}（許容幅 {m}）"
        return f"{self.metric}: {self.status} (allowed {side} {m})"

    def _is_percent(self, name: str) -> bool:
        if name in ("effect", "lower", "upper", "interval", "margin"):
            return self.relative
        return super()._is_percent(name)


def guardrail_check(estimate: Estimate, *, margin: float, relative: bool = True,
                    better: Literal["higher", "lower"] = "higher", alpha: float = 0.05,
                    metric: str | None = None) -> GuardrailCheck:
    """Non-inferiority test of a guardrail metric's estimate.

    With ``better="higher"`` the hypotheses are H0: change ≤ −margin against H1: change >
    −margin, tested with the estimate's own reference distribution (t with its degrees of
    freedom, or normal) at one-sided level ``alpha``. ``relative=True`` uses ``rel_effect``
    and its delta-method standard error, so ``margin=0.10`` reads "may not drop by 10% or more"
    (the ``max_drop: 0.10`` of an experiment file).

    Args:
        estimate: the guardrail metric's :class:`Estimate`.
        margin: tolerated change on the harmful side (> 0).
        relative: margin on the relative scale (default) or in outcome units.
        better: ``higher`` when a drop is harm, ``lower`` when a rise is harm.
        alpha: one-sided error rate.
        metric: name to show (default: the estimate's outcome).

    Returns:
        A :class:`GuardrailCheck`.

    Example:
        >>> from supportlab.stats.estimation import analyze
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(4)
        >>> df = pd.DataFrame({"arm": np.tile([0, 1], 1000), "logins": rng.poisson(10, 2000)})
        >>> guardrail_check(analyze(df, arm="arm", outcome="logins"), margin=0.10).status
        'ok'
    """
    if not (margin > 0 and math.isfinite(margin)):
        raise ConfigError(f"margin == {margin!r}, must be a positive number",
                          where="guardrail_check", fix="e.g. 0.10 for 'may not drop by 10%'")
    if better not in ("higher", "lower"):
        raise ConfigError(f"better == {better!r}", where="guardrail_check",
                          fix="use 'higher' or 'lower'")
    if not 0 < alpha < 0.5:
        raise ConfigError(f"alpha == {alpha!r}, must be in (0, 0.5)", where="guardrail_check")
    if relative and not estimate.mean_control > 0:
        raise ConfigError(
            f"a relative margin needs a positive control mean; {estimate.outcome!r} has "
            f"{estimate.mean_control:.4g} in control, so a relative change has no meaning",
            where="guardrail_check",
            fix="give the margin in outcome units (relative=False), e.g. the allowed drop "
                "as an absolute amount")
    eff, se = ((estimate.rel_effect, estimate.rel_se) if relative
               else (estimate.effect, estimate.se))
    df = estimate.df
    sign = 1 if better == "higher" else -1
    if relative and margin >= 1 and better == "higher":
        raise ConfigError(f"margin == {margin!r}: a drop of 100% or more is no guardrail",
                          where="guardrail_check", fix="give a relative margin below 1")
    counts = _arm_counts(estimate)
    if not (math.isfinite(eff) and se > 0) or (relative and not 1 + eff > 0):
        return GuardrailCheck(metric=metric or estimate.outcome, margin=float(margin),
                              relative=relative, better=better, alpha=alpha, effect=eff,
                              lower=math.nan, upper=math.nan, p_value=math.nan,
                              status="inconclusive", **counts)
    c = critical_value(2 * alpha, df)
    if relative:
        # the ratio m_t/m_c is skewed to the right: its symmetric interval misplaces the upper
        # bound (a "may not rise by 10%" guardrail passed 8% of the time at the margin). Test
        # on the log scale, where the ratio is near-symmetric, and map the bounds back.
        log_r, log_se = math.log1p(eff), se / (1 + eff)
        lo, hi = math.expm1(log_r - c * log_se), math.expm1(log_r + c * log_se)
        bound = math.log1p(-margin) if better == "higher" else math.log1p(margin)
        stat = sign * (log_r - bound) / log_se
    else:
        lo, hi = eff - c * se, eff + c * se
        # distance from the non-inferiority boundary, on the good side
        stat = (sign * eff + margin) / se
    logp = stats.norm.logsf(stat) if not math.isfinite(df) else stats.t.logsf(stat, df)
    p = float(max(min(math.exp(logp), 1.0), TINY))
    harmful_bound = lo if better == "higher" else hi
    other_bound = hi if better == "higher" else lo
    if sign * harmful_bound > -margin:
        status: Literal["ok", "breached", "inconclusive"] = "ok"
    elif sign * other_bound < -margin:
        status = "breached"
    else:
        status = "inconclusive"
    return GuardrailCheck(metric=metric or estimate.outcome, margin=float(margin),
                          relative=relative, better=better, alpha=alpha, effect=float(eff),
                          lower=float(lo), upper=float(hi), p_value=p, status=status, **counts)


def _arm_counts(estimate: Estimate) -> dict[str, Any]:
    """The raw counts and plain means a guardrail shows beside its test."""
    return {"n_control": int(estimate.n_control), "n_treatment": int(estimate.n_treatment),
            "mean_control": float(estimate.raw_mean_control),
            "mean_treatment": float(estimate.raw_mean_treatment)}
