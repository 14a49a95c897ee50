"""Per-segment effects (multiplicity, heterogeneity, ranking) and the uplift ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from supportlab.stats.segments import segment_effects, uplift_ranking

TOL = 1e-8


def _lin_design(df: pd.DataFrame, cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The interacted design [1, T, Xc, T·Xc] of Lin (2013), for statsmodels."""
    t = (df["arm"] == "treatment").to_numpy().astype(float)
    X = np.column_stack(cols)
    Xc = X - X.mean(axis=0)
    return np.column_stack([np.ones(len(df)), t, Xc, t[:, None] * Xc]), t


def _segment_data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1200
    seg = rng.choice(list("ABCDEF"), n)
    arm = rng.permutation(np.repeat([0, 1], n // 2))
    gain = pd.Series(seg).map({"A": 0, "B": 0, "C": 0.2, "D": 0.3, "E": 0.5, "F": 0.8})
    y = rng.normal(0, 1, n) + arm * gain.to_numpy()
    return pd.DataFrame({"arm": arm, "seg": seg, "y": y, "x": rng.normal(0, 1, n)})


@pytest.mark.parametrize("adjust", ["bh", "holm"])
def test_segment_adjustment_matches_statsmodels_and_intervals_agree(adjust):
    for seed in range(6):
        res = segment_effects(_segment_data(seed), arm="arm", outcome="y", segment="seg",
                              adjust=adjust)
        raw = [e.p_value for e in res.estimates]
        ref = multipletests(raw, method={"bh": "fdr_bh", "holm": "holm"}[adjust])[1]
        assert np.allclose(res.p_adjusted, ref, atol=1e-12)
        for e, p_adj, lvl in zip(res.estimates, res.p_adjusted, res.levels, strict=True):
            assert e.confidence_level == pytest.approx(lvl)
            assert (e.ci_lower > 0 or e.ci_upper < 0) == (p_adj < 0.05)
            assert lvl >= 0.95


def test_segment_heterogeneity_and_ranking():
    df = _segment_data(1)
    res = segment_effects(df, arm="arm", outcome="y", segment="seg")
    eff = np.array([e.effect for e in res.estimates])
    w = 1 / np.array([e.se for e in res.estimates]) ** 2
    q = np.sum(w * (eff - np.sum(w * eff) / w.sum()) ** 2)
    assert res.heterogeneity_q == pytest.approx(q)
    assert res.heterogeneity_p == pytest.approx(stats.chi2.sf(q, 5))
    assert res.heterogeneity_p < 0.05
    top = res.ranking()
    assert top["segment"].iloc[0] == "F" and set(top["segment"].iloc[-2:]) <= {"A", "B", "C"}
    # shrinkage pulls extreme segments towards the middle
    assert np.ptp(res.expected_uplift) <= np.ptp(eff)
    assert set(res.to_frame().columns) >= {"segment", "p_adjusted", "ci_level", "rank"}


def test_segments_skip_segments_without_both_arms():
    df = _segment_data(2)
    df.loc[df["seg"] == "A", "arm"] = 1
    res = segment_effects(df, arm="arm", outcome="y", segment="seg", covariates=["x"])
    assert "A" not in res.labels and any(s.startswith("A:") for s in res.skipped)
    assert res.method == "regression"


def test_uplift_ranking_matches_the_interacted_regression():
    rng = np.random.default_rng(19)
    n = 800
    df = pd.DataFrame({"arm": np.tile(["control", "treatment"], n // 2),
                       "x": rng.normal(0, 1, n)})
    t = (df["arm"] == "treatment").to_numpy()
    df["y"] = rng.normal(0, 1, n) + t * (0.5 + df["x"])
    ranked = uplift_ranking(df, arm="arm", outcome="y", covariates=["x"])
    D, _ = _lin_design(df, [df["x"].to_numpy()])
    fit = sm.OLS(df["y"].to_numpy(), D).fit(cov_type="HC2")
    xc = df["x"] - df["x"].mean()
    expected = fit.params[1] + fit.params[3] * xc
    assert np.allclose(ranked.loc[df.index, "expected_uplift"], expected, atol=1e-8)
    assert ranked["uplift_rank"].iloc[0] == 1
    new = pd.DataFrame({"x": [-2.0, 2.0]})
    scored = uplift_ranking(df, arm="arm", outcome="y", covariates=["x"], candidates=new)
    assert scored["x"].iloc[0] == 2.0
