"""Simulation check of design-aware inference: false-positive rate and coverage by design.

Runs ``supportlab.stats.designs.analyze_design`` on simulated partner experiments of 300
partners assigned by the designs small programs use (DESIGN §7), and reports per design:

* the false-positive rate at α = 0.05 over A/A experiments (no effect) and the coverage of the
  95% interval under a constant additive effect, for the design-aware estimator (the
  ``method`` it returns) and for the randomization test that follows the design (its p-value,
  and its interval by test inversion);
* for reference, the same figures for an analysis that ignores the design (plain ``welch``),
  which :func:`~supportlab.stats.designs.follow_design` corrects.

The outcome is the heavy-tailed revenue of ``validate_estimators.py`` (a latent partner level
``a ~ N(0, 1)``; 30% of partners without revenue; the others ``exp(0.8a + 0.6·N(0, 1))``,
skewness ≈ 6); the pre-period covariate is the same revenue in the period before (correlation
0.54), the ranks are ``a`` seen with noise (40/30/20/10%), and a second covariate, a portal
activity score, is ``a + N(0, 1)``.

Usage::

    python validation/validate_designs.py                  # 2,000 experiments per row and arm
    python validation/validate_designs.py --sims 4000 --json validation/designs.json
    python validation/validate_designs.py --tiny           # seconds: every row runs, no figures

Every experiment is seeded from ``--seed`` through ``numpy.random.SeedSequence``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from validate_estimators import RANK_CUTS, RANK_EFFECTS, _revenue, control_mean

import supportlab
from supportlab.design.randomize import covariate_column, randomize, redraw
from supportlab.design.spec import DesignSpec
from supportlab.errors import ConfigError
from supportlab.stats.designs import DesignInfo, analyze_design
from supportlab.stats.estimation import analyze

N = 300
ALPHA = 0.05
EFFECT = 0.3  # constant additive effect on revenue (≈ 21% of the control mean)
REDRAWS = 499  # redraws of the randomization test per experiment
ACCEPTANCE = 0.1  # rerandomization: share of complete randomizations accepted
UNEQUAL_SHARES = (0.3, 0.5, 0.5, 0.7)  # treated share by rank in the unequal-shares row
ARMS = np.array(["control", "treatment"])


@dataclass(frozen=True)
class Row:
    """One row of the report: a design and how its experiments are drawn."""

    name: str
    design: str  # stratified | unequal | paired | blocks4 | rerandomized
    method: str  # the DesignInfo method
    by_rank: bool = False  # the effect differs by rank (the average is EFFECT)


ROWS = (
    Row("stratified: 4 ranks, half of each", "stratified", "stratified"),
    Row("stratified: 30/50/50/70% treated by rank, effect by rank", "unequal", "stratified",
        by_rank=True),
    Row("paired on the pre-period revenue", "paired", "blocked"),
    Row("blocks of 4 (2 + 2) on the pre-period revenue", "blocks4", "blocked"),
    Row(f"rerandomized: pre-revenue + activity, {ACCEPTANCE:.0%} accepted",
        "rerandomized", "rerandomized"),
)


# -- the partners ---------------------------------------------------------------------------------


def partners(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Partners before the experiment, as the design layer reads them (one row per
    ``partner_id``, pre-period metrics in ``<metric>_pre``): latent level, rank, pre-period
    revenue, activity."""
    a = rng.normal(0, 1, n)
    rank = np.searchsorted(RANK_CUTS, a + rng.normal(0, 0.5, n))
    return pd.DataFrame({"a": a, "rank": rank, "revenue_pre": _revenue(rng, a),
                         "activity_pre": a + rng.normal(0, 1, n)},
                        index=pd.Index([f"P{i:04d}" for i in range(n)], name="partner_id"))


# -- the draws ------------------------------------------------------------------------------------
# Every design but one is drawn by the design layer: supportlab.design.randomize.randomize
# assigns the partners under a DesignSpec (as `supportlab assign` does) and .redraw gives the
# randomization test its redraws (within strata, within blocks, or from the accepted
# rerandomization set). The exception, drawn here: per-stratum probabilities (30/50/50/70%
# treated by rank), which no DesignSpec declares; they exercise the estimator's weighting of
# strata by size.


def _spec(row: Row, seed: int) -> DesignSpec:
    """The stored design of one simulated experiment."""
    kw: dict[str, Any] = {}
    if row.design == "stratified":
        kw = {"method": "stratified", "strata": ("rank",)}
    elif row.design in ("paired", "blocks4"):
        kw = {"method": "blocked", "block_on": "revenue",
              "block_size": 2 if row.design == "paired" else 4}
    else:
        kw = {"method": "rerandomized",
              "rerandomize": {"covariates": ["revenue", "activity"], "acceptance": ACCEPTANCE,
                              "max_draws": 1000}}
    return DesignSpec(experiment_id="validate-designs", package_id="validation", version=1,
                      phase=1, probabilities={"control": 0.5, "treatment": 0.5},
                      start=dt.date(2026, 6, 1), end=dt.date(2026, 9, 1), seed=seed, **kw)


def _unequal_within(rng: np.random.Generator, groups: np.ndarray, n_treated: dict[int, int],
                    m: int) -> np.ndarray:
    """``m`` draws with exactly ``n_treated[g]`` treated in group g, uniformly (1 = treated)."""
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    base = np.zeros(len(g), dtype=np.int8)
    for s, k in n_treated.items():
        base[np.flatnonzero(g == s)[:k]] = 1
    keys = g[None, :].astype(float) + rng.random((m, len(g)))
    out = np.empty((m, len(g)), dtype=np.int8)
    out[:, order] = base[np.argsort(keys, axis=1)]
    return out


def design_of(row: Row, units: pd.DataFrame, rng: np.random.Generator
              ) -> tuple[DesignInfo, pd.DataFrame, Any]:
    """The design, the units with their assignment (and stratum/block), and its redraws."""
    if row.design == "unequal":
        groups = units["rank"].to_numpy()
        sizes = np.bincount(groups, minlength=4)
        counts = {s: int(np.rint(UNEQUAL_SHARES[s] * sizes[s])) for s in range(4) if sizes[s]}
        p_t = sum(counts.values()) / len(units)
        design = DesignInfo("stratified", {"control": 1 - p_t, "treatment": p_t},
                            strata="rank")
        out = units.assign(arm=ARMS[_unequal_within(rng, groups, counts, 1)[0]])
        return design, out, lambda r: ARMS[_unequal_within(r, groups, counts, 500)]
    spec = _spec(row, int(rng.integers(2**31)))
    frame, _ = randomize(units, spec)
    out = units.join(frame[["arm", "stratum", "block"]])
    design = DesignInfo.from_spec(spec, covariate_column=covariate_column)
    return design, out, redraw(out, spec)


# -- one cell ---------------------------------------------------------------------------------


def run_row(args: tuple[int, int, int, int, int]) -> dict[str, np.ndarray]:
    """``sims`` A/A and ``sims`` effect experiments of one row."""
    row_i, sims, seed, part, redraws = args
    row = ROWS[row_i]
    rng = np.random.default_rng(np.random.SeedSequence([seed, row_i, part]))
    keys = ("rej", "cov", "width", "rand_rej", "rand_cov", "naive_rej", "naive_cov",
            "naive_width", "rel_cov")
    got: dict[str, list[float]] = {k: [] for k in keys}
    failed = 0
    for _ in range(sims):
        for effect in (0.0, EFFECT):
            try:
                design, units, redraw = design_of(row, partners(rng, N), rng)
            except ConfigError:  # no accepted rerandomization: counted, never hidden
                failed += 1
                continue
            t = (units["arm"] == "treatment").to_numpy()
            tau = (np.asarray(RANK_EFFECTS)[units["rank"].to_numpy()] * (effect / EFFECT)
                   if row.by_rank else np.full(N, effect))
            units["y"] = _revenue(rng, units["a"].to_numpy()) + tau * t
            est = analyze_design(units, arm="arm", outcome="y", design=design, redraw=redraw,
                                 permutations=redraws, seed=rng)
            naive = analyze(units, arm="arm", outcome="y", method="welch")
            rand_p = est.details["randomization_p_value"]
            rlo, rhi = est.details["randomization_ci"]
            if effect == 0.0:
                got["rej"].append(est.p_value < ALPHA)
                got["rand_rej"].append(rand_p < ALPHA)
                got["naive_rej"].append(naive.p_value < ALPHA)
            else:
                truth_rel = EFFECT / control_mean()
                got["cov"].append(est.ci_lower <= EFFECT <= est.ci_upper)
                got["width"].append(est.ci_upper - est.ci_lower)
                got["rand_cov"].append(rlo <= EFFECT <= rhi)
                got["naive_cov"].append(naive.ci_lower <= EFFECT <= naive.ci_upper)
                got["naive_width"].append(naive.ci_upper - naive.ci_lower)
                got["rel_cov"].append(est.rel_ci_lower <= truth_rel <= est.rel_ci_upper)
    out = {k: np.asarray(v, dtype=float) for k, v in got.items()}
    out["failed"] = np.array([failed])
    out["method"] = np.array([est.method])
    return out


# -- the report -------------------------------------------------------------------------------


def _rate(x: np.ndarray) -> tuple[float, float]:
    p = float(np.mean(x))
    return p, math.sqrt(p * (1 - p) / len(x))


def _library_hashes() -> dict[str, str]:
    """SHA-256 of the library modules the figures came from."""
    root = Path(supportlab.__file__).parent
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in [*sorted((root / "stats").glob("*.py")), root / "design" / "randomize.py"]}


def _in_band(fpr: float, cov: float) -> bool:
    return 0.04 <= fpr <= 0.06 and 0.94 <= cov <= 0.96


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=2000,
                    help="A/A and effect experiments per row (each)")
    ap.add_argument("--redraws", type=int, default=REDRAWS,
                    help="redraws of the randomization test per experiment")
    ap.add_argument("--seed", type=int, default=20261001)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--only", help="run only the rows whose name contains one of these "
                                   "comma-separated words")
    ap.add_argument("--tiny", action="store_true",
                    help="a few experiments per row with few redraws: checks that it runs")
    args = ap.parse_args(argv)
    sims, redraws, workers = args.sims, args.redraws, args.workers
    if args.tiny:
        sims, redraws, workers = 4, 39, 1
    parts = max(1, workers * 2) if sims >= 4 * workers else 1
    per = [sims // parts + (1 if i < sims % parts else 0) for i in range(parts)]
    words = [w.strip() for w in (args.only or "").split(",") if w.strip()]
    chosen = [r for r, row in enumerate(ROWS) if not words or any(w in row.name for w in words)]
    jobs = [(r, per[j], args.seed, j, redraws) for r in chosen for j in range(parts) if per[j]]
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run_row, jobs))
    else:
        results = [run_row(j) for j in jobs]
    secs = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    for r, row in enumerate(ROWS):
        got = [res for (ri, *_), res in zip(jobs, results, strict=True) if ri == r]
        if not got:
            continue
        cat = {k: np.concatenate([g[k] for g in got]) for k in got[0]
               if k not in ("method", "failed")}
        failed = int(sum(int(g["failed"][0]) for g in got))
        fpr, fpr_se = _rate(cat["rej"])
        cov, cov_se = _rate(cat["cov"])
        rfpr, rfpr_se = _rate(cat["rand_rej"])
        rcov, rcov_se = _rate(cat["rand_cov"])
        rows.append({
            "design": row.name, "method": str(got[0]["method"][0]), "sims": len(cat["rej"]),
            "failed_draws": failed,
            "fpr": fpr, "fpr_se": fpr_se, "coverage": cov, "coverage_se": cov_se,
            "coverage_rel": _rate(cat["rel_cov"])[0],
            "mean_ci_width": float(np.mean(cat["width"])),
            "randomization_fpr": rfpr, "randomization_fpr_se": rfpr_se,
            "randomization_coverage": rcov, "randomization_coverage_se": rcov_se,
            "ignoring_design_fpr": _rate(cat["naive_rej"])[0],
            "ignoring_design_coverage": _rate(cat["naive_cov"])[0],
            "ignoring_design_mean_ci_width": float(np.mean(cat["naive_width"])),
            "estimator_in_band": _in_band(fpr, cov),
            "randomization_in_band": _in_band(rfpr, rcov),
        })
    print(f"supportlab design-aware inference: n={N} partners per experiment, α={ALPHA}, "
          f"constant effect +{EFFECT}, {redraws} redraws per randomization test, seed "
          f"{args.seed}, {secs:.0f} s on {workers} worker(s)"
          + ("  [--tiny: too few experiments for figures]" if args.tiny else "") + "\n")
    print(f"{'design':<58} {'estimator':<24} {'sims':>5} {'FPR':>13} {'coverage':>14} "
          f"{'rel.':>6} {'width':>6} | {'rand. FPR':>13} {'rand. cov.':>14} | "
          f"{'ignoring the design: FPR, cov., width':>37}")
    for r in rows:
        print(f"{r['design']:<58} {r['method']:<24} {r['sims']:>5} "
              f"{r['fpr'] * 100:6.2f}% ±{r['fpr_se'] * 100:4.2f} "
              f"{r['coverage'] * 100:6.2f}% ±{r['coverage_se'] * 100:4.2f} "
              f"{r['coverage_rel'] * 100:5.1f}% {r['mean_ci_width']:6.3f} | "
              f"{r['randomization_fpr'] * 100:6.2f}% ±{r['randomization_fpr_se'] * 100:4.2f} "
              f"{r['randomization_coverage'] * 100:6.2f}% "
              f"±{r['randomization_coverage_se'] * 100:4.2f} | "
              f"{r['ignoring_design_fpr'] * 100:11.2f}% "
              f"{r['ignoring_design_coverage'] * 100:7.2f}% "
              f"{r['ignoring_design_mean_ci_width']:6.3f}")
    for r in rows:
        if r["failed_draws"]:
            print(f"{r['design']}: {r['failed_draws']:,} simulated experiment(s) found no "
                  "accepted draw and are left out of the figures above")
    band = [r["design"] for r in rows if not (r["estimator_in_band"]
                                              and r["randomization_in_band"])]
    print("\nband 4–6% false positives, 94–96% coverage: "
          + ("every row, both inferences, within it" if not band else
             "outside it: " + "; ".join(band)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"n": N, "alpha": ALPHA, "effect": EFFECT, "seed": args.seed,
                       "redraws": redraws, "acceptance": ACCEPTANCE, "tiny": args.tiny,
                       "designs": rows, "seconds": secs,
                       "library_sha256": _library_hashes()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
