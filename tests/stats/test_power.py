"""Power and minimum detectable effect: statsmodels' t-test power with allocation and R²."""

from __future__ import annotations

import math

import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower

from supportlab.errors import ConfigError
from supportlab.stats.power import (
    binary_sd,
    mde,
    mde_from_se,
    power_at,
    power_from_se,
    sample_size,
)


@pytest.mark.parametrize(("nc", "nt"), [(150, 150), (300, 700), (1000, 250)])
def test_mde_matches_statsmodels(nc, nt):
    d = TTestIndPower().solve_power(nobs1=nt, ratio=nc / nt, alpha=0.05, power=0.8)
    assert mde(nc, nt, sd=3.0) == pytest.approx(3.0 * d, rel=1e-10)
    assert mde(nc, nt, sd=3.0, r2=0.6) == pytest.approx(3.0 * d * math.sqrt(0.4), rel=1e-10)


def test_power_at_the_mde_is_the_requested_power():
    m = mde(200, 400, sd=2.0, alpha=0.1, power=0.9)
    # statsmodels solves for the effect size by root finding (tolerance ~1e-6)
    assert power_at(m, 200, 400, sd=2.0, alpha=0.1) == pytest.approx(0.9, abs=1e-5)
    assert power_at(m / 2, 200, 400, sd=2.0, alpha=0.1) < 0.9


def test_mde_is_close_to_the_normal_formula_for_large_samples():
    nc, nt, sd = 5000, 5000, 1.0
    normal = (stats.norm.isf(0.025) + stats.norm.ppf(0.8)) * sd * math.sqrt(1 / nc + 1 / nt)
    assert mde(nc, nt, sd=sd) == pytest.approx(normal, rel=1e-3)
    assert mde_from_se(sd * math.sqrt(1 / nc + 1 / nt)) == pytest.approx(normal, rel=1e-12)
    assert power_from_se(normal, sd * math.sqrt(1 / nc + 1 / nt)) == pytest.approx(0.8, abs=1e-6)


@pytest.mark.parametrize("share", [0.5, 0.3])
def test_sample_size_is_the_smallest_that_reaches_the_power(share):
    s = sample_size(0.25, sd=1.5, control_share=share, r2=0.2)
    assert s.n_control / s.n_total == pytest.approx(share, abs=0.01)
    assert power_at(0.25, s.n_control, s.n_treatment, sd=1.5, r2=0.2) >= 0.8
    assert power_at(0.25, s.n_control - 2, s.n_treatment - 2, sd=1.5, r2=0.2) < 0.8
    assert s.to_dict()["n_total"] == s.n_control + s.n_treatment


def test_binary_sd_and_bad_arguments():
    assert binary_sd(0.2) == pytest.approx(0.4)
    for kwargs in ({"sd": 0}, {"sd": 1, "alpha": 1.5}, {"sd": 1, "power": 1},
                   {"sd": 1, "r2": 1.0}):
        with pytest.raises(ConfigError):
            mde(100, 100, **kwargs)
    with pytest.raises(ConfigError, match="control_share"):
        sample_size(0.1, sd=1, control_share=1.0)
    with pytest.raises(ConfigError, match="arm sizes"):
        mde(1, 100, sd=1)
    with pytest.raises(ConfigError, match="alternative"):
        mde(100, 100, sd=1, alternative="bigger")  # type: ignore[arg-type]
