"""Benchmark of the estimation engine against the goals of the estimation issue.

1. A full analysis of one experiment on 5,000 partners: regression adjustment with two
   covariates and strata, a permutation test with 10,000 re-randomizations (within strata,
   covariate-adjusted), effects in 8 segments and the complier effect. Goal: at most 1 s.
2. Plain regression adjustment (two covariates, HC2) on 2 million units. Goal: at most 1 s.

Each figure is the median of ``--repeat`` runs after one warm-up run; printed on stdout.

Usage::

    python benchmarks/bench_estimation.py [--repeat 5]
    python benchmarks/bench_estimation.py --tiny     # seconds: what the test suite runs
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np
import pandas as pd
from timing import timed

from supportlab import analyze, complier_effect, segment_effects


def experiment(n: int, seed: int = 1) -> pd.DataFrame:
    """A partner experiment: covariates, 6 strata, 8 segments, one-sided uptake."""
    rng = np.random.default_rng(seed)
    arm = rng.permutation(np.resize(["control", "treatment"], n))
    pre = rng.lognormal(0, 1, n)
    logins = rng.poisson(5, n).astype(float)
    opened = ((arm == "treatment") & (rng.random(n) < 0.6)).astype(int)
    y = 2 * pre + 0.3 * logins + rng.lognormal(0, 1, n) + 0.5 * opened
    return pd.DataFrame({"arm": arm, "revenue_pre": pre, "logins_pre": logins,
                         "stratum": rng.choice([f"r{i}" for i in range(6)], n),
                         "segment": rng.choice([f"g{i}" for i in range(8)], n),
                         "opened": opened, "revenue": y})


def big(n: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    arm = rng.integers(0, 2, n)
    return pd.DataFrame({"arm": arm, "x1": x1, "x2": rng.normal(0, 1, n),
                         "y": x1 + rng.normal(0, 1, n) + 0.01 * arm})


def full_analysis(df: pd.DataFrame, permutations: int) -> None:
    covs = ["revenue_pre", "logins_pre"]
    analyze(df, arm="arm", outcome="revenue", covariates=covs, strata="stratum")
    analyze(df, arm="arm", outcome="revenue", covariates=covs, strata="stratum",
            method="permutation", permutations=permutations, seed=1)
    segment_effects(df, arm="arm", outcome="revenue", segment="segment", covariates=covs)
    complier_effect(df, arm="arm", outcome="revenue", uptake="opened", covariates=covs,
                    strata="stratum")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="supportlab estimation benchmark")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--partners", type=int, default=5_000, help="units of the full analysis")
    ap.add_argument("--permutations", type=int, default=10_000)
    ap.add_argument("--units", type=int, default=2_000_000, help="units of the plain regression")
    ap.add_argument("--tiny", action="store_true",
                    help="500 partners, 200 permutations, 20,000 units, one run: checks that the "
                         "benchmark works, in seconds")
    args = ap.parse_args(argv)
    if args.tiny:
        args.partners, args.permutations, args.units, args.repeat = 500, 200, 20_000, 1
    perms = args.permutations
    print(f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__},"
          f" {os.cpu_count()} CPU(s), {platform.machine()}")
    df = experiment(args.partners)
    med, runs = timed(lambda: full_analysis(df, perms), args.repeat)
    print(f"full analysis, {args.partners:,} partners (regression + strata, {perms:,} permutations, "
          f"8 segments, complier): median {med:.3f} s (runs {', '.join(f'{r:.3f}' for r in runs)}; "
          f"goal ≤ 1 s) {'OK' if med <= 1 else 'MISSED'}")
    parts = {
        "regression + strata": lambda: analyze(df, arm="arm", outcome="revenue",
                                               covariates=["revenue_pre", "logins_pre"],
                                               strata="stratum"),
        f"permutation {perms:,}": lambda: analyze(df, arm="arm", outcome="revenue",
                                                  covariates=["revenue_pre", "logins_pre"],
                                                  strata="stratum", method="permutation",
                                                  permutations=perms, seed=1),
        "8 segments": lambda: segment_effects(df, arm="arm", outcome="revenue",
                                              segment="segment",
                                              covariates=["revenue_pre", "logins_pre"]),
        "complier effect": lambda: complier_effect(df, arm="arm", outcome="revenue",
                                                   uptake="opened",
                                                   covariates=["revenue_pre", "logins_pre"],
                                                   strata="stratum"),
    }
    for name, fn in parts.items():
        print(f"  {name:<22} {timed(fn, args.repeat)[0]:.3f} s")
    data = big(args.units)
    med, runs = timed(lambda: analyze(data, arm="arm", outcome="y", covariates=["x1", "x2"]),
                      args.repeat)
    print(f"regression adjustment, {args.units:,} units, 2 covariates: median {med:.3f} s (runs "
          f"{', '.join(f'{r:.3f}' for r in runs)}; goal ≤ 1 s) {'OK' if med <= 1 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
