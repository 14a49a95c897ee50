"""Simulation check of supportlab's estimators: false-positive rate, coverage, repeated looks.

Runs the library's own code (``supportlab.analyze``, ``supportlab.stats.sequential``) on simulated
partner experiments and reports, per method:

* the false-positive rate at α = 0.05 over A/A experiments (no effect),
* the coverage of the 95% interval (absolute and relative effect) under a known effect,
* for repeated looks: the chance that *any* of 12 weekly looks declares an effect, with naive
  peeking at fixed-horizon intervals and with the always-valid confidence sequence.

The data-generating process is meant to look like a partner programme, not to flatter the
methods: 300 partners, 30% of them without any revenue in the window (zero inflation), the rest
lognormal with σ = 1 on the log scale (skewness ≈ 6), and a pre-period covariate of the same
heavy-tailed kind correlated with the outcome through a latent partner level.

With ``--extended`` it also checks post-stratification on the randomization strata, the ratio
metric (``ratio_effect``), the complier effect under one-sided non-compliance
(``complier_effect``, Anderson–Rubin interval), per-segment intervals with Benjamini–Hochberg and
Holm adjustment (``segment_effects``: familywise error, false discovery and false coverage rates)
and guardrail non-inferiority (``guardrail_check`` with the true change exactly at the margin).

Usage::

    python validation/validate_estimators.py            # 4,000 experiments per cell, ~2 min
    python validation/validate_estimators.py --sims 4000 --bootstrap-variants --extended \
        --json validation/results.json                  # the documented run, ~3 min
    python validation/validate_estimators.py --sims 2000 --workers 2 --json results.json

Every experiment is seeded from ``--seed`` through ``numpy.random.SeedSequence``, so the figures
are reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

import supportlab
from supportlab.errors import DataValidationError
from supportlab.stats.checks import guardrail_check
from supportlab.stats.estimation import analyze, complier_effect, ratio_effect, segment_effects
from supportlab.stats.power import mde
from supportlab.stats.sequential import confidence_sequence

N = 300
ALPHA = 0.05
EFFECT = 0.3  # additive effect on the revenue-like outcome (≈ 20% of the control mean)
EFFECT_BINARY = 0.08  # on the probability of the 0/1 outcome
PERMUTATIONS = 999
RESAMPLES = 1999
LOOKS = 12


def control_mean() -> float:
    """E[y(0)] of the process below, in closed form (for the relative effect's truth).

    ``y = 1{a + u > −0.75} · exp(0.8a + 0.6e)`` with a, u, e iid N(0, 1): tilting a by
    exp(0.8a) shifts it to N(0.8, 1), so E = exp(0.32 + 0.18) · Φ((0.8 + 0.75)/√2).
    """
    return math.exp(0.5) * float(stats.norm.cdf(1.55 / math.sqrt(2)))


def draw(rng: np.random.Generator, n: int, control_share: float, effect: float,
         effect_binary: float) -> pd.DataFrame:
    """One simulated experiment (complete randomization with a fixed control share)."""
    n_c = round(n * control_share)
    t = rng.permutation(np.r_[np.zeros(n_c, dtype=int), np.ones(n - n_c, dtype=int)])
    a = rng.normal(0, 1, n)
    active = a + rng.normal(0, 1, n) > -0.75
    active_pre = a + rng.normal(0, 1, n) > -0.75
    y = active * np.exp(0.8 * a + 0.6 * rng.normal(0, 1, n)) + effect * t
    x = active_pre * np.exp(0.8 * a + 0.6 * rng.normal(0, 1, n))
    p = 1 / (1 + np.exp(-(-0.8 + 0.8 * a)))
    b = (rng.random(n) < p + effect_binary * t).astype(int)
    return pd.DataFrame({"arm": t, "y": y, "x": x, "won": b})


@dataclass(frozen=True)
class Cell:
    """One row of the report: a method on one scenario."""

    name: str
    method: str
    outcome: str
    covariates: tuple[str, ...] = ()
    control_share: float = 0.5


CELLS = (
    Cell("welch", "welch", "y"),
    Cell("regression (pre-period covariate)", "regression", "y", ("x",)),
    Cell("proportion (0/1 outcome)", "proportion", "won"),
    Cell(f"permutation ({PERMUTATIONS} re-randomizations)", "permutation", "y"),
    Cell(f"bootstrap (expanded percentile, {RESAMPLES} resamples)", "bootstrap", "y"),
    Cell("welch, 30/70 allocation (stress)", "welch", "y", (), 0.3),
    Cell("regression, 30/70 allocation (stress)", "regression", "y", ("x",), 0.3),
)


def run_cell(args: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    """Simulate ``sims`` A/A and ``sims`` effect experiments of one cell."""
    cell_i, sims, seed, part = args
    cell = CELLS[cell_i]
    rng = np.random.default_rng(np.random.SeedSequence([seed, cell_i, part]))
    truth_rel = EFFECT / control_mean()
    rejected = np.zeros(sims, dtype=bool)
    covered = np.zeros(sims, dtype=bool)
    covered_rel = np.zeros(sims, dtype=bool)
    width = np.zeros(sims)
    binary = cell.outcome == "won"
    for i in range(sims):
        kw = {"method": cell.method, "covariates": list(cell.covariates),
              "permutations": PERMUTATIONS, "resamples": RESAMPLES,
              "seed": int(rng.integers(2**31))}
        aa = draw(rng, N, cell.control_share, 0.0, 0.0)
        rejected[i] = analyze(aa, arm="arm", outcome=cell.outcome, **kw).p_value < ALPHA
        eff = draw(rng, N, cell.control_share, EFFECT, EFFECT_BINARY)
        est = analyze(eff, arm="arm", outcome=cell.outcome, **kw)
        truth = EFFECT_BINARY if binary else EFFECT
        covered[i] = est.ci_lower <= truth <= est.ci_upper
        width[i] = est.ci_upper - est.ci_lower
        if not binary:
            covered_rel[i] = est.rel_ci_lower <= truth_rel <= est.rel_ci_upper
    return {"rejected": rejected, "covered": covered, "covered_rel": covered_rel,
            "width": width, "binary": np.array([binary])}


def weekly(rng: np.random.Generator, n: int, looks: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative weekly revenue of a fixed set of partners (A/A): persistent partner levels."""
    t = rng.permutation(np.repeat([0, 1], n // 2))
    a = rng.normal(0, 1, n)
    active = a + rng.normal(0, 1, n) > -0.75
    inc = active[:, None] * np.exp(0.8 * a[:, None] + 0.6 * rng.normal(0, 1, (n, looks))
                                   ) / looks
    return t, np.cumsum(inc, axis=1)


def run_sequential(args: tuple[int, int, int, float, str]) -> dict[str, np.ndarray]:
    """A/A experiments looked at 12 times: naive peeking against the confidence sequence."""
    sims, seed, part, rho, design = args
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99, part]))
    naive = np.zeros(sims, dtype=bool)
    cs = np.zeros(sims, dtype=bool)
    harm = np.zeros(sims, dtype=bool)
    final = np.zeros(sims, dtype=bool)
    for i in range(sims):
        eff, se, p = np.zeros(LOOKS), np.zeros(LOOKS), np.zeros(LOOKS)
        if design == "fixed partners":
            t, cum = weekly(rng, N, LOOKS)
            frames = [pd.DataFrame({"arm": t, "y": cum[:, k]}) for k in range(LOOKS)]
        else:  # partners join week by week (25 a week); each look sees all joined so far
            full = draw(rng, N, 0.5, 0.0, 0.0)
            ctrl = np.flatnonzero(full["arm"] == 0)
            trt = np.flatnonzero(full["arm"] == 1)
            frames = []
            for k in range(LOOKS):
                m = round(len(ctrl) * (k + 1) / LOOKS)
                frames.append(full.iloc[np.r_[ctrl[:m], trt[:m]]])
        for k, f in enumerate(frames):
            e = analyze(f, arm="arm", outcome="y", method="welch")
            eff[k], se[k], p[k] = e.effect, e.se, e.p_value
        lo, hi = confidence_sequence(eff, se, mixture_sd=rho, alpha=ALPHA)
        naive[i] = np.any(p < ALPHA)
        cs[i] = np.any((lo > 0) | (hi < 0))
        harm[i] = np.any(hi < 0)
        final[i] = p[-1] < ALPHA
    return {"naive": naive, "cs": cs, "harm": harm, "final": final}


def bootstrap_variants(args: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Why the bootstrap method uses the expanded percentile interval: four interval types on
    the same resamples (the library's method is the expanded percentile one)."""
    sims, seed, part = args
    rng = np.random.default_rng(np.random.SeedSequence([seed, 55, part]))
    kinds = ("percentile", "expanded percentile", "BCa", "bootstrap-t")
    rej = {k: np.zeros(sims, dtype=bool) for k in kinds}
    cov = {k: np.zeros(sims, dtype=bool) for k in kinds}
    z = stats.norm.isf(ALPHA / 2)
    for i in range(sims):
        for effect, store in ((0.0, rej), (EFFECT, cov)):
            df = draw(rng, N, 0.5, effect, 0.0)
            t = df["arm"].to_numpy() == 1
            yt, yc = df["y"].to_numpy()[t], df["y"].to_numpy()[~t]
            nt, nc = len(yt), len(yc)
            theta = yt.mean() - yc.mean()
            vt, vc = yt.var(ddof=1) / nt, yc.var(ddof=1) / nc
            se = math.sqrt(vt + vc)
            bt = yt[rng.integers(0, nt, (RESAMPLES, nt))]
            bc = yc[rng.integers(0, nc, (RESAMPLES, nc))]
            d = bt.mean(axis=1) - bc.mean(axis=1)
            tstar = (d - theta) / np.sqrt(bt.var(axis=1, ddof=1) / nt
                                          + bc.var(axis=1, ddof=1) / nc)
            df_w = (vt + vc) ** 2 / (vt**2 / (nt - 1) + vc**2 / (nc - 1))
            f = math.sqrt((vt + vc) / (vt * (nt - 1) / nt + vc * (nc - 1) / nc))
            a_exp = 2 * stats.norm.sf(f * stats.t.isf(ALPHA / 2, df_w))
            infl = np.r_[(yt - yt.mean()) / nt, -(yc - yc.mean()) / nc]
            acc = np.sum(infl**3) / (6 * np.sum(infl**2) ** 1.5)
            z0 = stats.norm.ppf(np.clip(np.mean(d < theta), 0.5 / RESAMPLES,
                                        1 - 0.5 / RESAMPLES))
            q = [stats.norm.cdf(z0 + (z0 + zz) / (1 - acc * (z0 + zz))) for zz in (-z, z)]
            ci = {
                "percentile": np.quantile(d, [ALPHA / 2, 1 - ALPHA / 2]),
                "expanded percentile": np.quantile(d, [a_exp / 2, 1 - a_exp / 2]),
                "BCa": np.quantile(d, q),
                "bootstrap-t": theta - np.quantile(tstar, [1 - ALPHA / 2, ALPHA / 2]) * se,
            }
            for k, (lo, hi) in ci.items():
                store[k][i] = (lo > 0 or hi < 0) if effect == 0 else (lo <= effect <= hi)
    return {**{f"fpr:{k}": v for k, v in rej.items()}, **{f"cov:{k}": v for k, v in cov.items()}}


# -- extended sections (--extended) ---------------------------------------------------------------
#
# Post-stratification, ratio metrics, the complier effect, per-segment intervals with multiplicity
# adjustment and guardrail non-inferiority. Same partner-like outcome as above (`_revenue`), new
# structure around it; every truth below is exact (closed form or Gauss–Hermite quadrature).

RANK_SHARES = (0.4, 0.3, 0.2, 0.1)  # registered, silver, gold, platinum
RANK_EFFECTS = (0.1, 0.2, 0.5, 1.0)  # effect differing by rank: Σ share·effect = 0.3 = EFFECT
# rank: a + N(0, 0.5²) (a partner level seen with noise) cut at the quantiles of N(0, 1.25)
RANK_CUTS = math.sqrt(1.25) * stats.norm.ppf(np.cumsum(RANK_SHARES)[:-1])
DEALS_LIFT = 1.1  # ratio metric: the package brings 10% more deals ...
VALUE_LIFT = 1.2  # ... and 20% more revenue per won deal: won revenue per deal +20% exactly
COMPLIER_EFFECT = 0.6  # effect on the outcome of partners who open the package (none otherwise)
SEGMENT_SHARES = (0.18, 0.16, 0.14, 0.12, 0.12, 0.10, 0.10, 0.08)  # 8 regions
SEGMENT_SHIFT = np.linspace(-0.3, 0.3, len(SEGMENT_SHARES))  # on the latent partner level
SEGMENT_EFFECT = 1.5  # in 3 of the 8 segments in the "mixed" scenario
SEGMENTS_WITH_EFFECT = (0, 2, 5)
GUARD_MARGIN = 0.10  # max_drop / max_rise of 10%; the true change sits exactly at it


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _revenue(rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
    """The revenue-like outcome of ``draw`` for partner levels ``a`` (30% zeros, skewness ≈ 6)."""
    n = len(a)
    active = a + rng.normal(0, 1, n) > -0.75
    return active * np.exp(0.8 * a + 0.6 * rng.normal(0, 1, n))


def _assign(rng: np.random.Generator, n: int, strata: np.ndarray | None = None,
            control_share: float = 0.5) -> np.ndarray:
    """Complete randomization, or half of every stratum (odd sizes: a coin flip for the extra)."""
    if strata is None:
        n_c = round(n * control_share)
        return rng.permutation(np.r_[np.zeros(n_c, dtype=int), np.ones(n - n_c, dtype=int)])
    t = np.zeros(n, dtype=int)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        k = len(idx) // 2 + int(len(idx) % 2 == 1 and rng.random() < 0.5)
        t[rng.choice(idx, k, replace=False)] = 1
    return t


def _gauss_mean(f: Callable[[np.ndarray], np.ndarray]) -> float:
    """E[f(a)] for a ~ N(0, 1) by 80-point Gauss–Hermite quadrature."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    return float(np.sum(w * f(x)) / np.sum(w))


def _deal_rate(a: np.ndarray) -> np.ndarray:
    return np.exp(0.4 + 0.7 * a)


def _win_prob(a: np.ndarray) -> np.ndarray:
    return _logistic(-0.5 + 0.6 * a)


def ratio_truth() -> float:
    """Won revenue per deal in control, E[X]/E[D]: D ~ Poisson(λ(a)), each deal won with
    probability q(a) and worth exp(0.5a + 0.8e) when won, so E[X | a] = λ q exp(0.5a + 0.32)."""
    return (_gauss_mean(lambda a: _deal_rate(a) * _win_prob(a) * np.exp(0.5 * a + 0.32))
            / _gauss_mean(_deal_rate))


def draw_ranked(rng: np.random.Generator, n: int, effect: float, *, stratified: bool,
                regions: int = 1, by_rank: bool = False) -> pd.DataFrame:
    """Partners in 4 ranks (40/30/20/10%, from the partner level: higher ranks earn more),
    optionally × ``regions``; randomized within the strata or completely (150/150)."""
    a = rng.normal(0, 1, n)
    rank = np.searchsorted(RANK_CUTS, a + rng.normal(0, 0.5, n))
    stratum = rank * regions + rng.integers(0, regions, n)
    t = _assign(rng, n, stratum if stratified else None)
    tau = np.asarray(RANK_EFFECTS)[rank] * (effect / EFFECT) if by_rank else effect
    return pd.DataFrame({"arm": t, "y": _revenue(rng, a) + tau * t, "stratum": stratum})


def draw_ratio(rng: np.random.Generator, n: int, effect: bool) -> pd.DataFrame:
    """Deals and won revenue per partner (150/150). Deal counts and deal values share the
    partner level, so numerator and denominator are strongly correlated; ~26% have no deal."""
    t = _assign(rng, n)
    a = rng.normal(0, 1, n)
    deals = rng.poisson(_deal_rate(a) * np.where((t == 1) & effect, DEALS_LIFT, 1.0))
    owner = np.repeat(np.arange(n), deals)
    won = rng.random(len(owner)) < _win_prob(a[owner])
    value = (np.exp(0.5 * a[owner] + 0.8 * rng.normal(0, 1, len(owner)))
             * np.where((t[owner] == 1) & effect, VALUE_LIFT, 1.0))
    revenue = np.bincount(owner, weights=won * value, minlength=n)
    return pd.DataFrame({"arm": t, "revenue": revenue, "deals": deals})


def draw_uptake(rng: np.random.Generator, n: int, effect: float, intercept: float,
                slope: float) -> pd.DataFrame:
    """One-sided non-compliance: treated partners open the package with probability
    logistic(intercept + slope·a) (stronger partners open more often); control cannot. The
    effect acts only through opening."""
    t = _assign(rng, n)
    a = rng.normal(0, 1, n)
    opened = t * (rng.random(n) < _logistic(intercept + slope * a))
    return pd.DataFrame({"arm": t, "y": _revenue(rng, a) + effect * opened,
                         "x": _revenue(rng, a), "opened": opened})


def draw_segments(rng: np.random.Generator, n: int, effect: float
                  ) -> tuple[pd.DataFrame, dict[str, float]]:
    """8 regions of unequal size and level, complete randomization (150/150 overall);
    ``effect`` in 3 of them, none in the other 5. Returns the data and each segment's truth."""
    t = _assign(rng, n)
    seg = rng.choice(len(SEGMENT_SHARES), n, p=SEGMENT_SHARES)
    a = rng.normal(0, 1, n) + SEGMENT_SHIFT[seg]
    tau = np.zeros(len(SEGMENT_SHARES))
    tau[list(SEGMENTS_WITH_EFFECT)] = effect
    labels = np.array([f"S{k + 1}" for k in range(len(SEGMENT_SHARES))])
    df = pd.DataFrame({"arm": t, "y": _revenue(rng, a) + tau[seg] * t, "segment": labels[seg]})
    return df, dict(zip(labels.tolist(), tau.tolist(), strict=True))


def draw_guardrail(rng: np.random.Generator, n: int, harm: bool,
                   control_share: float = 0.5) -> pd.DataFrame:
    """Guardrail metrics; with ``harm`` every treated partner's revenue and deal-win probability
    are ×0.9 and the ticket rate and support cost ×1.1, so the true relative change is exactly
    the margin. Support cost is revenue-like (30% without any, heavy tail), lower is better."""
    t = _assign(rng, n, control_share=control_share)
    a = rng.normal(0, 1, n)
    down = np.where((t == 1) & harm, 1 - GUARD_MARGIN, 1.0)
    up = np.where((t == 1) & harm, 1 + GUARD_MARGIN, 1.0)
    return pd.DataFrame({
        "arm": t, "y": _revenue(rng, a) * down, "x": _revenue(rng, a),
        "won": (rng.random(n) < _logistic(-0.8 + 0.8 * a) * down).astype(int),
        "tickets": rng.poisson(np.exp(0.3 + 0.6 * a) * up), "cost": _revenue(rng, a) * up})


def _zeros(sims: int, *keys: str) -> dict[str, np.ndarray]:
    return {k: np.zeros(sims) for k in keys}


STRATA_ROWS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("4 ranks, stratified randomization", {"stratified": True}),
    ("4 ranks, complete randomization", {"stratified": False}),
    ("4 ranks, stratified, effect differs by rank", {"stratified": True, "by_rank": True}),
    ("12 strata (rank × 3 regions), stratified", {"stratified": True, "regions": 3}),
)


def _sim_strata(rng: np.random.Generator, sims: int) -> dict[str, dict[str, np.ndarray]]:
    truth_rel = EFFECT / control_mean()
    out = {}
    for name, kw in STRATA_ROWS:
        r = _zeros(sims, "rejected", "covered", "covered_rel", "width", "width_ratio", "dropped",
                   "poststratified")
        for i in range(sims):
            aa = draw_ranked(rng, N, 0.0, **kw)
            eff = draw_ranked(rng, N, EFFECT, **kw)
            e0 = analyze(aa, arm="arm", outcome="y", strata="stratum", method="welch")
            e1 = analyze(eff, arm="arm", outcome="y", strata="stratum", method="welch")
            plain = analyze(eff, arm="arm", outcome="y", method="welch")
            r["rejected"][i] = e0.p_value < ALPHA
            r["covered"][i] = e1.ci_lower <= EFFECT <= e1.ci_upper
            r["covered_rel"][i] = e1.rel_ci_lower <= truth_rel <= e1.rel_ci_upper
            r["width"][i] = e1.ci_upper - e1.ci_lower
            r["width_ratio"][i] = r["width"][i] / (plain.ci_upper - plain.ci_lower)
            r["dropped"][i] = any("left out" in w for w in (*e0.warnings, *e1.warnings))
            r["poststratified"][i] = e0.method == e1.method == "poststratified"
        out[name] = r
    return out


def _ratio_se_without_cov(df: pd.DataFrame) -> float:
    """The peer-tool mistake of DESIGN §7: the ratio's delta-method variance without s_xy."""
    var = 0.0
    for arm in (0, 1):
        g = df[df["arm"] == arm]
        x, y = g["revenue"].to_numpy(), g["deals"].to_numpy(dtype=float)
        r = x.mean() / y.mean()
        var += (x.var(ddof=1) + r * r * y.var(ddof=1)) / (len(x) * y.mean() ** 2)
    return math.sqrt(var)


def _sim_ratio(rng: np.random.Generator, sims: int) -> dict[str, dict[str, np.ndarray]]:
    rc = ratio_truth()
    truth, truth_rel = (VALUE_LIFT - 1) * rc, VALUE_LIFT - 1
    z = stats.norm.isf(ALPHA / 2)
    lib = _zeros(sims, "rejected", "covered", "covered_rel", "rel_above", "rel_below", "width",
                 "is_ratio")
    ref = _zeros(sims, "rejected", "covered", "width")
    for i in range(sims):
        aa, eff = draw_ratio(rng, N, False), draw_ratio(rng, N, True)
        e0 = ratio_effect(aa, arm="arm", numerator="revenue", denominator="deals")
        e1 = ratio_effect(eff, arm="arm", numerator="revenue", denominator="deals")
        lib["rejected"][i] = e0.p_value < ALPHA
        lib["covered"][i] = e1.ci_lower <= truth <= e1.ci_upper
        lib["covered_rel"][i] = e1.rel_ci_lower <= truth_rel <= e1.rel_ci_upper
        lib["rel_above"][i] = truth_rel > e1.rel_ci_upper
        lib["rel_below"][i] = truth_rel < e1.rel_ci_lower
        lib["width"][i] = e1.ci_upper - e1.ci_lower
        lib["is_ratio"][i] = e0.method == e1.method == "ratio"
        se0, se1 = _ratio_se_without_cov(aa), _ratio_se_without_cov(eff)
        ref["rejected"][i] = abs(e0.effect) > z * se0
        ref["covered"][i] = abs(e1.effect - truth) <= z * se1
        ref["width"][i] = 2 * z * se1
    return {"ratio_effect (delta method with covariance)": lib,
            "reference: variance without the covariance term": ref}


COMPLIER_ROWS: tuple[tuple[str, float, float, tuple[str, ...]], ...] = (
    ("~50% of treated open", 0.0, 1.0, ()),
    ("~50% open, pre-period covariate", 0.0, 1.0, ("x",)),
    ("weak first stage: ~5% open", -3.2, 0.8, ()),
)


def _sim_complier(rng: np.random.Generator, sims: int) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for name, icpt, slope, covs in COMPLIER_ROWS:
        r = _zeros(sims, "rejected", "ar_covered", "wald_covered", "ar_unbounded", "f", "uptake",
                   "dual_mismatch", "one_sided", "refused")
        for i in range(sims):
            kw = {"arm": "arm", "outcome": "y", "uptake": "opened",
                  "covariates": list(covs) or None}
            aa = draw_uptake(rng, N, 0.0, icpt, slope)
            eff = draw_uptake(rng, N, COMPLIER_EFFECT, icpt, slope)
            try:
                e0, e1 = complier_effect(aa, **kw), complier_effect(eff, **kw)
            except DataValidationError:  # no treated partner opened: refused, left out below
                r["refused"][i] = True
                continue
            r["rejected"][i] = e0.p_value < ALPHA
            r["dual_mismatch"][i] = (e0.p_value < ALPHA) != (e0.ci_lower > 0 or e0.ci_upper < 0)
            r["ar_covered"][i] = e1.ci_lower <= COMPLIER_EFFECT <= e1.ci_upper
            r["wald_covered"][i] = e1.wald_ci_lower <= COMPLIER_EFFECT <= e1.wald_ci_upper
            r["ar_unbounded"][i] = not (math.isfinite(e1.ci_lower) and math.isfinite(e1.ci_upper))
            r["f"][i] = e1.first_stage_f
            r["uptake"][i] = e1.uptake_treatment
            r["one_sided"][i] = e0.uptake_control == e1.uptake_control == 0
        out[name] = r
    return out


def _sim_segments(rng: np.random.Generator, sims: int, effect: float
                  ) -> dict[str, dict[str, np.ndarray]]:
    out = {adj: _zeros(sims, "any_false", "fdp", "fcp", "cover_share", "all_cover", "power",
                       "rejections", "mismatch", "skipped") for adj in ("none", "bh", "holm")}
    for i in range(sims):
        df, truth = draw_segments(rng, N, effect)
        for adj, r in out.items():
            res = segment_effects(df, arm="arm", outcome="y", segment="segment", method="welch",
                                  adjust=adj)
            tau = np.array([truth[lab] for lab in res.labels])
            lo = np.array([e.ci_lower for e in res.estimates])
            hi = np.array([e.ci_upper for e in res.estimates])
            rej = np.array(res.p_adjusted) < ALPHA
            cov = (lo <= tau) & (tau <= hi)
            null = tau == 0
            r["any_false"][i] = np.any(rej & null)
            r["fdp"][i] = np.sum(rej & null) / max(int(rej.sum()), 1)
            r["fcp"][i] = np.sum(rej & ~cov) / max(int(rej.sum()), 1)
            r["cover_share"][i] = cov.mean()
            r["all_cover"][i] = cov.all()
            r["power"][i] = np.sum(rej & ~null) / (~null).sum() if (~null).any() else np.nan
            r["rejections"][i] = rej.sum()
            r["mismatch"][i] = np.any(((lo > 0) | (hi < 0)) != rej)
            r["skipped"][i] = len(res.skipped)
    return out


GUARD_ROWS: tuple[tuple[str, str, str, tuple[str, ...], bool, str, float], ...] = (
    # name, outcome, method, covariates, relative margin, better, control share
    ("revenue, welch, max drop 10%", "y", "welch", (), True, "higher", 0.5),
    ("revenue, regression (pre-period), max drop 10%", "y", "regression", ("x",), True, "higher",
     0.5),
    ("revenue, welch, absolute max drop (10% of mean)", "y", "welch", (), False, "higher", 0.5),
    ("won a deal (0/1), proportion, max drop 10%", "won", "proportion", (), True, "higher", 0.5),
    ("support tickets, welch, max rise 10%", "tickets", "welch", (), True, "lower", 0.5),
    ("support cost (heavy-tailed), welch, max rise 10%", "cost", "welch", (), True, "lower", 0.5),
    ("revenue, welch, max drop 10%, 30/70 (stress)", "y", "welch", (), True, "higher", 0.3),
)


def _sim_guardrail(rng: np.random.Generator, sims: int) -> dict[str, dict[str, np.ndarray]]:
    out = {row[0]: _zeros(sims, "ok_at_margin", "breached_at_margin", "ok_no_change")
           for row in GUARD_ROWS}
    abs_margin = GUARD_MARGIN * control_mean()
    shares = sorted({row[6] for row in GUARD_ROWS})
    for i in range(sims):
        data = {(harm, s): draw_guardrail(rng, N, harm, s) for s in shares for harm in (True, False)}
        for name, outcome, method, covs, relative, better, share in GUARD_ROWS:
            for harm in (True, False):
                est = analyze(data[(harm, share)], arm="arm", outcome=outcome, method=method,
                              covariates=list(covs) or None)
                g = guardrail_check(est, margin=GUARD_MARGIN if relative else abs_margin,
                                    relative=relative, better=better, alpha=ALPHA)
                if harm:
                    out[name]["ok_at_margin"][i] = g.status == "ok"
                    out[name]["breached_at_margin"][i] = g.status == "breached"
                else:
                    out[name]["ok_no_change"][i] = g.status == "ok"
    return out


EXT_JOBS = ("segments: global null", f"segments: 3 of 8 at +{SEGMENT_EFFECT}", "strata",
            "complier", "guardrail", "ratio")


def run_extended(args: tuple[str, int, int, int]) -> dict[str, dict[str, np.ndarray]]:
    """One part of one extended section (its own seed stream)."""
    kind, sims, seed, part = args
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1000 + EXT_JOBS.index(kind), part]))
    if kind.startswith("segments"):
        return _sim_segments(rng, sims, 0.0 if kind.endswith("null") else SEGMENT_EFFECT)
    return {"strata": _sim_strata, "complier": _sim_complier, "guardrail": _sim_guardrail,
            "ratio": _sim_ratio}[kind](rng, sims)


def _pct(x: float, se: float | None = None) -> str:
    return f"{x * 100:6.2f}%" + (f" ±{se * 100:4.2f}" if se is not None else "")


def report_extended(ext: dict[str, dict[str, dict[str, np.ndarray]]], secs: float
                    ) -> dict[str, list[dict[str, Any]]]:
    """Print the extended tables and return their rows (for the JSON)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    print(f"\nextended sections ({secs:.0f} s)")
    print("\npost-stratification on the randomization strata (analyze(strata=..., method='welch'"
          f"), effect +{EFFECT}; width: mean interval width, and relative to welch on the same data)")
    print(f"{'scenario':<48} {'sims':>5} {'FPR':>14} {'coverage':>14} {'rel. cov.':>9} "
          f"{'width':>6} {'vs welch':>8} {'dropped':>7}")
    rows["poststratified"] = []
    for name, r in ext["strata"].items():
        (fpr, fse), (cov, cse) = _rate(r["rejected"]), _rate(r["covered"])
        row = {"scenario": name, "sims": len(r["rejected"]), "fpr": fpr, "fpr_se": fse,
               "coverage": cov, "coverage_se": cse, "coverage_rel": _rate(r["covered_rel"])[0],
               "mean_ci_width": float(r["width"].mean()),
               "width_vs_welch": float(r["width_ratio"].mean()),
               "share_with_dropped_strata": float(r["dropped"].mean()),
               "all_poststratified": bool(r["poststratified"].all())}
        rows["poststratified"].append(row)
        print(f"{name:<48} {row['sims']:>5} {_pct(fpr, fse)} {_pct(cov, cse)} "
              f"{row['coverage_rel'] * 100:8.1f}% {row['mean_ci_width']:6.3f} "
              f"{row['width_vs_welch']:8.3f} {row['share_with_dropped_strata'] * 100:6.1f}%")

    rc = ratio_truth()
    print(f"\nratio metric: won revenue per deal (ratio_effect); control {rc:.4f}, effect "
          f"+{(VALUE_LIFT - 1) * 100:.0f}% (+{(VALUE_LIFT - 1) * rc:.4f}) with {DEALS_LIFT - 1:.0%} "
          "more deals")
    print(f"{'variance':<48} {'sims':>5} {'FPR':>14} {'coverage':>14} {'rel. cov.':>9} "
          f"{'width':>6}")
    rows["ratio"] = []
    for name, r in ext["ratio"].items():
        (fpr, fse), (cov, cse) = _rate(r["rejected"]), _rate(r["covered"])
        rel = _rate(r["covered_rel"])[0] if "covered_rel" in r else None
        row = {"estimator": name, "sims": len(r["rejected"]), "fpr": fpr, "fpr_se": fse,
               "coverage": cov, "coverage_se": cse, "coverage_rel": rel,
               "mean_ci_width": float(r["width"].mean()), "truth_control": rc,
               "truth_effect": (VALUE_LIFT - 1) * rc}
        if "rel_above" in r:
            row["rel_truth_above_interval"] = float(r["rel_above"].mean())
            row["rel_truth_below_interval"] = float(r["rel_below"].mean())
        rows["ratio"].append(row)
        rel_s = f"{rel * 100:8.1f}%" if rel is not None else "        —"
        print(f"{name:<48} {row['sims']:>5} {_pct(fpr, fse)} {_pct(cov, cse)} {rel_s} "
              f"{row['mean_ci_width']:6.3f}"
              + (f"  (relative: truth above the interval {row['rel_truth_above_interval']:.1%}, "
                 f"below {row['rel_truth_below_interval']:.1%})" if "rel_above" in r else ""))

    print(f"\ncomplier effect, one-sided non-compliance (complier_effect; +{COMPLIER_EFFECT} for "
          "openers only; A/A: no effect, same uptake)")
    print(f"{'scenario':<34} {'sims':>5} {'uptake':>6} {'med. F':>7} {'FPR':>14} "
          f"{'AR coverage':>14} {'AR unbnd.':>9} {'Wald cov.':>9}")
    rows["complier"] = []
    for name, r_all in ext["complier"].items():
        keep = r_all["refused"] == 0
        r = {k: v[keep] for k, v in r_all.items()}
        (fpr, fse), (cov, cse) = _rate(r["rejected"]), _rate(r["ar_covered"])
        row = {"scenario": name, "sims": len(r["rejected"]),
               "refused_no_uptake": int((~keep).sum()),
               "uptake_treated": float(r["uptake"].mean()),
               "median_first_stage_f": float(np.median(r["f"])),
               "share_f_below_10": float(np.mean(r["f"] < 10)), "fpr": fpr, "fpr_se": fse,
               "ar_coverage": cov, "ar_coverage_se": cse,
               "ar_unbounded": float(r["ar_unbounded"].mean()),
               "wald_coverage": _rate(r["wald_covered"])[0],
               "wald_coverage_se": _rate(r["wald_covered"])[1],
               "p_ar_disagreements": int(r["dual_mismatch"].sum()),
               "all_one_sided": bool(r["one_sided"].all())}
        rows["complier"].append(row)
        print(f"{name:<34} {row['sims']:>5} {row['uptake_treated'] * 100:5.1f}% "
              f"{row['median_first_stage_f']:7.1f} {_pct(fpr, fse)} {_pct(cov, cse)} "
              f"{row['ar_unbounded'] * 100:8.1f}% {row['wald_coverage'] * 100:8.2f}%"
              + (f"  ({row['refused_no_uptake']} refused: nobody opened)"
                 if row["refused_no_uptake"] else ""))

    print(f"\n{len(SEGMENT_SHARES)} segments (segment_effects, welch in each; 300 partners, "
          f"segments of 24–54); mixed: +{SEGMENT_EFFECT} in 3 segments, 0 in 5")
    print(f"{'scenario':<26} {'adjust':<6} {'sims':>5} {'any false rej.':>14} {'FDR':>14} "
          f"{'FCR':>7} {'cov./interval':>13} {'all cover':>9} {'power':>6}")
    rows["segments"] = []
    for kind in EXT_JOBS[:2]:
        for adj, r in ext[kind].items():
            (fw, fws), (fdr, fdrs) = _rate(r["any_false"]), _rate(r["fdp"])
            fdrs = float(np.std(r["fdp"], ddof=1) / math.sqrt(len(r["fdp"])))
            power = float(np.nanmean(r["power"])) if not np.all(np.isnan(r["power"])) else None
            row = {"scenario": kind, "adjust": adj, "sims": len(r["fdp"]),
                   "fwer": fw, "fwer_se": fws, "fdr": fdr, "fdr_se": fdrs,
                   "fcr": float(r["fcp"].mean()),
                   "fcr_se": float(np.std(r["fcp"], ddof=1) / math.sqrt(len(r["fcp"]))),
                   "coverage_per_interval": float(r["cover_share"].mean()),
                   "all_intervals_cover": float(r["all_cover"].mean()),
                   "power_per_true_effect": power,
                   "mean_rejections": float(r["rejections"].mean()),
                   "interval_p_disagreements": int(r["mismatch"].sum()),
                   "segments_skipped": int(r["skipped"].sum())}
            rows["segments"].append(row)
            pw = f"{power * 100:5.1f}%" if power is not None else "     —"
            print(f"{kind:<26} {adj:<6} {row['sims']:>5} {_pct(fw, fws)} {_pct(fdr, fdrs)} "
                  f"{row['fcr'] * 100:6.2f}% {row['coverage_per_interval'] * 100:12.2f}% "
                  f"{row['all_intervals_cover'] * 100:8.2f}% {pw}")

    print(f"\nguardrail non-inferiority (guardrail_check, one-sided α = {ALPHA}); true change "
          "exactly at the margin, and no change")
    print(f"{'guardrail':<48} {'sims':>5} {'ok at margin':>14} {'breached':>9} "
          f"{'ok, no change':>13}")
    rows["guardrail"] = []
    for name, r in ext["guardrail"].items():
        ok, okse = _rate(r["ok_at_margin"])
        row = {"guardrail": name, "sims": len(r["ok_at_margin"]), "ok_at_margin": ok,
               "ok_at_margin_se": okse, "breached_at_margin": _rate(r["breached_at_margin"])[0],
               "ok_no_change": _rate(r["ok_no_change"])[0]}
        rows["guardrail"].append(row)
        print(f"{name:<48} {row['sims']:>5} {_pct(ok, okse)} "
              f"{row['breached_at_margin'] * 100:8.2f}% {row['ok_no_change'] * 100:12.2f}%")
    return rows


def _sd_at_horizon(seed: int) -> float:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    _, cum = weekly(rng, 200_000, LOOKS)
    return float(cum[:, -1].std())


def _library_hashes() -> dict[str, str]:
    """SHA-256 of the library modules the figures came from (they are edited over time)."""
    root = Path(supportlab.__file__).parent
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "stats").glob("*.py"))}


def _rate(x: np.ndarray) -> tuple[float, float]:
    p = float(np.mean(x))
    return p, math.sqrt(p * (1 - p) / len(x))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=4000, help="experiments per cell and scenario")
    ap.add_argument("--seed", type=int, default=20261001)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--bootstrap-variants", action="store_true",
                    help="also compare four bootstrap interval types (why 'expanded percentile')")
    ap.add_argument("--extended", action="store_true",
                    help="also validate post-stratification, ratio metrics, the complier effect, "
                         "segment intervals with BH/Holm and guardrail non-inferiority")
    args = ap.parse_args(argv)
    parts = max(1, args.workers * 2)
    per = [args.sims // parts + (1 if i < args.sims % parts else 0) for i in range(parts)]
    t0 = time.perf_counter()
    rho = mde(N // 2, N // 2, sd=_sd_at_horizon(args.seed))
    jobs = [(c, per[j], args.seed, j) for c in range(len(CELLS)) for j in range(parts)]
    seq_jobs = [(per[j], args.seed, j + 100 * d, rho, design) for d, design in
                enumerate(("fixed partners", "accruing partners")) for j in range(parts)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run_cell, jobs))
        seq = list(pool.map(run_sequential, seq_jobs))
        variants = (list(pool.map(bootstrap_variants, [(per[j], args.seed, j)
                                                       for j in range(parts)]))
                    if args.bootstrap_variants else [])
        t_ext = time.perf_counter()
        ext_jobs = [(kind, per[j], args.seed, j) for kind in EXT_JOBS for j in range(parts)]
        ext_parts = list(pool.map(run_extended, ext_jobs)) if args.extended else []
        ext_secs = time.perf_counter() - t_ext
    ext: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for (kind, *_), res in zip(ext_jobs, ext_parts, strict=False):
        for name, arrays in res.items():
            slot = ext.setdefault(kind, {}).setdefault(name, {})
            for k, v in arrays.items():
                slot[k] = np.concatenate([slot[k], v]) if k in slot else v
    rows = []
    for c, cell in enumerate(CELLS):
        got = [r for (ci, *_), r in zip(jobs, results, strict=True) if ci == c]
        cat = {k: np.concatenate([g[k] for g in got]) for k in got[0]}
        fpr, fpr_se = _rate(cat["rejected"])
        cov, cov_se = _rate(cat["covered"])
        rows.append({
            "method": cell.name, "sims": len(cat["rejected"]), "fpr": fpr, "fpr_se": fpr_se,
            "coverage": cov, "coverage_se": cov_se,
            "coverage_rel": None if cat["binary"][0] else _rate(cat["covered_rel"])[0],
            "mean_ci_width": float(np.mean(cat["width"])),
        })
    seq_rows = []
    for d, design in enumerate(("fixed partners", "accruing partners")):
        got = seq[d * parts:(d + 1) * parts]
        cat = {k: np.concatenate([g[k] for g in got]) for k in got[0]}
        seq_rows.append({"design": design, "sims": len(cat["naive"]),
                         "naive_peeking_fpr": _rate(cat["naive"])[0],
                         "confidence_sequence_fpr": _rate(cat["cs"])[0],
                         "harm_stop_rate": _rate(cat["harm"])[0],
                         "single_final_look_fpr": _rate(cat["final"])[0]})
    secs = time.perf_counter() - t0
    print(f"supportlab estimator validation: n={N} partners per experiment, α={ALPHA}, "
          f"effect +{EFFECT} (0/1 outcome: +{EFFECT_BINARY}), seed {args.seed}, "
          f"{secs:.0f} s on {args.workers} worker(s)\n")
    print(f"{'method':<44} {'sims':>6} {'FPR':>14} {'coverage':>15} {'rel. cov.':>9}")
    for r in rows:
        rel = f"{r['coverage_rel'] * 100:8.1f}%" if r["coverage_rel"] is not None else "      —"
        print(f"{r['method']:<44} {r['sims']:>6} {r['fpr'] * 100:7.2f}% ±{r['fpr_se'] * 100:4.2f}"
              f" {r['coverage'] * 100:8.2f}% ±{r['coverage_se'] * 100:4.2f} {rel}")
    print(f"\nrepeated looks ({LOOKS} weekly looks, A/A, welch; mixture scale ρ = planned MDE "
          f"{rho:.3f})")
    print(f"{'design':<20} {'sims':>6} {'naive peeking':>14} {'conf. sequence':>15} "
          f"{'harm stops':>11} {'final look only':>16}")
    for r in seq_rows:
        print(f"{r['design']:<20} {r['sims']:>6} {r['naive_peeking_fpr'] * 100:13.2f}% "
              f"{r['confidence_sequence_fpr'] * 100:14.2f}% {r['harm_stop_rate'] * 100:10.2f}% "
              f"{r['single_final_look_fpr'] * 100:15.2f}%")
    var_rows = []
    if variants:
        cat = {k: np.concatenate([v[k] for v in variants]) for k in variants[0]}
        print(f"\nbootstrap interval types on the same resamples ({RESAMPLES} each, welch data)")
        print(f"{'interval':<22} {'sims':>6} {'FPR':>8} {'coverage':>9}")
        for k in ("percentile", "expanded percentile", "BCa", "bootstrap-t"):
            fpr, cov = _rate(cat[f"fpr:{k}"])[0], _rate(cat[f"cov:{k}"])[0]
            var_rows.append({"interval": k, "sims": len(cat[f"fpr:{k}"]), "fpr": fpr,
                             "coverage": cov})
            print(f"{k:<22} {len(cat[f'fpr:{k}']):>6} {fpr * 100:7.2f}% {cov * 100:8.2f}%")
    ext_rows = report_extended(ext, ext_secs) if ext else {}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"n": N, "alpha": ALPHA, "effect": EFFECT, "seed": args.seed,
                       "mixture_sd": rho, "estimators": rows, "sequential": seq_rows,
                       "bootstrap_variants": var_rows, "seconds": secs,
                       **({"extended": ext_rows, "extended_seconds": ext_secs} if ext else {}),
                       "library_sha256": _library_hashes()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
