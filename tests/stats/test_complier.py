"""The complier effect: two-stage least squares by hand, Anderson–Rubin sets, weak instruments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from supportlab.stats.complier import ComplierEstimate, complier_effect
from supportlab.stats.estimation import analyze

TOL = 1e-8


def _complier_data(seed: int = 15, n: int = 1000, uptake: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.permutation(np.repeat([0, 1], n // 2))
    x = rng.normal(0, 1, n)
    d = z * (rng.random(n) < uptake)
    y = 1 + x + rng.normal(0, 1, n) + 2.0 * d
    return pd.DataFrame({"arm": z, "x": x, "opened": d, "y": y})


def test_complier_effect_equals_two_stage_least_squares_by_hand():
    df = _complier_data()
    res = complier_effect(df, arm="arm", outcome="y", uptake="opened")
    assert isinstance(res, ComplierEstimate)
    z = df["arm"].to_numpy(float)
    Z = np.column_stack([np.ones(len(df)), z])
    X = np.column_stack([np.ones(len(df)), df["opened"].to_numpy(float)])
    y = df["y"].to_numpy()
    ZX_inv = np.linalg.inv(Z.T @ X)
    beta = ZX_inv @ Z.T @ y
    e = y - X @ beta
    h = np.einsum("ij,jk,ik->i", Z, np.linalg.inv(Z.T @ Z), Z)  # = 1/n_arm
    meat = Z.T @ (Z * (e**2 / (1 - h))[:, None])
    V = ZX_inv @ meat @ ZX_inv.T
    assert res.effect == pytest.approx(beta[1], abs=TOL)
    assert res.se == pytest.approx(math.sqrt(V[1, 1]), abs=TOL)
    assert res.effect == pytest.approx(res.itt.effect / res.first_stage.effect, abs=TOL)
    assert res.uptake_control == 0 and res.uptake_treatment == pytest.approx(
        df.loc[df["arm"] == 1, "opened"].mean())
    assert any("one-sided" in n for n in res.notes)
    # the p-value is the ITT z-test, the Anderson–Rubin test at τ = 0
    assert res.p_value == pytest.approx(
        2 * stats.norm.sf(abs(res.itt.effect / res.itt.se)), rel=1e-10)


def test_complier_anderson_rubin_bounds_are_where_the_shifted_itt_is_significant():
    df = _complier_data(seed=16)
    res = complier_effect(df, arm="arm", outcome="y", uptake="opened")
    z = stats.norm.isf(0.025)
    for b in (res.ci_lower, res.ci_upper):
        shifted = analyze(df.assign(y=df["y"] - b * df["opened"]), arm="arm", outcome="y",
                          method="welch")
        assert abs(shifted.effect / shifted.se) == pytest.approx(z, abs=1e-8)
    assert res.ci_lower < 2.0 < res.ci_upper


def test_complier_with_covariates_and_weak_instrument_warning():
    df = _complier_data(seed=17)
    res = complier_effect(df, arm="arm", outcome="y", uptake="opened", covariates=["x"])
    plain = complier_effect(df, arm="arm", outcome="y", uptake="opened")
    assert res.se < plain.se
    assert res.ci_lower < 2.0 < res.ci_upper
    weak = _complier_data(seed=18, n=300, uptake=0.06)
    res = complier_effect(weak, arm="arm", outcome="y", uptake="opened")
    assert any("weak first stage" in w for w in res.warnings)
    frame = res.to_frame()
    assert list(frame["estimand"].str[:10]) == ["intention ", "first stag", "effect on "]



def test_complier_two_ray_anderson_rubin_set_is_named():
    rng = np.random.default_rng(0)
    z = np.repeat([0, 1], 150)
    opened = np.zeros(300, dtype=int)
    opened[150:153] = 1  # a very weak first stage
    y = rng.normal(0, 1, 300) + 0.5 * z  # a clear ITT
    r = complier_effect(pd.DataFrame({"arm": z, "y": y, "opened": opened}), arm="arm",
                        outcome="y", uptake="opened")
    assert r.p_value < 0.05 and np.isinf(r.ci_lower) and np.isinf(r.ci_upper)
    assert any("two rays" in n and "exclude 0" in n for n in r.notes)
