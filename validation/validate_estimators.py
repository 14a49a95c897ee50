"""Simulation check of supportlab's estimators: false-positive rate, coverage, repeated looks.

Runs the library's own code (``supportlab.analyze``, ``supportlab.sequential``) on simulated
partner experiments and reports, per method:

* the false-positive rate at α = 0.05 over A/A experiments (no effect),
* the coverage of the 95% interval (absolute and relative effect) under a known effect,
* for repeated looks: the chance that *any* of 12 weekly looks declares an effect, with naive
  peeking at fixed-horizon intervals and with the always-valid confidence sequence.

The data-generating process is meant to look like a partner programme, not to flatter the
methods: 300 partners, 30% of them without any revenue in the window (zero inflation), the rest
lognormal with σ = 1 on the log scale (skewness ≈ 6), and a pre-period covariate of the same
heavy-tailed kind correlated with the outcome through a latent partner level.

Usage::

    python validation/validate_estimators.py            # 4,000 experiments per cell, ~2 min
    python validation/validate_estimators.py --sims 2000 --workers 2 --json results.json

Every experiment is seeded from ``--seed`` through ``numpy.random.SeedSequence``, so the figures
are reproducible.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from supportlab.estimation import analyze
from supportlab.power import mde
from supportlab.sequential import confidence_sequence

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


def _sd_at_horizon(seed: int) -> float:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    _, cum = weekly(rng, 200_000, LOOKS)
    return float(cum[:, -1].std())


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
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"n": N, "alpha": ALPHA, "effect": EFFECT, "seed": args.seed,
                       "mixture_sd": rho, "estimators": rows, "sequential": seq_rows,
                       "bootstrap_variants": var_rows, "seconds": secs}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
