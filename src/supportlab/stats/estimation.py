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

Also here: ratio metrics with the delta method (:func:`ratio_effect`). Neighbours: input
preparation in :mod:`.inputs`, numerical helpers in :mod:`.num`, the Lin fit in
:mod:`.regression`, the complier effect in :mod:`.complier`, per-segment effects and the uplift
ranking in :mod:`.segments` (their names stay importable from here). The formulas and their
sources are in ``docs/statistics.md``.

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

import importlib
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from supportlab.errors import ConfigError, DataValidationError
from supportlab.results import ResultMixin
from supportlab.stats.inputs import Comparison, examples, is_binary, prepare, thin_warnings
from supportlab.stats.num import (
    SeedLike,
    check_level,
    critical_value,
    invert_test,
    make_rng,
    newcombe_interval,
    newcombe_p_value,
    relative_interval,
    t_interval,
)
from supportlab.stats.regression import adjusters, fit_by_arm

__all__ = [
    "METHODS",
    "Estimate",
    "Method",
    "SeedLike",
    "analyze",
    "estimate_comparison",
    "newcombe_interval",
    "newcombe_p_value",
    "ratio_effect",
    "resolve_method",
]

#: method names accepted by :func:`analyze` and ``supportlab analyze --method``
METHODS = ("auto", "welch", "regression", "proportion", "permutation", "bootstrap")

Method = Literal["auto", "welch", "regression", "proportion", "permutation", "bootstrap"]

# names that moved to neighbouring modules stay importable from here
_MOVED = {
    "ComplierEstimate": "supportlab.stats.complier",
    "complier_effect": "supportlab.stats.complier",
    "SegmentEffects": "supportlab.stats.segments",
    "segment_effects": "supportlab.stats.segments",
    "uplift_ranking": "supportlab.stats.segments",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
    _title_ja: ClassVar[str] = "推定（割付による効果、ITT）"
    _order: ClassVar[tuple[str, ...]] = (
        "n_control", "n_treatment", "mean_control", "mean_treatment", "effect", "ci_lower",
        "ci_upper", "p_value", "rel_effect", "rel_ci_lower", "rel_ci_upper", "se", "df")
    _hidden: ClassVar[frozenset[str]] = frozenset(
        {"method", "outcome", "arm", "control", "treatment", "confidence_level", "rel_se",
         "details"})

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
        return critical_value(1 - level, self.df)

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return (f"{self.outcome}（{self.treatment} 対 {self.control}、{self.method}、"
                    f"{self.confidence_level * 100:g}% 信頼区間）")
        return (f"{self.method}: {self.outcome} by {self.arm} ({self.treatment} vs "
                f"{self.control}), {self.confidence_level * 100:g}% intervals")


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




def _welch_core(yt: np.ndarray, yc: np.ndarray, alpha: float) -> _Core:
    nt, nc = len(yt), len(yc)
    mt, mc = float(yt.mean()), float(yc.mean())
    vt, vc = float(yt.var(ddof=1)) / nt, float(yc.var(ddof=1)) / nc
    se = math.sqrt(vt + vc)
    denom = vt**2 / (nt - 1) + vc**2 / (nc - 1)
    df = (vt + vc) ** 2 / denom if denom > 0 else math.nan
    ci, p = t_interval(mt - mc, se, df, alpha)
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
    ci, p = t_interval(mt - mc, se, df, alpha)
    core = _Core("poststratified", mt, mc, mt - mc, se, df, ci, p, vt, vc)
    # The adjusted means are levels: as estimates of the population means they also carry the
    # sampling noise of the stratum shares, Var(Σ w_s μ_s) = (Σ w_s μ_s² − (Σ w_s μ_s)²) / n.
    # It cancels in the difference, not in the ratio, so it enters the relative interval only.
    n = float(len(y))
    ext_t = float(np.sum(w * cells["m_t"] ** 2) - mt**2) / n
    ext_c = float(np.sum(w * cells["m_c"] ** 2) - mc**2) / n
    ext_tc = float(np.sum(w * cells["m_t"] * cells["m_c"]) - mt * mc) / n
    core.rel = relative_interval(mt - mc, mc, vt + vc + ext_t + ext_c - 2 * ext_tc, vc + ext_c,
                    ext_tc - vc - ext_c, critical_value(alpha, df))
    core.notes.append(f"post-stratified on {n_s} strata (weights = stratum shares); "
                      "Satterthwaite degrees of freedom")
    return core




def _proportion_core(yt: np.ndarray, yc: np.ndarray, alpha: float) -> _Core:
    nt, nc = len(yt), len(yc)
    xt, xc = float(yt.sum()), float(yc.sum())
    pt, pc = xt / nt, xc / nc
    z = critical_value(alpha, math.inf)
    lo, hi = newcombe_interval(xt, nt, xc, nc, z)
    p = float(newcombe_p_value(xt, nt, xc, nc))
    vt, vc = pt * (1 - pt) / nt, pc * (1 - pc) / nc
    core = _Core("proportion", pt, pc, pt - pc, math.sqrt(vt + vc), math.inf,
                 (float(lo), float(hi)), p, vt, vc)
    core.notes.append("Newcombe hybrid score interval; p-value dual to it (p < α exactly when "
                      "the interval excludes 0); se is the Wald standard error, for reference")
    return core



def _regression_core(d: Comparison, alpha: float, where: str) -> _Core:
    """Lin (2013): y ~ 1 + T + Xc + T·Xc with HC2 errors, fitted as one regression per arm.

    The interacted model is block-diagonal by arm, so its coefficients, leverages and HC2
    covariance equal those of separate regressions on ``[1, Xc]`` in each arm; the treatment
    coefficient is the difference of the two intercepts (the adjusted means).
    """
    fit_t, fit_c, names = fit_by_arm(d, d.y, where)
    mt, mc = float(fit_t.coef[0, 0]), float(fit_c.coef[0, 0])
    vt, vc = float(fit_t.cov[0, 0, 0, 0]), float(fit_c.cov[0, 0, 0, 0])
    se = math.sqrt(max(vt + vc, 0.0))
    if se <= 1e-10 * max(1.0, abs(mt), abs(mc)):  # rounding noise of a perfect fit, not data
        vt = vc = se = 0.0
    df = float(len(d.y) - 2 * (len(names) + 1))
    ci, p = t_interval(mt - mc, se, df, alpha)
    core = _Core("regression", mt, mc, mt - mc, se, df, ci, p, vt, vc)
    # The adjusted means are centred at the pooled covariate means, themselves estimates: as
    # estimates of the population means each carries β'Σβ/n more variance (and the two a
    # covariance β_t'Σβ_c/n). That noise cancels in the difference when β_t = β_c but never in
    # the ratio, so it enters the relative interval (the absolute one stays Lin's HC2).
    A, _ = adjusters(d)
    if A.shape[1]:
        n = float(len(d.y))
        sigma = np.atleast_2d(np.cov(A, rowvar=False))
        bt, bc = fit_t.coef[1:, 0], fit_c.coef[1:, 0]
        ext_t, ext_c = float(bt @ sigma @ bt) / n, float(bc @ sigma @ bc) / n
        ext_tc = float(bt @ sigma @ bc) / n
        core.rel = relative_interval(mt - mc, mc, vt + vc + ext_t + ext_c - 2 * ext_tc, vc + ext_c,
                        ext_tc - vc - ext_c, critical_value(alpha, df))
    core.notes.append("regression adjustment (Lin 2013): arm × centred "
                      + (", ".join(names) if names else "nothing (no covariates)")
                      + "; HC2 standard errors; t with n − 2(k+1) degrees of freedom")
    core.details["adjusters"] = names
    return core


# -- permutation ----------------------------------------------------------------------------------


def _residualize(d: Comparison, v: np.ndarray) -> np.ndarray:
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


def _permutation_core(d: Comparison, alpha: float, permutations: int, seed: SeedLike,
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
    rng, used_seed = make_rng(seed)
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

    lo, hi = invert_test(pval, est, step, alpha)
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


def _bootstrap_core(d: Comparison, alpha: float, resamples: int, seed: SeedLike,
                    ref: _Core) -> _Core:
    """Stratified bootstrap with the expanded percentile interval, for the difference and the
    relative effect (arms, and strata when given, are resampled separately)."""
    if resamples < 200:
        raise ConfigError(f"bootstrap resamples == {resamples}, too few for an interval",
                          fix="use at least 1000; 5000 is the default")
    rng, used_seed = make_rng(seed)
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
        return float(2 * stats.norm.sf(factor * critical_value(a, ref.df)))

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



def _estimate(d: Comparison, core: _Core, level: float, extra_warnings: Sequence[str] = ()
              ) -> Estimate:
    alpha = 1 - level
    crit = critical_value(alpha, core.df)
    if core.rel is not None:
        rel, rel_se, rlo, rhi = core.rel
    else:
        rel, rel_se, rlo, rhi = relative_interval(core.effect, core.mean_c,
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


def resolve_method(method: str, d: Comparison) -> str:
    """The method ``auto`` stands for on ``d`` (or ``method`` itself, validated).

    Raises:
        ConfigError: an unknown method name.
    """
    m = str(method).strip().lower()
    if m not in METHODS:
        raise ConfigError(f"method {method!r} is not known",
                          fix=f"use one of {', '.join(METHODS)}")
    if m == "auto":
        if d.covariates:
            return "regression"
        return "proportion" if is_binary(d.y) else "welch"
    return m


def estimate_comparison(d: Comparison, method: str, level: float, *, seed: SeedLike,
                        permutations: int, resamples: int, where: str,
                        thin: bool = True) -> Estimate:
    """Run ``method`` on a prepared :class:`~supportlab.stats.inputs.Comparison`.

    The core of :func:`analyze`, shared with the complier and per-segment estimators.

    Args:
        d: the prepared comparison.
        method: one of :data:`METHODS`.
        level: confidence level (already checked).
        seed: seed of the permutation or bootstrap draws.
        permutations: re-randomizations of ``permutation``.
        resamples: resamples of ``bootstrap``.
        where: names the caller in error messages.
        thin: add warnings about thin data.

    Returns:
        The :class:`Estimate`.
    """
    alpha = 1 - level
    m = resolve_method(method, d)
    binary = is_binary(d.y)
    if m == "proportion" and not binary:
        bad = np.flatnonzero((d.y != 0) & (d.y != 1))
        raise DataValidationError(
            f"method 'proportion' needs a 0/1 outcome; '{d.outcome}' has other values "
            f"({examples(d.index[bad], d.y[bad])})", where=where,
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
    extra = thin_warnings(d, binary) if thin and m != "permutation" else []
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
    level = check_level(confidence_level)
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
    d, _ = prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                    covariates=covariates, strata=strata, winsorize=winsorize)
    return estimate_comparison(d, method, level, seed=seed, permutations=int(permutations),
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
    level = check_level(confidence_level)
    d, ext = prepare(df, arm=arm, outcome=numerator, control=control, treatment=treatment,
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
    ci, p = t_interval(rt - rc, se, math.inf, alpha)
    core = _Core("ratio", rt, rc, rt - rc, se, math.inf, ci, p, vt, vc)
    core.notes.append(f"ratio metric Σ{numerator} / Σ{denominator} per arm; delta-method "
                      "variance with the numerator–denominator covariance; normal interval")
    d.outcome = f"{numerator}/{denominator}"
    core.details["denominator"] = denominator
    est = _estimate(d, core, level)
    return est


