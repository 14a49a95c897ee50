"""Sample-ratio, balance and guardrail checks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from supportlab.errors import ConfigError
from supportlab.stats.checks import EXACT_BELOW, balance_check, guardrail_check, srm_check
from supportlab.stats.estimation import analyze


def test_srm_uses_the_configured_split():
    # a 30/70 design observed as 30/70 is fine, although it is far from 50/50
    ok = srm_check(3000, 7000, control_share=0.3)
    assert not ok.mismatch and ok.test == "chi-square"
    assert ok.p_value == pytest.approx(stats.chisquare([3000, 7000], [3000, 7000]).pvalue)
    bad = srm_check(3300, 6700, control_share=0.3)
    assert bad.mismatch
    assert bad.p_value == pytest.approx(stats.chisquare([3300, 6700], [3000, 7000]).pvalue,
                                        rel=1e-12)
    with pytest.raises(TypeError):
        srm_check(50, 50)  # type: ignore[call-arg]  # the split must be stated


def test_srm_is_exact_for_small_samples():
    r = srm_check(40, 80, control_share=0.5)
    assert r.test == "exact binomial" and 120 < EXACT_BELOW
    assert r.p_value == pytest.approx(stats.binomtest(40, 120, 0.5).pvalue, rel=1e-12)
    assert r.p_value < 0.001 and r.mismatch
    assert "MISMATCH" in str(r) and "MISMATCH" in r.to_markdown()
    with pytest.raises(ConfigError, match="control_share"):
        srm_check(10, 10, control_share=0)


def test_balance_flags_a_broken_assignment():
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(0, 1, n)
    fair = pd.DataFrame({"arm": rng.permutation(np.repeat([0, 1], n // 2)), "x": x,
                         "z": rng.normal(0, 1, n)})
    res = balance_check(fair, arm="arm", covariates=["x", "z"])
    assert res.omnibus_p > 0.001 and res.imbalanced == ()
    t = fair["arm"] == 1
    smd = (x[t].mean() - x[~t].mean()) / np.sqrt((x[t].var(ddof=1) + x[~t].var(ddof=1)) / 2)
    assert res.table.loc[0, "smd"] == pytest.approx(smd)
    broken = fair.assign(arm=(x + rng.normal(0, 1, n) > 0).astype(int))
    res = balance_check(broken, arm="arm", covariates=["x", "z"])
    assert res.omnibus_p < 1e-10 and res.imbalanced == ("x",)
    assert res.omnibus_df == (2, n - 3)


def _estimate(rel: float, rel_se: float, df: float = float("inf")):
    base = analyze(pd.DataFrame({"arm": [0, 0, 1, 1], "y": [1.0, 2.0, 2.0, 3.0]}), arm="arm",
                   outcome="y", method="welch")
    return dataclasses.replace(base, rel_effect=rel, rel_se=rel_se, df=df, outcome="logins")


@pytest.mark.parametrize(("rel", "status"), [(0.0, "ok"), (-0.09, "inconclusive"),
                                             (-0.2, "breached")])
def test_guardrail_statuses(rel, status):
    est = _estimate(rel, 0.03)
    g = guardrail_check(est, margin=0.10)
    assert g.status == status
    # the raw counts and plain means shown beside the test
    assert (g.n_control, g.n_treatment) == (est.n_control, est.n_treatment)
    assert (g.mean_control, g.mean_treatment) == (est.raw_mean_control, est.raw_mean_treatment)
    # relative margins are tested on the log scale of the ratio m_t/m_c
    log_se = 0.03 / (1 + rel)
    z = (math.log1p(rel) - math.log1p(-0.10)) / log_se
    assert g.p_value == pytest.approx(stats.norm.sf(z))
    assert g.lower == pytest.approx(math.expm1(math.log1p(rel) - stats.norm.isf(0.05) * log_se))


def test_relative_guardrail_holds_alpha_in_both_directions():
    """The true change sits exactly at the margin: 'ok' must be rare either way."""
    rng = np.random.default_rng(5)
    runs, ok_rise, ok_drop = 1500, 0, 0
    for _ in range(runs):
        arm = rng.permutation(np.repeat([0, 1], 300))
        base = rng.gamma(2.0, 1.0, 600)
        rise = analyze(pd.DataFrame({"arm": arm, "y": base * np.where(arm == 1, 1.1, 1.0)}),
                       arm="arm", outcome="y", method="welch")
        drop = analyze(pd.DataFrame({"arm": arm, "y": base * np.where(arm == 1, 0.9, 1.0)}),
                       arm="arm", outcome="y", method="welch")
        ok_rise += guardrail_check(rise, margin=0.10, better="lower").status == "ok"
        ok_drop += guardrail_check(drop, margin=0.10, better="higher").status == "ok"
    assert ok_rise / runs < 0.07 and ok_drop / runs < 0.07  # α = 5%, MC error ≈ 0.6 points


def test_guardrail_lower_is_better_and_absolute_margin():
    est = _estimate(0.0, 0.03)
    est = dataclasses.replace(est, effect=0.5, se=0.1)
    g = guardrail_check(est, margin=0.2, relative=False, better="lower")
    assert g.status == "breached"  # a rise of 0.5 ± 0.16 is beyond the allowed 0.2
    g = guardrail_check(dataclasses.replace(est, effect=-0.3), margin=0.2, relative=False,
                        better="lower")
    assert g.status == "ok"
    with pytest.raises(ConfigError, match="margin"):
        guardrail_check(est, margin=-0.1)


def test_p_values_never_underflow_to_zero():
    from supportlab.stats.sequential import sequential_looks

    assert 0 < srm_check(1000, 100_000, control_share=0.5).p_value < 1e-300
    look = sequential_looks(pd.DataFrame({"effect": [50.0], "se": [1.0]}), mixture_sd=1).looks[0]
    assert look.p_value > 0 and look.p_value_always_valid > 0
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"arm": np.tile([0, 1], 500), "y": rng.normal(100, 1, 1000)})
    g = guardrail_check(analyze(df, arm="arm", outcome="y"), margin=0.5)
    assert 0 < g.p_value < 1e-300 and g.status == "ok"


def test_relative_guardrail_needs_a_positive_control_mean():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"arm": np.tile([0, 1], 1000)})
    df["net"] = rng.normal(-1, 1, 2000) + 0.3 * df["arm"]  # improves, but the mean is negative
    est = analyze(df, arm="arm", outcome="net")
    assert np.isnan(est.rel_effect) and any("zero or negative" in w for w in est.warnings)
    with pytest.raises(ConfigError, match="relative margin needs a positive control mean"):
        guardrail_check(est, margin=0.10)
    assert guardrail_check(est, margin=0.2, relative=False).status == "ok"
