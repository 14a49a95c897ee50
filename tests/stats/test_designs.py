"""Design-aware inference: statsmodels parity where the estimators coincide, the randomization
test against exact enumeration, corrections and refusals of analyses that ignore the design."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from supportlab.errors import ConfigError, DataValidationError
from supportlab.stats.designs import (
    DesignChoice,
    DesignInfo,
    RandomizationTest,
    analyze_design,
    follow_design,
    randomization_test,
)
from supportlab.stats.estimation import Estimate, analyze

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-8
HALF = {"control": 0.5, "treatment": 0.5}


def _arms(t: np.ndarray) -> np.ndarray:
    return np.where(t == 1, "treatment", "control")


@pytest.fixture(scope="module")
def strat_df() -> pd.DataFrame:
    """3 strata with very different treated shares (20/50/80%), levels and effects."""
    rng = np.random.default_rng(11)
    sizes, shares = (60, 90, 50), (0.2, 0.5, 0.8)
    parts = []
    for s, (n_s, p) in enumerate(zip(sizes, shares, strict=True)):
        t = rng.permutation(np.r_[np.ones(round(n_s * p), int), np.zeros(n_s - round(n_s * p),
                                                                           int)])
        x = rng.gamma(2.0, 1.0 + s, n_s)
        y = 3.0 * s + 0.8 * x + rng.lognormal(0, 0.8, n_s) + t * (0.5 + 1.5 * s)
        parts.append(pd.DataFrame({"arm": _arms(t), "stratum": f"s{s}", "x": x, "y": y}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def pairs_df() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    J = 40
    x = np.sort(rng.gamma(2.0, 2.0, 2 * J))
    t = np.ravel([rng.permutation([0, 1]) for _ in range(J)])
    z = rng.normal(0, 1, 2 * J)
    y = 1.5 * x + z + rng.lognormal(0, 1, 2 * J) + 0.6 * t
    return pd.DataFrame({"arm": _arms(t), "pair": np.repeat([f"p{j:02d}" for j in range(J)], 2),
                         "x": x, "z": z, "y": y})


def _centred_dummies(codes: pd.Series) -> np.ndarray:
    D = pd.get_dummies(codes, dtype=float).to_numpy()[:, 1:]
    return D - D.mean(axis=0)


# -- stratified -------------------------------------------------------------------------------


def test_stratified_matches_statsmodels_and_weights_strata_by_size(strat_df):
    df = strat_df
    design = DesignInfo("stratified", {"control": 0.5, "treatment": 0.5}, strata="stratum")
    est = analyze_design(df, arm="arm", outcome="y", design=design, permutations=0)
    assert isinstance(est, Estimate) and est.method == "stratified-regression"
    t = (df["arm"] == "treatment").to_numpy().astype(float)
    Dc = _centred_dummies(df["stratum"])
    fit = sm.OLS(df["y"].to_numpy(), np.column_stack([np.ones(len(df)), t, Dc, t[:, None] * Dc])
                 ).fit(cov_type="HC2")
    assert est.effect == pytest.approx(fit.params[1], abs=TOL)
    assert est.se == pytest.approx(fit.bse[1], abs=TOL)
    # the post-stratified difference: strata weighted by their size, not by arm counts
    g = df.groupby("stratum")
    tau_s = g.apply(lambda s: s.y[s.arm == "treatment"].mean() - s.y[s.arm == "control"].mean(),
                    include_groups=False)
    w = g.size() / len(df)
    assert est.effect == pytest.approx(float((w * tau_s).sum()), abs=TOL)
    naive = analyze(df, arm="arm", outcome="y", method="welch")
    assert abs(naive.effect - est.effect) > 1.0  # unequal shares: ignoring strata is biased
    # the same numbers as sl.analyze with the design's strata
    ref = analyze(df, arm="arm", outcome="y", strata="stratum", method="regression")
    assert (est.effect, est.se, est.ci_lower, est.p_value) == pytest.approx(
        (ref.effect, ref.se, ref.ci_lower, ref.p_value), abs=TOL)


def test_stratified_with_a_covariate_matches_statsmodels(strat_df):
    df = strat_df
    design = DesignInfo("stratified", HALF, strata="stratum")
    est = analyze_design(df, arm="arm", outcome="y", design=design, covariates=["x"],
                         permutations=0)
    t = (df["arm"] == "treatment").to_numpy().astype(float)
    A = np.column_stack([df["x"] - df["x"].mean(), _centred_dummies(df["stratum"])])
    fit = sm.OLS(df["y"].to_numpy(), np.column_stack([np.ones(len(df)), t, A, t[:, None] * A])
                 ).fit(cov_type="HC2")
    assert est.effect == pytest.approx(fit.params[1], abs=TOL)
    assert est.se == pytest.approx(fit.bse[1], abs=TOL)
    assert est.covariates == ("x",) and est.strata == "stratum"


# -- blocked ----------------------------------------------------------------------------------


def test_pairs_match_ols_with_pair_dummies_and_the_paired_formula(pairs_df):
    df = pairs_df
    design = DesignInfo("blocked", HALF, blocks="pair")
    est = analyze_design(df, arm="arm", outcome="y", design=design, permutations=0)
    assert est.method == "blocked" and est.details["variance"] == "between-block"
    t = (df["arm"] == "treatment").to_numpy().astype(float)
    D = pd.get_dummies(df["pair"], dtype=float).to_numpy()
    fit = sm.OLS(df["y"].to_numpy(), np.column_stack([t, D])).fit(cov_type="HC2")
    assert est.effect == pytest.approx(fit.params[0], abs=TOL)
    assert est.se == pytest.approx(fit.bse[0], abs=TOL)
    d = (df[df.arm == "treatment"].set_index("pair").y - df[df.arm == "control"].set_index(
        "pair").y).to_numpy()
    J = len(d)
    assert est.effect == pytest.approx(d.mean(), abs=TOL)
    assert est.se == pytest.approx(math.sqrt(((d - d.mean()) ** 2).sum() / (J * (J - 1))),
                                   abs=TOL)
    assert est.df == J - 1
    from scipy import stats
    half = stats.t.isf(0.025, J - 1) * est.se
    assert (est.ci_lower, est.ci_upper) == pytest.approx((est.effect - half, est.effect + half),
                                                         abs=TOL)
    assert est.mean_treatment - est.mean_control == pytest.approx(est.effect, abs=TOL)
    assert est.ci_lower <= est.effect <= est.ci_upper


def _block_level(df: pd.DataFrame, cov: str | None = None):
    g = df.assign(t=df.arm == "treatment").groupby(["pair", "t"])
    m = g.mean(numeric_only=True).unstack("t")
    n = df.groupby("pair").size()
    w = (n / n.sum()).to_numpy()
    tau = (m["y"][True] - m["y"][False]).to_numpy()
    dx = (m[cov][True] - m[cov][False]).to_numpy() if cov else None
    return tau, w, dx


def test_unequal_blocks_match_weighted_least_squares(pairs_df):
    # merge some pairs with a third unit: blocks of 2 and 3, a single unit of an arm in each
    df = pairs_df.copy()
    extra = df.iloc[0:16:2].copy()
    extra["pair"] = [f"p{j:02d}" for j in range(8, 16)]
    extra["y"] = extra["y"] + 0.3
    df = pd.concat([df, extra], ignore_index=True)
    design = DesignInfo("blocked", HALF, blocks="pair")
    est = analyze_design(df, arm="arm", outcome="y", design=design, permutations=0)
    tau, w, _ = _block_level(df)
    fit = sm.WLS(tau, np.ones((len(tau), 1)), weights=w).fit(cov_type="HC2")
    assert est.effect == pytest.approx(float(np.sum(w * tau)), abs=TOL)
    assert est.effect == pytest.approx(fit.params[0], abs=TOL)
    assert est.se == pytest.approx(fit.bse[0], abs=TOL)
    assert est.details["block_sizes"] == [2, 3]


def test_pairs_with_a_covariate_match_block_level_regression(pairs_df):
    df = pairs_df
    design = DesignInfo("blocked", HALF, blocks="pair")
    est = analyze_design(df, arm="arm", outcome="y", design=design, covariates=["z"],
                         permutations=0)
    tau, w, dx = _block_level(df, "z")
    fit = sm.WLS(tau, np.column_stack([np.ones(len(tau)), dx]), weights=w).fit(cov_type="HC2")
    assert est.effect == pytest.approx(fit.params[0], abs=TOL)
    assert est.se == pytest.approx(fit.bse[0], abs=TOL)
    assert est.df == len(tau) - 2
    assert any("Fogarty" in n for n in est.notes)


def test_blocks_of_four_use_the_within_block_variance(pairs_df):
    df = pairs_df.copy()
    rng = np.random.default_rng(2)
    df["pair"] = np.repeat(np.arange(len(df) // 4), 4)
    df["arm"] = np.ravel([rng.permutation(["control", "control", "treatment", "treatment"])
                          for _ in range(len(df) // 4)])
    design = DesignInfo("blocked", HALF, blocks="pair")
    est = analyze_design(df, arm="arm", outcome="y", design=design, permutations=0)
    assert est.method == "blocked" and est.details["variance"] == "within-block"
    t = (df["arm"] == "treatment").to_numpy().astype(float)
    Dc = _centred_dummies(df["pair"])
    fit = sm.OLS(df["y"].to_numpy(), np.column_stack([np.ones(len(df)), t, Dc, t[:, None] * Dc])
                 ).fit(cov_type="HC2", use_t=True)
    assert est.effect == pytest.approx(fit.params[1], abs=TOL)
    assert est.se == pytest.approx(fit.bse[1], abs=TOL)
    assert est.df == fit.df_resid == len(df) - 2 * (len(df) // 4)
    assert (est.ci_lower, est.ci_upper) == pytest.approx(tuple(fit.conf_int()[1]), abs=TOL)
    assert est.p_value == pytest.approx(fit.pvalues[1], abs=TOL)


def test_a_block_with_one_arm_only_is_left_out_with_a_warning(pairs_df):
    df = pairs_df.copy()
    df.loc[df["pair"] == "p00", "arm"] = "control"
    est = analyze_design(df, arm="arm", outcome="y", design=DesignInfo("blocked", HALF,
                                                                        blocks="pair"),
                         permutations=0)
    assert est.n_control + est.n_treatment == len(df) - 2
    assert any("one arm only" in w and "'p00'" in w for w in est.warnings)


# -- rerandomized -----------------------------------------------------------------------------


def test_rerandomized_is_lin_regression_on_the_rerandomization_covariates(pairs_df):
    df = pairs_df.drop(columns="pair")
    design = DesignInfo("rerandomized", HALF, covariates=("x", "z"))
    est = analyze_design(df, arm="arm", outcome="y", design=design, permutations=0)
    assert est.method == "rerandomized-regression" and est.covariates == ("x", "z")
    t = (df["arm"] == "treatment").to_numpy().astype(float)
    Xc = df[["x", "z"]].to_numpy() - df[["x", "z"]].to_numpy().mean(axis=0)
    fit = sm.OLS(df["y"].to_numpy(), np.column_stack([np.ones(len(df)), t, Xc, t[:, None] * Xc])
                 ).fit(cov_type="HC2")
    assert est.effect == pytest.approx(fit.params[1], abs=TOL)
    assert est.se == pytest.approx(fit.bse[1], abs=TOL)
    assert any("Li & Ding" in n for n in est.notes)
    again = analyze_design(df, arm="arm", outcome="y", design=design)
    assert "randomization_p_value" not in again.details  # no redraws: no randomization p-value
    assert any("needs its redraws" in n for n in again.notes)


# -- randomization test -----------------------------------------------------------------------


def test_randomization_p_value_equals_exact_enumeration_of_pairs():
    rng = np.random.default_rng(8)
    J = 8
    t = np.ravel([rng.permutation([0, 1]) for _ in range(J)])
    y = rng.lognormal(0, 1, 2 * J) + 0.8 * t
    df = pd.DataFrame({"arm": _arms(t), "pair": np.repeat(np.arange(J), 2), "y": y})
    design = DesignInfo("blocked", HALF, blocks="pair")
    # every assignment the design could have made: 2^8 swaps of the pairs
    draws = []
    for flips in itertools.product([0, 1], repeat=J):
        draws.append(np.ravel([[f, 1 - f] for f in flips]))
    all_draws = _arms(np.array(draws))
    r = randomization_test(df, arm="arm", outcome="y", design=design, redraw=all_draws)
    d = y[t == 1] - y[t == 0]
    obs = abs(d.mean())
    signs = np.array(list(itertools.product([-1, 1], repeat=J)))
    stat = np.abs((signs * np.abs(d)).mean(axis=1))
    k = int(np.sum(stat >= obs - 1e-12))
    assert r.n_redraws == 2**J and r.n_extreme == k
    assert r.p_value == pytest.approx((1 + k) / (1 + 2**J))
    assert isinstance(r, RandomizationTest) and r.seed is None


def test_randomization_p_value_never_underflows_and_interval_inverts_the_test(pairs_df):
    df = pairs_df.copy()
    df["y"] = df["y"] + 50 * (df["arm"] == "treatment")
    design = DesignInfo("blocked", HALF, blocks="pair")
    r = randomization_test(df, arm="arm", outcome="y", design=design, permutations=199, seed=3)
    assert r.p_value == pytest.approx(1 / 200) and r.n_extreme == 0
    assert r.ci_lower < r.effect < r.ci_upper and r.ci_lower > 40
    ok = randomization_test(df.assign(y=df.y - 50 * (df.arm == "treatment")), arm="arm",
                            outcome="y", design=design, permutations=199, seed=3)
    assert ok.p_value > 0.05
    assert "p=" in str(r) and "再割付" in r.to_string(lang="ja")
    assert json.loads(r.to_json())["n_redraws"] == 199


def test_default_redraws_are_the_designs_and_a_callable_redraw_is_used(strat_df):
    df = strat_df
    design = DesignInfo("stratified", HALF, strata="stratum")
    t = (df["arm"] == "treatment").to_numpy()
    seen: list[np.ndarray] = []

    def redraw(rng: np.random.Generator) -> np.ndarray:  # permute within strata, like the design
        out = df["arm"].to_numpy().copy()
        for s in df["stratum"].unique():
            idx = np.flatnonzero(df["stratum"].to_numpy() == s)
            out[idx] = rng.permutation(out[idx])
        seen.append(out)
        return out

    a = randomization_test(df, arm="arm", outcome="y", design=design, permutations=400, seed=1)
    b = randomization_test(df, arm="arm", outcome="y", design=design, redraw=redraw,
                           permutations=400, seed=1)
    assert len(seen) == 400 and b.redrawn == "the design's redraws"
    for arms in seen[:20]:  # each redraw keeps the arm counts of every stratum
        for s in df["stratum"].unique():
            m = df["stratum"].to_numpy() == s
            assert (arms[m] == "treatment").sum() == t[m].sum()
    assert a.effect == b.effect
    assert abs(a.ci_lower - b.ci_lower) < 0.25 * (a.ci_upper - a.ci_lower)
    # free permutations (ignoring the strata) give another, wrong, distribution
    free = DesignInfo("stratified", HALF)
    c = randomization_test(df, arm="arm", outcome="y", design=free, permutations=400, seed=1)
    assert c.ci_upper - c.ci_lower > 1.5 * (a.ci_upper - a.ci_lower)


def test_analyze_design_with_permutation_makes_the_randomization_test_primary(pairs_df):
    design = DesignInfo("blocked", HALF, blocks="pair")
    est = analyze_design(pairs_df, arm="arm", outcome="y", design=design, method="permutation",
                         permutations=500, seed=4)
    assert est.method == "blocked-permutation"
    assert est.p_value == est.details["randomization_p_value"]
    assert (est.ci_lower, est.ci_upper) == est.details["randomization_ci"]
    assert est.p_value >= 1 / 501
    assert any(n.startswith("corrected: method 'permutation'") for n in est.notes)
    assert math.isfinite(est.rel_effect) and est.rel_ci_lower < est.rel_effect < est.rel_ci_upper
    same = analyze_design(pairs_df, arm="arm", outcome="y", design=design,
                          method="blocked-permutation", permutations=500, seed=4)
    assert same.p_value == est.p_value and not any("corrected" in n for n in same.notes)


def test_rerandomized_randomization_needs_and_uses_redraws(pairs_df):
    df = pairs_df.drop(columns="pair")
    design = DesignInfo("rerandomized", HALF, covariates=("x",))
    with pytest.raises(ConfigError, match="needs the design's redraws"):
        analyze_design(df, arm="arm", outcome="y", design=design, method="permutation")
    with pytest.raises(ConfigError, match="needs the design's redraws"):
        randomization_test(df, arm="arm", outcome="y", design=design)
    rng = np.random.default_rng(0)
    draws = np.array([rng.permutation(df["arm"].to_numpy()) for _ in range(300)])
    est = analyze_design(df, arm="arm", outcome="y", design=design, redraw=draws)
    assert est.method == "rerandomized-regression"
    assert est.details["randomization_redraws"] == 300
    assert 1 / 301 <= est.details["randomization_p_value"] <= 1
    with pytest.raises(DataValidationError, match="expected 80 units"):
        analyze_design(df, arm="arm", outcome="y", design=design, redraw=draws[:, :10])


# -- follow the design: corrected or refused --------------------------------------------------


@pytest.mark.parametrize(("kind", "requested", "used"), [
    ("stratified", "welch", "stratified-regression"),
    ("stratified", "proportion", "stratified-regression"),
    ("stratified", "permutation", "stratified-permutation"),
    ("blocked", "welch", "blocked"),
    ("blocked", "regression", "blocked"),
    ("rerandomized", "welch", "rerandomized-regression"),
    ("rerandomized", "regression", "rerandomized-regression"),
])
def test_analyses_that_ignore_the_design_are_corrected(kind, requested, used):
    design = DesignInfo(kind, HALF, strata="rank" if kind == "stratified" else None,
                        blocks="pair" if kind == "blocked" else None,
                        covariates=("x",) if kind == "rerandomized" else ())
    choice = follow_design(design, requested)
    assert isinstance(choice, DesignChoice)
    assert choice.method == used and choice.corrected
    assert choice.notes[0].startswith(f"corrected: method '{requested}'")
    assert not follow_design(design, "auto").corrected


@pytest.mark.parametrize(("kind", "kwargs", "message"), [
    ("blocked", {"method": "bootstrap"}, "breaks the pairs/blocks"),
    ("stratified", {"method": "bootstrap"}, "ignores a stratified design"),
    ("rerandomized", {"method": "bootstrap"}, "acceptance rule rejects"),
    ("stratified", {"strata": "region"}, "strata 'region' are not the design's"),
    ("blocked", {"blocks": "other"}, "blocks 'other' are not the design's"),
    ("stratified", {"method": "blocked"}, "another design's estimator"),
    ("rerandomized", {"method": "permutation"}, "needs the design's redraws"),
    ("stratified", {"method": "magic"}, "not known"),
])
def test_analyses_that_contradict_the_design_are_refused(kind, kwargs, message):
    design = DesignInfo(kind, HALF, strata="rank" if kind == "stratified" else None,
                        blocks="pair" if kind == "blocked" else None,
                        covariates=("x",) if kind == "rerandomized" else ())
    with pytest.raises(ConfigError, match=message) as err:
        follow_design(design, **kwargs)
    assert err.value.fix  # every refusal says how to fix it


def test_analyze_design_corrects_welch_on_a_stratified_design(strat_df):
    design = DesignInfo("stratified", HALF, strata="stratum")
    est = analyze_design(strat_df, arm="arm", outcome="y", design=design, method="welch",
                         permutations=0)
    naive = analyze(strat_df, arm="arm", outcome="y", method="welch")
    assert est.method == "stratified-regression" and est.effect != naive.effect
    assert any("corrected: method 'welch'" in n for n in est.notes)


# -- the design description, arms and sample ratio --------------------------------------------


def test_design_info_from_a_stored_spec():
    from supportlab.config.experiment import Design
    from supportlab.design.spec import DesignSpec

    spec = DesignSpec.from_design("exp-1", "pkg", 1, Design(dt.date(2026, 10, 1), seed=7,
                                                            stratify_by=("rank",)))
    info = DesignInfo.from_spec(spec)
    assert (info.method, info.strata, info.blocks, info.arms) == (
        "stratified", "stratum", None, ("control", "treatment"))
    rr = dataclasses.replace(spec, method="rerandomized",
                             rerandomize={"covariates": ["deals"], "acceptance": 0.1})
    assert DesignInfo.from_spec(rr).covariates == ("deals",)
    assert DesignInfo.from_spec(rr, covariate_column=lambda m: f"{m}_pre").covariates == (
        "deals_pre",)
    bl = dataclasses.replace(spec, method="blocked", strata=(), block_on="deals", block_size=2)
    assert DesignInfo.from_spec(bl, block_column="pair").blocks == "pair"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "cluster"}, "not known"),
    ({"probabilities": {"control": 1.0}}, "at least two arms"),
    ({"probabilities": {"control": 0.5, "treatment": 0.4}}, "do not sum to 1"),
    ({"method": "blocked"}, "needs the column of its blocks"),
    ({"blocks": "pair"}, "has no blocks"),
    ({"method": "rerandomized"}, "covariates of its acceptance rule"),
])
def test_design_info_is_validated(kwargs, message):
    args = {"method": "stratified", "probabilities": HALF, **kwargs}
    with pytest.raises(ConfigError, match=message):
        DesignInfo(**args)


def test_sample_ratio_is_checked_against_the_designs_probabilities(pairs_df):
    df = pairs_df.drop(columns="pair")
    ok = analyze_design(df, arm="arm", outcome="y", permutations=0,
                        design=DesignInfo("stratified", HALF))
    assert ok.details["srm_p_value"] == 1.0 and not any("mismatch" in w for w in ok.warnings)
    skewed = analyze_design(df, arm="arm", outcome="y", permutations=0,
                            design=DesignInfo("stratified", {"control": 0.1, "treatment": 0.9}))
    assert skewed.details["expected_control_share"] == pytest.approx(0.1)
    assert skewed.details["srm_p_value"] < 1e-6
    assert any("sample-ratio mismatch" in w for w in skewed.warnings)


def test_arms_default_to_the_design_and_unknown_arms_are_refused(pairs_df):
    three = DesignInfo("stratified", {"control": 0.4, "a": 0.3, "b": 0.3})
    with pytest.raises(ConfigError, match="which is the treatment"):
        analyze_design(pairs_df, arm="arm", outcome="y", design=three)
    with pytest.raises(ConfigError, match="not an arm of the design"):
        analyze_design(pairs_df, arm="arm", outcome="y", design=DesignInfo("stratified", HALF),
                       treatment="variant")


def test_bad_input_names_the_column(pairs_df):
    design = DesignInfo("blocked", HALF, blocks="pair")
    with pytest.raises(DataValidationError, match="'block'"):
        analyze_design(pairs_df, arm="arm", outcome="y",
                       design=DesignInfo("blocked", HALF, blocks="block"))
    df = pairs_df.copy()
    df.loc[3, "pair"] = None
    with pytest.raises(DataValidationError, match="block column 'pair' has 1 missing"):
        analyze_design(df, arm="arm", outcome="y", design=design)
    with pytest.raises(DataValidationError, match="'w'"):
        analyze_design(pairs_df.drop(columns="pair"), arm="arm", outcome="y",
                       design=DesignInfo("rerandomized", HALF, covariates=("w",)))
    with pytest.raises(ConfigError, match="must be a DesignInfo"):
        analyze_design(pairs_df, arm="arm", outcome="y", design="blocked")  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="too few"):
        analyze_design(pairs_df.iloc[:4], arm="arm", outcome="y", design=design, covariates=["x",
                                                                                        "z"])


# -- the validation script --------------------------------------------------------------------


def test_validation_script_runs_in_tiny_mode(tmp_path):
    out = tmp_path / "designs.json"
    proc = subprocess.run([sys.executable, str(ROOT / "validation" / "validate_designs.py"),
                           "--tiny", "--json", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads(out.read_text(encoding="utf-8"))
    methods = {r["design"].split(":")[0]: r["method"] for r in res["designs"]}
    assert methods == {"stratified": "stratified-regression", "paired on the pre-period revenue":
                       "blocked", "blocks of 4 (2 + 2) on the pre-period revenue": "blocked",
                       "rerandomized": "rerandomized-regression"}
    assert res["tiny"] and "stats/designs.py" in res["library_sha256"]
    assert "rand. FPR" in proc.stdout


def test_the_design_layers_assignment_and_redraws_plug_in():
    from supportlab.design.randomize import covariate_column, randomize, redraw
    from supportlab.design.spec import DesignSpec

    rng = np.random.default_rng(21)
    n = 120
    units = pd.DataFrame({"rank": rng.choice(list("AB"), n), "deals_pre": rng.gamma(2, 1, n)},
                         index=pd.Index([f"P{i:03d}" for i in range(n)], name="partner_id"))
    spec = DesignSpec(experiment_id="e", package_id="p", version=1, phase=1,
                      probabilities=HALF, method="rerandomized", start=dt.date(2026, 6, 1),
                      end=dt.date(2026, 9, 1), seed=3, strata=("rank",),
                      rerandomize={"covariates": ["deals"], "acceptance": 0.2, "max_draws": 500})
    frame, _ = randomize(units, spec)
    df = units.join(frame[["arm", "stratum", "block"]])
    df["y"] = 2 * df["deals_pre"] + rng.normal(0, 1, n) + 0.5 * (df["arm"] == "treatment")
    design = DesignInfo.from_spec(spec, covariate_column=covariate_column)
    assert (design.strata, design.covariates) == ("stratum", ("deals_pre",))
    est = analyze_design(df, arm="arm", outcome="y", design=design, redraw=redraw(df, spec),
                         permutations=300, seed=1)
    assert est.method == "rerandomized-regression"
    assert est.details["randomization_redrawn"] == "the design's redraws"
    assert est.details["randomization_redraws"] == 300
    assert est.ci_lower < 0.5 < est.ci_upper
