"""Always-valid confidence sequences: formula, validity under many looks, harm stopping."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from supportlab.errors import ConfigError, DataValidationError
from supportlab.stats.estimation import analyze
from supportlab.stats.sequential import (
    METHOD,
    boundary_multiplier,
    confidence_sequence,
    sequential_looks,
)


def test_boundary_is_the_normal_mixture_formula_and_wider_than_fixed():
    se, rho, alpha = np.array([0.5, 0.1, 0.01]), 0.3, 0.05
    eta = rho**2 / se**2
    expected = np.sqrt((1 + eta) / eta * (2 * math.log(1 / alpha) + np.log1p(eta)))
    got = boundary_multiplier(se, mixture_sd=rho, alpha=alpha)
    assert np.allclose(got, expected, rtol=1e-12)
    assert np.all(got > stats.norm.isf(alpha / 2))
    lo, hi = confidence_sequence([1.0, 1.0, 1.0], se, mixture_sd=rho)
    assert np.allclose(hi - 1.0, se * expected) and np.allclose(1.0 - lo, se * expected)


def test_always_valid_under_many_looks_where_naive_peeking_is_not():
    # a Gaussian random walk observed at 12 looks: the canonical joint distribution
    rng = np.random.default_rng(0)
    sims, looks = 20000, 12
    increments = rng.normal(0, 1, (sims, looks))
    info = np.arange(1, looks + 1) * 100.0  # information 1/se² grows linearly
    score = np.cumsum(increments * 10.0, axis=1)  # Var(score_k) = info_k
    effect = score / info
    se = 1 / np.sqrt(info)
    lo, hi = confidence_sequence(effect, se[None, :], mixture_sd=0.25)
    cs_error = np.mean(np.any((lo > 0) | (hi < 0), axis=1))
    naive_error = np.mean(np.any(np.abs(effect / se) > 1.959964, axis=1))
    assert cs_error < 0.05
    assert naive_error > 0.12


def test_sequential_looks_from_estimates_and_harm_stopping():
    rng = np.random.default_rng(1)
    ests = []
    for week in range(1, 6):
        n = 100 * week
        df = pd.DataFrame({"arm": np.tile([0, 1], n), "y": rng.normal(0, 1, 2 * n)})
        df.loc[df["arm"] == 1, "y"] -= 0.5
        ests.append(analyze(df, arm="arm", outcome="y"))
    res = sequential_looks(ests, mixture_sd=0.3)
    assert res.method == METHOD and "always-valid" in res.applies
    frame = res.to_frame()
    assert list(frame["look"]) == [1, 2, 3, 4, 5]
    assert (frame["cs_lower"] <= frame["ci_lower"]).all()
    assert (frame["cs_upper"] >= frame["ci_upper"]).all()
    assert frame["p_value_always_valid"].is_monotonic_decreasing
    assert res.stop_for_harm and res.harm_look is not None
    assert frame.loc[res.harm_look - 1, "cs_upper"] < 0
    assert not frame.loc[: res.harm_look - 2, "harm"].any()
    lower_better = sequential_looks(ests, mixture_sd=0.3, better="lower")
    assert not lower_better.stop_for_harm
    assert res.last.look == 5 and res.to_dict()["looks"][0]["look"] == 1


def test_always_valid_p_value_matches_the_mixture_martingale():
    res = sequential_looks(pd.DataFrame({"effect": [0.2, 0.5], "se": [0.2, 0.1]}),
                           mixture_sd=0.3)
    eta = 0.3**2 / np.array([0.2, 0.1]) ** 2
    z = np.array([1.0, 5.0])
    m = np.exp(eta * z**2 / (2 * (1 + eta))) / np.sqrt(1 + eta)
    p = np.minimum.accumulate(np.minimum(1, 1 / m))
    assert np.allclose(res.to_frame()["p_value_always_valid"], p)


def test_bad_sequential_input():
    with pytest.raises(ConfigError, match="mixture_sd"):
        sequential_looks(pd.DataFrame({"effect": [0.1], "se": [0.1]}), mixture_sd=0)
    with pytest.raises(DataValidationError, match="positive standard"):
        sequential_looks(pd.DataFrame({"effect": [0.1], "se": [0.0]}), mixture_sd=0.2)
    with pytest.raises(DataValidationError, match="no looks"):
        sequential_looks([], mixture_sd=0.2)
    with pytest.raises(DataValidationError, match="'se'"):
        sequential_looks(pd.DataFrame({"effect": [0.1]}), mixture_sd=0.2)
