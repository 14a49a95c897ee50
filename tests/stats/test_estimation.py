"""Estimators: agreement with scipy/statsmodels where the methods coincide, and behaviour."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats import proportion as smprop

from supportlab.errors import ConfigError, DataValidationError
from supportlab.stats.estimation import (
    Estimate,
    analyze,
    complier_effect,
    newcombe_interval,
    newcombe_p_value,
    ratio_effect,
    segment_effects,
)

TOL = 1e-8


def make_data(n: int = 500, seed: int = 0, control_share: float = 0.4, effect: float = 0.7,
              n_strata: int = 3) -> pd.DataFrame:
    """Heavy-ish tailed outcome with two covariates, strata and a heterogeneous effect."""
    rng = np.random.default_rng(seed)
    n_c = round(n * control_share)
    arm = rng.permutation(np.r_[np.zeros(n_c, int), np.ones(n - n_c, int)])
    x1 = rng.gamma(2.0, 2.0, n)
    x2 = rng.normal(0, 1, n)
    stratum = rng.choice([f"s{i}" for i in range(n_strata)], n)
    y = 1.5 * x1 + x2 + rng.lognormal(0, 1, n) + arm * (effect + 0.2 * (x1 - 4))
    return pd.DataFrame({"arm": np.where(arm == 1, "treatment", "control"), "x1": x1, "x2": x2,
                         "stratum": stratum, "y": y})


# -- Welch ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_matches_scipy(seed):
    df = make_data(seed=seed, control_share=0.3)
    t = (df["arm"] == "treatment").to_numpy()
    est = analyze(df, arm="arm", outcome="y", method="welch")
    ref = stats.ttest_ind(df["y"][t], df["y"][~t], equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert est.method == "welch"
    assert est.effect == pytest.approx(df["y"][t].mean() - df["y"][~t].mean(), abs=TOL)
    assert est.df == pytest.approx(ref.df, abs=TOL)
    assert est.p_value == pytest.approx(ref.pvalue, abs=TOL)
    assert est.ci_lower == pytest.approx(ci.low, abs=TOL)
    assert est.ci_upper == pytest.approx(ci.high, abs=TOL)
    assert est.n_control == (~t).sum() and est.n_treatment == t.sum()
    ci90 = ref.confidence_interval(0.9)
    est90 = analyze(df, arm="arm", outcome="y", method="welch", confidence_level=0.9)
    assert (est90.ci_lower, est90.ci_upper) == pytest.approx((ci90.low, ci90.high), abs=TOL)


def test_welch_degrees_of_freedom_are_welch_satterthwaite():
    rng = np.random.default_rng(3)
    yc, yt = rng.normal(0, 1, 20), rng.normal(0, 5, 80)
    df = pd.DataFrame({"arm": [0] * 20 + [1] * 80, "y": np.r_[yc, yt]})
    est = analyze(df, arm="arm", outcome="y", method="welch")
    vc, vt = yc.var(ddof=1) / 20, yt.var(ddof=1) / 80
    expected = (vc + vt) ** 2 / (vc**2 / 19 + vt**2 / 79)
    assert est.df == pytest.approx(expected, rel=1e-12)
    assert est.df != pytest.approx(98)  # not the pooled df


def test_p_values_do_not_underflow():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"arm": np.repeat([0, 1], 2000),
                       "y": np.r_[rng.normal(0, 1, 2000), rng.normal(3, 1, 2000)]})
    est = analyze(df, arm="arm", outcome="y")
    assert 0 < est.p_value < 1e-300
    assert est.p_value == pytest.approx(
        2 * stats.t.sf(est.effect / est.se, est.df), rel=1e-6)


def test_relative_effect_uses_the_delta_method_not_a_rescaled_interval():
    df = make_data(seed=4)
    est = analyze(df, arm="arm", outcome="y", method="welch")
    t = (df["arm"] == "treatment").to_numpy()
    mt, mc = df["y"][t].mean(), df["y"][~t].mean()
    vt, vc = df["y"][t].var() / t.sum(), df["y"][~t].var() / (~t).sum()
    se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    crit = stats.t.isf(0.025, est.df)
    assert est.rel_effect == pytest.approx(mt / mc - 1, rel=1e-12)
    assert est.rel_se == pytest.approx(se, rel=1e-10)
    assert est.rel_ci_lower == pytest.approx(est.rel_effect - crit * se, rel=1e-10)
    assert est.rel_ci_upper == pytest.approx(est.rel_effect + crit * se, rel=1e-10)
    assert est.rel_ci_lower != pytest.approx(est.ci_lower / mc, rel=1e-3)


# -- regression adjustment -------------------------------------------------------------------


def _lin_design(df: pd.DataFrame, cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    t = (df["arm"] == "treatment").to_numpy().astype(float)
    X = np.column_stack(cols)
    Xc = X - X.mean(axis=0)
    return np.column_stack([np.ones(len(df)), t, Xc, t[:, None] * Xc]), t


@pytest.mark.parametrize("seed", [0, 5])
def test_regression_matches_statsmodels_hc2(seed):
    df = make_data(seed=seed)
    est = analyze(df, arm="arm", outcome="y", covariates=["x1", "x2"])
    D, _ = _lin_design(df, [df["x1"].to_numpy(), df["x2"].to_numpy()])
    fit = sm.OLS(df["y"].to_numpy(), D).fit(cov_type="HC2", use_t=True)
    assert est.method == "regression"
    assert est.effect == pytest.approx(fit.params[1], abs=TOL)
    assert est.se == pytest.approx(fit.bse[1], abs=TOL)
    assert est.df == fit.df_resid
    assert est.p_value == pytest.approx(fit.pvalues[1], abs=TOL)
    lo, hi = fit.conf_int(alpha=0.05)[1]
    assert est.ci_lower == pytest.approx(lo, abs=TOL)
    assert est.ci_upper == pytest.approx(hi, abs=TOL)
    # adjusted means and the relative effect's delta method with their full covariance
    V = fit.cov_params()
    mc, mt = fit.params[0], fit.params[0] + fit.params[1]
    assert est.mean_control == pytest.approx(mc, abs=TOL)
    assert est.mean_treatment == pytest.approx(mt, abs=TOL)
    g = np.zeros(len(fit.params))
    g[0] = 1 / mc - mt / mc**2  # d(mt/mc)/d b0, with mt = b0 + b1
    g[1] = 1 / mc
    # as estimates of population means, the adjusted means also carry the noise of the pooled
    # covariate means they are centred at: β'Σβ/n each, covariance β_t'Σβ_c/n
    k = 2
    X = df[["x1", "x2"]].to_numpy()
    sigma = np.cov(X, rowvar=False) / len(df)
    b_c = fit.params[2:2 + k]
    b_t = b_c + fit.params[2 + k:]
    gm = np.array([1 / mc, -mt / mc**2])  # gradient of mt/mc − 1 in (mt, mc)
    extra = np.array([[b_t @ sigma @ b_t, b_t @ sigma @ b_c], [b_t @ sigma @ b_c, b_c @ sigma @ b_c]])
    assert est.rel_se == pytest.approx(math.sqrt(g @ V @ g + gm @ extra @ gm), abs=TOL)


def test_regression_relative_interval_covers_the_population_lift():
    """Simulation: the covariate explains the level; the relative interval still covers."""
    rng = np.random.default_rng(7)
    hits, runs = 0, 400
    for _ in range(runs):
        x = rng.normal(5, 2, 200)
        t = rng.permutation(np.repeat([0, 1], 100))
        y = 2 * x + rng.normal(0, 0.5, 200) + 3 * t  # true lift 3 / 10 = 0.30
        e = analyze(pd.DataFrame({"arm": t, "y": y, "x": x}), arm="arm", outcome="y",
                    covariates=["x"])
        hits += e.rel_ci_lower <= 0.3 <= e.rel_ci_upper
    assert 0.91 <= hits / runs <= 0.985  # 95% nominal; without the x̄ term it was ~83%


def test_regression_with_strata_matches_statsmodels_with_centred_dummies():
    df = make_data(seed=2, n_strata=4)
    est = analyze(df, arm="arm", outcome="y", covariates=["x1"], strata="stratum")
    dummies = pd.get_dummies(df["stratum"], drop_first=True, dtype=float).to_numpy()
    D, _ = _lin_design(df, [df["x1"].to_numpy(), *dummies.T])
    fit = sm.OLS(df["y"].to_numpy(), D).fit(cov_type="HC2", use_t=True)
    assert est.effect == pytest.approx(fit.params[1], abs=TOL)
    assert est.se == pytest.approx(fit.bse[1], abs=TOL)
    assert est.p_value == pytest.approx(fit.pvalues[1], abs=TOL)


def test_poststratification_formula_and_its_link_to_regression():
    df = make_data(seed=8, n_strata=3)
    ps = analyze(df, arm="arm", outcome="y", strata="stratum", method="welch")
    assert ps.method == "poststratified"
    t = df["arm"] == "treatment"
    eff, var = 0.0, 0.0
    for _, g in df.groupby("stratum"):
        w = len(g) / len(df)
        gt, gc = g.loc[t[g.index], "y"], g.loc[~t[g.index], "y"]
        eff += w * (gt.mean() - gc.mean())
        var += w**2 * (gt.var() / len(gt) + gc.var() / len(gc))
    assert ps.effect == pytest.approx(eff, abs=TOL)
    assert ps.se == pytest.approx(math.sqrt(var), abs=TOL)
    reg = analyze(df, arm="arm", outcome="y", strata="stratum", method="regression")
    assert reg.effect == pytest.approx(ps.effect, abs=TOL)


def test_strata_with_an_empty_arm_are_dropped_with_a_warning():
    df = make_data(seed=1, n=300)
    extra = pd.DataFrame({"arm": ["treatment"] * 3, "x1": 1.0, "x2": 0.0, "stratum": "lonely",
                          "y": 100.0})
    est = analyze(pd.concat([df, extra], ignore_index=True), arm="arm", outcome="y",
                  strata="stratum")
    assert est.n_treatment + est.n_control == 300
    assert any("lonely" in w and "left out" in w for w in est.warnings)


def test_regression_adjustment_reduces_the_standard_error():
    df = make_data(seed=3, n=800)
    plain = analyze(df, arm="arm", outcome="y", method="welch")
    adj = analyze(df, arm="arm", outcome="y", covariates=["x1", "x2"])
    assert adj.se < 0.7 * plain.se


# -- proportions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("xt", "nt", "xc", "nc"), [(30, 100, 20, 100), (3, 40, 0, 60),
                                                    (150, 300, 110, 250), (40, 40, 35, 40)])
def test_proportion_interval_matches_statsmodels_newcombe(xt, nt, xc, nc):
    df = pd.DataFrame({"arm": ["treatment"] * nt + ["control"] * nc,
                       "won": [1] * xt + [0] * (nt - xt) + [1] * xc + [0] * (nc - xc)})
    for level in (0.95, 0.9):
        est = analyze(df, arm="arm", outcome="won", confidence_level=level)
        lo, hi = smprop.confint_proportions_2indep(xt, nt, xc, nc, method="newcomb", alpha=1 - level)
        assert est.method == "proportion"
        assert est.ci_lower == pytest.approx(lo, abs=TOL)
        assert est.ci_upper == pytest.approx(hi, abs=TOL)
    # the p-value is the interval's dual: at α = p one end of the interval touches zero
    est = analyze(df, arm="arm", outcome="won")
    if est.effect != 0:
        lo, hi = smprop.confint_proportions_2indep(xt, nt, xc, nc, method="newcomb",
                                            alpha=est.p_value)
        assert min(abs(lo), abs(hi)) < 1e-8
        if min(xt, nt - xt, xc, nc - xc) >= 5:  # away from sparse tables, near the score test
            score = smprop.test_proportions_2indep(xt, nt, xc, nc, method="score").pvalue
            assert est.p_value == pytest.approx(score, abs=0.02)


def test_newcombe_functions_are_vectorized():
    lo, hi = newcombe_interval([30, 10], [100, 50], [20, 10], [100, 50], 1.96)
    assert lo.shape == (2,) and hi[1] > 0 > lo[1]
    p = newcombe_p_value([30, 10], [100, 50], [20, 10], [100, 50])
    assert p[1] == 1.0 and 0 < p[0] < 1


def test_proportion_refuses_a_numeric_outcome():
    df = make_data(seed=0)
    with pytest.raises(DataValidationError, match="0/1 outcome"):
        analyze(df, arm="arm", outcome="y", method="proportion")


# -- permutation -----------------------------------------------------------------------------------


def test_permutation_is_seeded_and_close_to_the_exact_test():
    rng = np.random.default_rng(9)
    y = np.r_[rng.normal(0, 1, 6), rng.normal(1.2, 1, 6)]
    df = pd.DataFrame({"arm": [0] * 6 + [1] * 6, "y": y})
    a = analyze(df, arm="arm", outcome="y", method="permutation", seed=3, permutations=20000)
    b = analyze(df, arm="arm", outcome="y", method="permutation", seed=3, permutations=20000)
    assert a == b
    exact = stats.permutation_test((y[6:], y[:6]), lambda u, v: np.mean(u) - np.mean(v),
                                   permutation_type="independent", n_resamples=np.inf)
    assert a.p_value == pytest.approx(exact.pvalue, abs=0.01)
    assert a.details["permutations"] == 20000 and a.details["seed"] == 3


def test_permutation_interval_is_the_inversion_of_the_test():
    df = make_data(seed=6, n=200)
    est = analyze(df, arm="arm", outcome="y", method="permutation", seed=11, permutations=2000)
    t = (df["arm"] == "treatment").to_numpy()
    width = est.ci_upper - est.ci_lower
    for bound, side in ((est.ci_lower, -1), (est.ci_upper, +1)):
        outside = df.assign(y=df["y"] - (bound + side * 1e-6 * width) * t)
        inside = df.assign(y=df["y"] - (bound - side * 1e-6 * width) * t)
        p_out = analyze(outside, arm="arm", outcome="y", method="permutation", seed=11,
                        permutations=2000).p_value
        p_in = analyze(inside, arm="arm", outcome="y", method="permutation", seed=11,
                       permutations=2000).p_value
        assert p_out <= 0.05 < p_in


def test_permutation_within_strata_respects_the_design():
    # all variation is between strata, allocation differs by stratum: no effect at all
    df = pd.DataFrame({"arm": [1] * 10 + [0] * 2 + [1] * 2 + [0] * 10,
                       "stratum": ["a"] * 12 + ["b"] * 12,
                       "y": [10.0] * 12 + [0.0] * 12})
    naive = analyze(df, arm="arm", outcome="y", method="permutation", seed=1,
                    permutations=999)
    within = analyze(df, arm="arm", outcome="y", strata="stratum", method="permutation",
                     seed=1, permutations=999)
    assert naive.p_value < 0.01
    assert within.effect == 0 and within.p_value == 1.0


def test_permutation_with_covariates_gains_precision():
    df = make_data(seed=7, n=300)
    plain = analyze(df, arm="arm", outcome="y", method="permutation", seed=1, permutations=999)
    adj = analyze(df, arm="arm", outcome="y", covariates=["x1", "x2"], method="permutation",
                  seed=1, permutations=999)
    assert (adj.ci_upper - adj.ci_lower) < 0.8 * (plain.ci_upper - plain.ci_lower)
    assert adj.ci_lower < adj.effect < adj.ci_upper


def test_permutation_needs_enough_permutations():
    with pytest.raises(ConfigError, match="too few"):
        analyze(make_data(), arm="arm", outcome="y", method="permutation", permutations=10)


# -- bootstrap ----------------------------------------------------------------------------------------


def test_bootstrap_is_seeded_and_is_the_expanded_percentile_interval():
    df = make_data(seed=10, n=300)
    a = analyze(df, arm="arm", outcome="y", method="bootstrap", seed=5, resamples=4000)
    assert a == analyze(df, arm="arm", outcome="y", method="bootstrap", seed=5, resamples=4000)
    t = (df["arm"] == "treatment").to_numpy()
    yt, yc = df["y"][t].to_numpy(), df["y"][~t].to_numpy()
    # expansion (Hesterberg 2015): z_{α'/2} = sqrt(V_unbiased / V_plugin) · t_{α/2, Welch df}
    v_unb = yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc)
    v_plug = yt.var() / len(yt) + yc.var() / len(yc)
    welch = analyze(df, arm="arm", outcome="y", method="welch")
    a_exp = 2 * stats.norm.sf(math.sqrt(v_unb / v_plug) * stats.t.isf(0.025, welch.df))
    assert a.details["percentile_levels"][0] == pytest.approx(a_exp / 2, rel=1e-12)
    ref = stats.bootstrap((yt, yc), lambda u, v, axis: u.mean(axis=axis) - v.mean(axis=axis),
                          method="percentile", n_resamples=4000, confidence_level=1 - a_exp,
                          rng=np.random.default_rng(1))
    width = a.ci_upper - a.ci_lower
    assert a.ci_lower == pytest.approx(ref.confidence_interval.low, abs=0.08 * width)
    assert a.ci_upper == pytest.approx(ref.confidence_interval.high, abs=0.08 * width)
    assert a.se == pytest.approx(ref.standard_error, rel=0.08)
    # a little wider than the plain percentile interval at the nominal level
    plain = np.quantile(ref.bootstrap_distribution, [0.025, 0.975])
    assert a_exp < 0.05 and width > 0.95 * (plain[1] - plain[0])


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.5, 3.0])
def test_bootstrap_p_value_agrees_with_its_interval(shift):
    df = make_data(seed=12, n=200, effect=shift)
    est = analyze(df, arm="arm", outcome="y", method="bootstrap", seed=2, resamples=2000)
    assert (est.p_value < 0.05) == (est.ci_lower > 0 or est.ci_upper < 0)


def test_bootstrap_refuses_covariates():
    with pytest.raises(ConfigError, match="does not use covariates"):
        analyze(make_data(), arm="arm", outcome="y", covariates=["x1"], method="bootstrap")


# -- winsorization and ratio metrics -------------------------------------------------------------


def test_winsorization_uses_one_pooled_cap_and_says_so():
    df = make_data(seed=13)
    est = analyze(df, arm="arm", outcome="y", winsorize=0.95, method="welch")
    cap = np.quantile(df["y"], 0.95)
    assert est.details["winsorize_cap"] == pytest.approx(cap)
    t = df["arm"] == "treatment"
    capped = df["y"].clip(upper=cap)
    assert est.effect == pytest.approx(capped[t].mean() - capped[~t].mean(), abs=TOL)
    assert est.details["winsorized_treatment"] == int((df.loc[t, "y"] > cap).sum())
    assert est.details["winsorized_control"] == int((df.loc[~t, "y"] > cap).sum())
    assert any("one pooled cap" in n for n in est.notes)
    with pytest.raises(ConfigError, match="winsorize"):
        analyze(df, arm="arm", outcome="y", winsorize=1.5)


def test_ratio_metric_variance_includes_the_covariance():
    rng = np.random.default_rng(14)
    n = 400
    deals = rng.poisson(3, n)
    revenue = deals * rng.lognormal(2, 0.5, n)
    df = pd.DataFrame({"arm": np.tile(["control", "treatment"], n // 2), "revenue": revenue,
                       "deals": deals})
    est = ratio_effect(df, arm="arm", numerator="revenue", denominator="deals")
    parts = {}
    for name, g in df.groupby("arm"):
        x, y = g["revenue"].to_numpy(), g["deals"].to_numpy()
        r = x.sum() / y.sum()
        c = np.cov(x, y)
        parts[name] = (r, (c[0, 0] - 2 * r * c[0, 1] + r * r * c[1, 1]) / (len(x) * y.mean()**2),
                       (c[0, 0] + r * r * c[1, 1]) / (len(x) * y.mean()**2))
    (rc, vc, vc_wrong), (rt, vt, vt_wrong) = parts["control"], parts["treatment"]
    assert est.method == "ratio"
    assert est.effect == pytest.approx(rt - rc, abs=TOL)
    assert est.se == pytest.approx(math.sqrt(vt + vc), abs=TOL)
    assert est.se < 0.8 * math.sqrt(vt_wrong + vc_wrong)  # the covariance matters here
    # the delta-method se agrees with a brute-force bootstrap of the ratio difference
    boot = []
    brng = np.random.default_rng(0)
    groups = {k: g for k, g in df.groupby("arm")}
    for _ in range(2000):
        rs = {}
        for k, g in groups.items():
            i = brng.integers(0, len(g), len(g))
            rs[k] = g["revenue"].to_numpy()[i].sum() / g["deals"].to_numpy()[i].sum()
        boot.append(rs["treatment"] - rs["control"])
    assert est.se == pytest.approx(np.std(boot), rel=0.1)
    via_analyze = analyze(df, arm="arm", outcome="revenue", denominator="deals")
    assert via_analyze.effect == est.effect


# -- the estimate object and auto ------------------------------------------------------------------


def test_auto_picks_regression_proportion_or_welch():
    df = make_data(seed=20)
    assert analyze(df, arm="arm", outcome="y").method == "welch"
    assert analyze(df, arm="arm", outcome="y", covariates="x1").method == "regression"
    df["won"] = (df["y"] > df["y"].median()).astype(int)
    assert analyze(df, arm="arm", outcome="won").method == "proportion"
    df["flag"] = df["won"].astype(bool)
    assert analyze(df, arm="arm", outcome="flag").method == "proportion"


def test_estimate_is_frozen_and_serializes():
    df = make_data(seed=21).rename(columns={"y": "<b>deals</b>"})
    est = analyze(df, arm="arm", outcome="<b>deals</b>")
    assert isinstance(est, Estimate)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.effect = 1.0  # type: ignore[misc]
    d = est.to_dict()
    for key in ("method", "n_control", "n_treatment", "mean_control", "mean_treatment",
                "effect", "ci_lower", "ci_upper", "p_value", "rel_effect", "rel_ci_lower",
                "rel_ci_upper", "confidence_level"):
        assert key in d
    json.dumps(d, allow_nan=False)
    assert est.effect == pytest.approx(est.mean_treatment - est.mean_control)
    frame = est.to_frame()
    assert len(frame) == 1 and frame["effect"].iloc[0] == est.effect
    page = est._repr_html_()
    assert "<b>deals</b>" not in page and "&lt;b&gt;deals&lt;/b&gt;" in page
    assert "effect" in str(est)


def test_nan_becomes_null_in_json():
    df = pd.DataFrame({"arm": [0, 0, 0, 1, 1, 1], "y": [0.0, 0.0, 0.0, 1.0, 2.0, 0.0]})
    est = analyze(df, arm="arm", outcome="y", method="welch")
    assert math.isnan(est.rel_effect)
    assert est.to_dict()["rel_effect"] is None
    assert any("control mean is zero" in w for w in est.warnings)


def test_thin_and_skewed_data_warn():
    rng = np.random.default_rng(22)
    df = pd.DataFrame({"arm": np.tile([0, 1], 10), "y": rng.normal(0, 1, 20)})
    assert any("only 10 units" in w for w in analyze(df, arm="arm", outcome="y").warnings)
    df = pd.DataFrame({"arm": np.tile([0, 1], 100), "y": rng.lognormal(0, 2.5, 200)})
    assert any("heavily skewed" in w for w in analyze(df, arm="arm", outcome="y").warnings)
    df = pd.DataFrame({"arm": np.tile([0, 1], 100), "won": (rng.random(200) < 0.01) * 1})
    assert any("events" in w for w in analyze(df, arm="arm", outcome="won").warnings)


# -- bad input -------------------------------------------------------------------------------------


def test_arm_labels_are_inferred_or_must_be_given():
    df = make_data(seed=23)
    est = analyze(df.assign(arm=(df["arm"] == "treatment").astype(int)), arm="arm",
                  outcome="y")
    assert (est.control, est.treatment) == ("0", "1")
    est = analyze(df, arm="arm", outcome="y", control="treatment")
    assert est.treatment == "control"
    three = df.assign(arm=np.resize(["a", "b", "c"], len(df)))
    with pytest.raises(DataValidationError, match="'arm' has 3 value"):
        analyze(three, arm="arm", outcome="y")
    est = analyze(three, arm="arm", outcome="y", control="a", treatment="c")
    assert any("other arms" in n for n in est.notes)
    with pytest.raises(DataValidationError, match="cannot tell which"):
        analyze(df.assign(arm=np.resize(["x", "y"], len(df))), arm="arm", outcome="y")
    with pytest.raises(DataValidationError, match="control arm 'placebo' not found"):
        analyze(df, arm="arm", outcome="y", control="placebo")
    est = analyze(df.assign(arm=(df["arm"] == "treatment").astype(int)), arm="arm",
                  outcome="y", control="0", treatment="1")
    assert est.n_control > 0


def test_bad_columns_get_clear_errors():
    df = make_data(seed=24)
    with pytest.raises(DataValidationError, match="'deals' not found") as exc:
        analyze(df, arm="arm", outcome="deals")
    assert "Fix:" in str(exc.value)
    bad = df.assign(y=df["y"].astype(object))
    bad.loc[[3, 7], "y"] = ["n/a", "12,5"]
    with pytest.raises(DataValidationError, match=r"not numeric.*row 3: 'n/a'"):
        analyze(bad, arm="arm", outcome="y")
    with pytest.raises(DataValidationError, match="missing value"):
        analyze(df.assign(y=df["y"].where(df.index != 5)), arm="arm", outcome="y")
    with pytest.raises(DataValidationError, match="covariate 'x1' has 1 missing"):
        analyze(df.assign(x1=df["x1"].where(df.index != 9)), arm="arm", outcome="y",
                covariates=["x1"])
    with pytest.raises(DataValidationError, match="at least 2 units per arm"):
        analyze(pd.concat([df.iloc[:1].assign(arm="control"),
                           df.iloc[1:4].assign(arm="treatment")]), arm="arm", outcome="y")
    with pytest.raises(ConfigError, match="method 'magic'"):
        analyze(df, arm="arm", outcome="y", method="magic")
    with pytest.raises(ConfigError, match="confidence_level"):
        analyze(df, arm="arm", outcome="y", confidence_level=95)
    with pytest.raises(DataValidationError, match="collinear"):
        analyze(df.assign(x3=2 * df["x1"]), arm="arm", outcome="y", covariates=["x1", "x3"])


# -- the simulator's ground truth -----------------------------------------------------------------------


def test_estimates_recover_the_simulators_ground_truth():
    import datetime as dt

    import supportlab.sim.simulate as sim

    end = dt.date(2026, 11, 1)
    start, horizon = end - dt.timedelta(days=100), 90
    config = sim.SimulationConfig(n_partners=1500, days=250, end=end, seed=20261001)
    tables: dict[str, list[pd.DataFrame]] = {}
    for name, table in sim.simulate_world(config):
        if name in ("sim_partners", "deals"):
            tables.setdefault(name, []).append(table.to_pandas())
    truth = pd.concat(tables["sim_partners"], ignore_index=True)
    deals = pd.concat(tables["deals"], ignore_index=True)
    t0 = pd.Timestamp(start).tz_localize("Asia/Tokyo")
    reg = deals["registered_at"]
    pre = deals[(reg >= t0 - pd.Timedelta(days=horizon)) & (reg < t0)]
    post = deals[(reg >= t0) & (reg < t0 + pd.Timedelta(days=horizon))]
    rng = np.random.default_rng(7)
    arms = pd.DataFrame({"partner_id": truth["partner_id"],
                         "arm": rng.permutation(np.resize(["control", "treatment"],
                                                          len(truth)))})
    steps = (sim.PackageStep(1, (("video-a-intro", "video_complete"),)),
             sim.PackageStep(2, (("training-a", "training_complete"), ("quiz-a", "test_pass"))))
    out = dict(sim.simulate_delivery(truth, arms, steps, experiment_id="recover", start=start,
                                     horizon_days=horizon, effect=sim.EffectModel(base_effect=1.0),
                                     seed=3))
    st = out["sim_truth"].to_pandas()
    df = st.merge(arms, on=["partner_id", "arm"])
    df["deals_pre"] = df["partner_id"].map(pre["partner_id"].value_counts()).fillna(0)
    df["deals"] = (df["partner_id"].map(post["partner_id"].value_counts()).fillna(0)
                   + df["extra_deals"])
    # sim_truth's 'opened' is counterfactual in the control arm: observed uptake is treated only
    df["opened_obs"] = (df["opened"] & (df["arm"] == "treatment")).astype(int)
    itt_truth = st["tau"].mean()
    complier_truth = st.loc[st["opened"], "tau"].mean()
    est = analyze(df, arm="arm", outcome="deals", covariates=["deals_pre"])
    assert est.ci_lower < itt_truth < est.ci_upper
    comp = complier_effect(df, arm="arm", outcome="deals", uptake="opened_obs",
                           covariates=["deals_pre"])
    assert comp.ci_lower < complier_truth < comp.ci_upper
    assert comp.uptake_control == 0


def test_duplicate_index_labels_and_other_arm_dtypes():
    rng = np.random.default_rng(25)
    df = pd.DataFrame({"arm": np.tile([0, 1], 100), "y": rng.normal(size=200),
                       "g": np.repeat(["a", "b"], 100)}, index=np.repeat(np.arange(100), 2))
    res = segment_effects(df, arm="arm", outcome="y", segment="g")
    assert list(res.to_frame()["n_control"]) == [50, 50]
    assert analyze(df.assign(arm=df["arm"].astype(bool)), arm="arm", outcome="y").control == \
        "False"
    cat = pd.Categorical(np.where(df["arm"] == 1, "treatment", "control"))
    assert analyze(df.assign(arm=cat), arm="arm", outcome="y").n_control == 100


def test_arm_label_written_two_ways_is_not_guessed():
    df = pd.DataFrame({"arm": ["0"] * 20 + ["1"] * 20 + ["1.0"] * 5, "y": np.arange(45.0)})
    with pytest.raises(DataValidationError, match=r"matches several values of 'arm'"):
        analyze(df, arm="arm", outcome="y", control="0", treatment="1.00")
    assert analyze(df, arm="arm", outcome="y", control="0", treatment="1").n_treatment == 20
