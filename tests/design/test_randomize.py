"""Randomization: exact counts within strata, bit-for-bit draws, small strata, blocks,
Morgan & Rubin rerandomization and the redraws randomization inference uses."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from supportlab.config.experiment import Design, Rerandomize
from supportlab.design.randomize import (
    POOLED_STRATUM,
    covariate_column,
    mahalanobis,
    randomize,
    redraw,
    stratum_labels,
)
from supportlab.design.spec import DesignSpec
from supportlab.errors import ConfigError, DataValidationError
from supportlab.stats.designs import DesignInfo, randomization_test

START = dt.date(2026, 6, 1)


def spec_of(experiment_id: str = "exp", phase: int = 1, **design) -> DesignSpec:
    design.setdefault("seed", 3)
    return DesignSpec.from_design(experiment_id, "pkg", 1,
                                  Design(START, phase=phase, **design))


def units(n: int = 400, seed: int = 0, ranks: str = "SABC") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pre = rng.lognormal(0, 1, n).round(2)
    return pd.DataFrame({"rank": rng.choice(list(ranks), n),
                         "region": rng.choice(["east", "west"], n),
                         "deals_registered_pre": pre,
                         "portal_logins_pre": (rng.poisson(5, n) + 3 * pre).round(1)},
                        index=pd.Index([f"P{i:05d}" for i in range(n)], name="partner_id"))


def digest(frame: pd.DataFrame) -> str:
    text = "\n".join(f"{i},{a},{s},{b}" for i, a, s, b in
                     zip(frame.index, frame["arm"], frame["stratum"], frame["block"], strict=True))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- stratified ---------------------------------------------------------------------------------


def test_each_stratum_gets_exact_counts_per_arm():
    u = units()
    spec = spec_of(stratify_by=("rank", "region"), control_share=0.4,
                   arms=("control", "a", "b"))
    frame, _ = randomize(u, spec)
    assert frame.index.is_monotonic_increasing and set(frame.index) == set(u.index)
    labels = stratum_labels(u, ["rank", "region"])
    assert (frame["stratum"] == labels.sort_index()).all()
    for _, g in frame.groupby("stratum"):
        n = len(g)
        for arm, p in spec.probabilities.items():
            k = int((g["arm"] == arm).sum())
            assert np.floor(n * p + 1e-9) <= k <= np.floor(n * p + 1e-9) + 1
    assert frame["probability"].tolist() == [spec.probabilities[a] for a in frame["arm"]]
    assert frame["block"].isna().all()


def test_every_unit_has_exactly_the_design_probability_of_each_arm():
    # strata of 4 and 7 at 40/30/30: remainders are placed at random, marginals stay exact
    u = pd.DataFrame({"s": list("xxxx") + list("yyyyyyy")},
                     index=pd.Index([f"U{i:02d}" for i in range(11)], name="partner_id"))
    spec = spec_of(stratify_by=("s",), control_share=0.4, arms=("control", "a", "b"))
    draw = redraw(u, spec)
    rng = np.random.default_rng(1)
    draws = np.concatenate([draw(rng) for _ in range(40)])
    assert len(draws) >= 20_000
    for arm, p in spec.probabilities.items():
        share = (draws == arm).mean(axis=0)
        assert np.abs(share - p).max() < 0.02, (arm, share)
    # and each draw keeps the stratum's counts within floor/ceil of n·p
    x = (draws[:, :4] == "control").sum(axis=1)
    assert set(np.unique(x)) == {1, 2}
    y = (draws[:, 4:] == "a").sum(axis=1)  # 7 × 0.3 = 2.1
    assert set(np.unique(y)) == {2, 3}


def test_the_draw_depends_only_on_seed_algorithm_and_the_set_of_units():
    u = units()
    spec = spec_of(stratify_by=("rank",))
    a, _ = randomize(u, spec)
    b, _ = randomize(u.sample(frac=1.0, random_state=4), spec)
    pd.testing.assert_frame_equal(a, b)
    # pinned: the same seed, algorithm version and units give these arms on any machine
    assert digest(a) == "446d67845a2cf26e"
    assert digest(randomize(u, spec_of(stratify_by=("rank",), seed=4))[0]) != digest(a)
    assert digest(randomize(u, spec_of("exp-2", stratify_by=("rank",)))[0]) != digest(a)
    assert digest(randomize(u, spec_of(phase=2, stratify_by=("rank",)))[0]) != digest(a)


def test_a_heavy_tailed_covariate_still_meets_the_chi_square_threshold_in_few_draws():
    # raw lognormal(0, 2) values make the raw distance far from chi-square: /1 could need
    # thousands of draws; on normal scores the threshold accepts about `acceptance` of them
    rng = np.random.default_rng(2)
    u = units(300).assign(deals_registered_pre=rng.lognormal(0, 2.5, 300).round(2))
    spec = rerandomized(0.1)
    free = redraw(u, spec_of(stratify_by=("rank",)))(np.random.default_rng(1))
    scores = stats.norm.ppf((stats.rankdata(u[["deals_registered_pre", "portal_logins_pre"]]
                                            .to_numpy(), axis=0) - 0.5) / len(u))
    m = mahalanobis((free == "treatment").astype(np.int8), scores - scores.mean(axis=0),
                    np.linalg.inv(np.cov(scores, rowvar=False)), 2)
    assert 0.07 < (m <= stats.chi2.ppf(0.1, 2)).mean() < 0.13
    _, out = randomize(u, spec)
    assert out["distance"] <= out["threshold"] and out["draws"] < 100


def test_a_ledger_of_algorithm_1_is_re_derived_on_raw_covariates():
    from dataclasses import replace

    u = units()
    old = replace(rerandomized(0.05), algorithm="supportlab-randomize/1")
    frame, out = randomize(u, old)
    X = u.loc[frame.index, ["deals_registered_pre", "portal_logins_pre"]].to_numpy()
    t = (frame["arm"] == "treatment").to_numpy()
    d = X[t].mean(axis=0) - X[~t].mean(axis=0)
    raw = float(d @ np.linalg.solve(np.cov(X, rowvar=False) * (1 / t.sum() + 1 / (~t).sum()), d))
    assert out["distance"] == pytest.approx(raw, rel=1e-9)
    # stratified draws do not depend on the version: /2 reads /1's random streams
    plain = spec_of(stratify_by=("rank",))
    assert digest(randomize(u, plain)[0]) == digest(
        randomize(u, replace(plain, algorithm="supportlab-randomize/1"))[0])


def test_a_stored_design_of_another_algorithm_is_refused():
    from dataclasses import replace

    spec = replace(spec_of(), algorithm="supportlab-randomize/0")
    with pytest.raises(ConfigError, match="supportlab-randomize/0"):
        randomize(units(20), spec)


def test_small_strata_pool_exclude_or_error():
    u = units(60)
    u.iloc[0, u.columns.get_loc("rank")] = "X"  # a stratum of one partner
    u.iloc[1, u.columns.get_loc("rank")] = "Y"  # and another
    pooled, out = randomize(u, spec_of(stratify_by=("rank",)))
    assert (pooled.loc[["P00000", "P00001"], "stratum"] == POOLED_STRATUM).all()
    assert out["pooled_strata"] == {"X": 1, "Y": 1}
    assert sorted(pooled.loc[["P00000", "P00001"], "arm"]) == ["control", "treatment"]
    kept, out = randomize(u, spec_of(stratify_by=("rank",), small_strata="exclude"))
    assert len(kept) == 58 and set(out["excluded"]) == {"P00000", "P00001"}
    assert "too small" in out["excluded"]["P00000"]
    with pytest.raises(DataValidationError, match=r"too small .*X \(1\), Y \(1\)"):
        randomize(u, spec_of(stratify_by=("rank",), small_strata="error"))


def test_a_pool_too_small_takes_in_the_smallest_stratum():
    u = units(40, ranks="AB")
    u.iloc[0, u.columns.get_loc("rank")] = "X"
    frame, out = randomize(u, spec_of(stratify_by=("rank",)))
    small = min(("A", "B"), key=lambda r: int((u["rank"] == r).sum()))
    assert set(out["pooled_strata"]) == {"X", small}
    pooled = frame[frame["stratum"] == POOLED_STRATUM]
    assert len(pooled) == 1 + int((u["rank"] == small).sum())
    assert pooled["arm"].nunique() == 2


def test_too_few_units_or_bad_units_are_refused():
    with pytest.raises(DataValidationError, match="cannot fill 3 arms"):
        randomize(units(2), spec_of(arms=("control", "a", "b"), control_share=0.4))
    with pytest.raises(DataValidationError, match="no partner"):
        randomize(units(0), spec_of())
    u = units(10)
    with pytest.raises(DataValidationError, match="appears 2 times"):
        randomize(pd.concat([u, u.iloc[:1]]), spec_of())
    with pytest.raises(DataValidationError, match="no strata column 'tier'"):
        randomize(u, spec_of(stratify_by=("tier",)))


# -- blocked ------------------------------------------------------------------------------------


def test_blocks_are_consecutive_on_the_covariate_within_strata():
    u = units(401)
    spec = spec_of(stratify_by=("rank",), method="blocked", block_on="deals_registered")
    assert spec.block_size == 2
    frame, out = randomize(u, spec)
    j = frame.join(u)
    for _, s in j.groupby("stratum"):
        order = s.sort_values(["deals_registered_pre"], kind="stable")
        blocks = order["block"].to_numpy()
        # a block is a run of neighbours on the covariate
        assert len(set(blocks)) == len(np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]]))
        sizes = s["block"].value_counts()
        assert set(sizes) <= {2, 3} and (sizes == 3).sum() == len(s) % 2
    for _, b in j.groupby("block"):
        counts = b["arm"].value_counts()
        assert counts.min() >= 1 and counts.max() - counts.min() <= 1
    assert out["n_blocks"] == frame["block"].nunique()


def test_a_leftover_that_holds_every_arm_is_its_own_block():
    u = units(30, ranks="A")
    frame, _ = randomize(u, spec_of(method="blocked", block_on="deals_registered", block_size=4))
    sizes = frame["block"].value_counts()
    assert sorted(sizes) == [2] + [4] * 7
    for _, b in frame.groupby("block"):
        assert (b["arm"] == "control").sum() == len(b) // 2


def test_a_blocked_design_needs_its_covariate():
    with pytest.raises(DataValidationError, match="win_rate_pre"):
        randomize(units(10), spec_of(method="blocked", block_on="win_rate"))


# -- rerandomized -------------------------------------------------------------------------------


def rerandomized(acceptance: float = 0.1, max_draws: int = 1000, **kw) -> DesignSpec:
    return spec_of(method="rerandomized", stratify_by=("rank",),
                   rerandomize=Rerandomize(("deals_registered", "portal_logins"), acceptance,
                                           max_draws), **kw)


def direct_distance(frame: pd.DataFrame, u: pd.DataFrame) -> float:
    """Morgan & Rubin's distance on the covariates' normal scores (algorithm /2)."""
    raw = u.loc[frame.index, ["deals_registered_pre", "portal_logins_pre"]].to_numpy()
    X = stats.norm.ppf((stats.rankdata(raw, axis=0) - 0.5) / len(raw))
    t = (frame["arm"] == "treatment").to_numpy()
    d = X[t].mean(axis=0) - X[~t].mean(axis=0)
    S = np.cov(X, rowvar=False) * (1 / t.sum() + 1 / (~t).sum())
    return float(d @ np.linalg.solve(S, d))


def test_rerandomization_accepts_the_first_draw_under_the_chi_square_threshold():
    u = units()
    spec = rerandomized(0.05)
    frame, out = randomize(u, spec)
    assert out["threshold"] == pytest.approx(stats.chi2.ppf(0.05, 2))
    assert out["distance"] == pytest.approx(direct_distance(frame, u), rel=1e-9)
    assert out["distance"] <= out["threshold"] and out["draws"] >= 1
    assert out["criterion_covariates"] == ["deals_registered", "portal_logins"]
    # the stratified draws stay stratified
    for _, g in frame.groupby("stratum"):
        assert abs((g["arm"] == "treatment").sum() - len(g) / 2) <= 0.5
    again, out2 = randomize(u.iloc[::-1], spec)
    pd.testing.assert_frame_equal(frame, again)
    assert out2["draws"] == out["draws"]


def test_the_threshold_accepts_the_configured_share_of_draws():
    u = units(600)
    free = redraw(u, spec_of(stratify_by=("rank",)))
    rng = np.random.default_rng(5)
    draws = np.concatenate([free(rng) for _ in range(3)])
    X = u[["deals_registered_pre", "portal_logins_pre"]].to_numpy()
    X = X - X.mean(axis=0)
    inv = np.linalg.inv(np.cov(X, rowvar=False))
    m = mahalanobis((draws == "treatment").astype(np.int8), X, inv, 2)
    accepted = (m <= stats.chi2.ppf(0.1, 2)).mean()
    assert len(m) >= 3000 and 0.085 < accepted < 0.115
    # the single-precision screen decides exactly as the double-precision distance
    from supportlab.design.randomize import _Criterion, _distances

    thr = float(stats.chi2.ppf(0.1, 2))
    crit = _Criterion(X, X.astype(np.float32), inv, thr, ("a", "b"), ())
    screened = _distances((draws == "treatment").astype(np.int8), crit, 2)
    assert ((screened <= thr) == (m <= thr)).all()
    assert np.allclose(screened[m <= thr], m[m <= thr], rtol=1e-12)


def test_no_accepted_draw_in_max_draws_fails_clearly():
    with pytest.raises(ConfigError, match=r"in 5 draws .* raise rerandomize.max_draws"):
        randomize(units(), rerandomized(1e-9, max_draws=5))


def test_redraws_of_a_rerandomized_design_meet_the_stored_criterion():
    u = units()
    spec = rerandomized(0.1)
    frame, out = randomize(u, spec)
    stored = spec.with_outcome(**{k: v for k, v in out.items() if k != "excluded"})
    ledger = frame.join(u[["deals_registered_pre", "portal_logins_pre"]])
    draw = redraw(ledger, stored)
    got = draw(np.random.default_rng(2))
    assert got.shape[1] == len(ledger) and len(got) >= 5
    for row in got[:20]:
        f = pd.DataFrame({"arm": row}, index=ledger.index)
        assert direct_distance(f, u) <= out["threshold"] * (1 + 1e-9)
    # a randomization test of the design runs on them (and refuses free permutations)
    df = ledger.assign(y=u["deals_registered_pre"] * 2 + np.random.default_rng(0).normal(0, 1,
                                                                                      len(u)))
    info = DesignInfo.from_spec(stored, covariate_column=covariate_column)
    res = randomization_test(df, arm="arm", outcome="y", design=info, redraw=draw,
                             permutations=200, seed=1)
    assert 0 < res.p_value <= 1


# -- redraw -------------------------------------------------------------------------------------


def test_redraws_follow_the_ledgers_strata_and_blocks_in_the_given_row_order():
    u = units(101)
    spec = spec_of(stratify_by=("rank",), method="blocked", block_on="deals_registered")
    frame, _ = randomize(u, spec)
    shuffled = frame.sample(frac=1.0, random_state=3)
    draws = redraw(shuffled, spec)(np.random.default_rng(0))
    assert draws.shape == (min(1000, 1_000_000 // 101), 101)
    for block, rows in shuffled.reset_index().groupby("block").groups.items():
        counts = (draws[:, list(rows)] == "treatment").sum(axis=1)
        n = len(rows)
        assert counts.min() >= n // 2 and counts.max() <= n - n // 2, block
    # the draws vary
    assert len({r.tobytes() for r in (draws == "treatment")}) > 100


def test_redraw_derives_the_groups_when_the_ledger_columns_are_absent():
    u = units(50)
    spec = spec_of(stratify_by=("rank",))
    frame, _ = randomize(u, spec)
    a = redraw(u, spec)(np.random.default_rng(9))
    b = redraw(frame, spec)(np.random.default_rng(9))
    assert (a == b).all()


@pytest.mark.parametrize("arms,share", [(("control", "treatment"), 0.5),
                                        (("control", "a", "b"), 0.4),
                                        (("control", "treatment"), 0.3)])
def test_selection_sorting_and_the_window_fallback_give_the_same_draws(monkeypatch, arms, share):
    import supportlab.design.randomize as R

    u = units(3001)
    spec = spec_of(stratify_by=("rank", "region"), arms=arms, control_share=share)
    draws = {}
    for name, groups, sd in (("select", 64, 6.0), ("sort", 0, 6.0), ("fallback", 64, 0.0)):
        monkeypatch.setattr(R, "_SELECT_MAX_GROUPS", groups)
        monkeypatch.setattr(R, "_WINDOW_SD", sd)
        draws[name] = redraw(u, spec)(np.random.default_rng(11))[:50]
    assert (draws["select"] == draws["sort"]).all()
    assert (draws["select"] == draws["fallback"]).all()


def test_a_multi_arm_rerandomization_bounds_every_arm_against_control():
    u = units(450)
    spec = rerandomized(0.3, arms=("control", "a", "b"), control_share=0.4)
    frame, out = randomize(u, spec)
    raw = u.loc[frame.index, ["deals_registered_pre", "portal_logins_pre"]].to_numpy()
    X = stats.norm.ppf((stats.rankdata(raw, axis=0) - 0.5) / len(raw))
    c = (frame["arm"] == "control").to_numpy()
    S = np.cov(X, rowvar=False)
    worst = 0.0
    for arm in ("a", "b"):
        t = (frame["arm"] == arm).to_numpy()
        d = X[t].mean(axis=0) - X[c].mean(axis=0)
        worst = max(worst, float(d @ np.linalg.solve(S * (1 / t.sum() + 1 / c.sum()), d)))
    assert out["distance"] == pytest.approx(worst, rel=1e-9) and worst <= out["threshold"]
    assert set(frame["arm"]) == {"control", "a", "b"}
