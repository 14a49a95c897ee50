"""The plan: eligible partners, the MDE against statsmodels, the measured R² against a direct
OLS, the verdict in both languages, the alternatives, the roll-out holdout and bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from click.testing import CliRunner
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from helpers import DESIGN_START, design_workspace, write_experiment
from supportlab.cli import cli
from supportlab.cli.app import COMMANDS
from supportlab.config.experiment import load_experiment
from supportlab.data.engine import connect
from supportlab.design.plan import (
    HOLDOUT_MAX,
    HOLDOUT_MIN,
    holdout_share,
    past_uptake,
    plan,
    r_squared,
    rollout_holdout,
)
from supportlab.design.spec import DesignSpec
from supportlab.errors import ConfigError, DataValidationError
from supportlab.features.targeting import select_targets
from supportlab.stats.power import power_at

TZ = "Asia/Tokyo"

EXPERIMENT = """\
id: {id}
package: launch-kit@1
{rule}design: {{start: {start}, control_share: 0.5, stratify_by: [rank], seed: 11,
         horizon_days: {horizon}, pre_days: 90{design}}}
metrics:
  primary: {primary}
decision: {{min_effect: {min_effect}, alpha: 0.05}}
"""


def experiment(root, id="kit", *, min_effect=0.2, rule=None, design="", horizon=60,
               primary="deals_registered", start=DESIGN_START):
    text = EXPERIMENT.format(id=id, rule=f'eligibility: "{rule}"\n' if rule else "",
                             start=start, horizon=horizon, design=design, primary=primary,
                             min_effect=min_effect)
    path = write_experiment(root, id=id, text=text)
    return load_experiment(path, root / "experiments" / "packages")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    ws = design_workspace(root)
    (root / "experiments" / "metrics.yaml").write_text(
        "metrics:\n  huge_scores: {kind: count, where: {event_type: test_submit, "
        "value: {gt: 1000}}}\n", encoding="utf-8")
    yield root, ws
    ws.close()


@pytest.fixture(scope="module")
def base(world):
    root, ws = world
    exp = experiment(root)
    return exp, plan(ws, exp)


def deals_per_partner(ws, ids, lo, hi):
    """Deal registrations per partner in [lo, hi) (Tokyo days), straight from the table."""
    lo_ts, hi_ts = (pd.Timestamp(d).tz_localize(TZ).to_pydatetime() for d in (lo, hi))
    got = ws.query("SELECT partner_id, COUNT(*) AS n FROM deals WHERE registered_at >= ? "
                   "AND registered_at < ? GROUP BY partner_id", [lo_ts, hi_ts])
    return got.set_index("partner_id")["n"].reindex(ids).fillna(0).astype(float)


# -- eligible partners and the measurement -----------------------------------------------------


def test_eligible_partners_by_stratum_and_arm(world, base):
    _root, ws = world
    exp, p = base
    tl = select_targets(connect(ws), exp)
    assert p.n_eligible == len(tl.frame) == 415 and p.as_of == dt.date(2026, 6, 1)
    counts = tl.frame["rank"].value_counts().sort_index()
    assert p.by_stratum["stratum"].tolist() == counts.index.tolist()
    assert p.by_stratum["n_eligible"].tolist() == counts.tolist()
    assert (p.by_stratum["control"] + p.by_stratum["treatment"] == p.by_stratum["n_eligible"]).all()
    assert sum(p.n_per_arm.values()) == 415 and sorted(p.n_per_arm.values()) == [207, 208]


def test_sd_and_r2_against_a_direct_ols(world, base):
    _root, ws = world
    exp, p = base
    ids = list(select_targets(connect(ws), exp).frame.index)
    y = deals_per_partner(ws, ids, "2026-04-02", "2026-06-01")
    x = deals_per_partner(ws, ids, "2026-02-01", "2026-04-02")
    assert p.sd == pytest.approx(y.std(ddof=1), rel=1e-12)
    assert p.mean == pytest.approx(y.mean(), rel=1e-12)
    rank = ws.query("SELECT partner_id, rank FROM partners").set_index("partner_id")["rank"]
    X = pd.concat([x.rename("x"), pd.get_dummies(rank.reindex(ids), drop_first=True, dtype=float)],
                  axis=1)
    fit = sm.OLS(y.to_numpy(), sm.add_constant(X.to_numpy())).fit()
    assert p.r2 == pytest.approx(fit.rsquared, rel=1e-10)
    assert p.r2_adjusted == pytest.approx(fit.rsquared_adj, rel=1e-10)
    assert p.r2_used == pytest.approx(fit.rsquared_adj, rel=1e-10)
    assert 0.05 < p.r2 < 0.95  # the covariate really explains something here


def test_r_squared_matches_statsmodels_with_a_constant_regressor():
    rng = np.random.default_rng(3)
    y = rng.normal(size=50)
    strata = rng.choice(["a", "b", "c"], 50)
    r2, adj = r_squared(y, np.zeros(50), strata)  # a constant x adds nothing (rank)
    X = sm.add_constant(pd.get_dummies(pd.Series(strata), drop_first=True, dtype=float))
    fit = sm.OLS(y, X).fit()
    assert (r2, adj) == pytest.approx((fit.rsquared, fit.rsquared_adj), rel=1e-10)


def test_mde_and_sample_needed_against_statsmodels(base):
    _exp, p = base
    n_c, n_t = p.n_per_arm["control"], p.n_per_arm["treatment"]
    d = TTestIndPower().solve_power(nobs1=n_t, ratio=n_c / n_t, alpha=0.05, power=0.8)
    assert p.mde == pytest.approx(d * p.sd * math.sqrt(1 - p.r2_used), rel=1e-9)
    assert p.uptake == 1.0 and p.uptake_source == "assumed"
    assert p.mde_users == pytest.approx(p.mde)
    # normal theory agrees to within the t correction
    dz = NormalIndPower().solve_power(nobs1=n_t, ratio=n_c / n_t, alpha=0.05, power=0.8)
    assert p.mde == pytest.approx(dz * p.sd * math.sqrt(1 - p.r2_used), rel=0.01)
    # the sample needed: power at n_needed reaches 80%, at a few fewer it does not
    eff = 0.2 / (p.sd * math.sqrt(1 - p.r2_used))

    def pw(n):
        return TTestIndPower().power(eff, nobs1=n / 2, ratio=1.0, alpha=0.05)

    assert pw(p.n_needed) >= 0.8 > pw(p.n_needed - 2)
    assert p.rel_mde == pytest.approx(p.mde / p.mean)


def test_configured_uptake_says_what_the_package_must_do_for_its_users(world, base):
    root, ws = world
    _, p = base
    exp = experiment(root, "kit-uptake", design=", expected_uptake: 0.5")
    q = plan(ws, exp)
    assert q.uptake == 0.5 and q.uptake_source == "configured"
    assert q.mde == pytest.approx(p.mde) and q.mde_users == pytest.approx(2 * p.mde)
    # min_effect is per assigned partner, as decide() reads it: uptake does not move the sample
    # needed or the verdict, it says what the package must do for the partners who open it
    assert q.n_needed == p.n_needed and q.can_detect == p.can_detect
    assert not any("100% uptake" in w for w in q.warnings)
    assert any("100% uptake" in w for w in p.warnings)


# -- verdict and alternatives ------------------------------------------------------------------


def test_verdict_no_in_both_languages(base):
    _, p = base
    assert p.can_detect is False and p.mde_users > 0.2
    assert p.verdict("en").startswith("No: with 415 eligible partners")
    assert "It needs 1," in p.verdict("en") or f"It needs {p.n_needed:,}" in p.verdict("en")
    assert p.verdict("ja").startswith("検出できません")
    assert "最小効果を検出できない" in p.to_string("ja") and "cannot detect" in str(p)
    with pytest.raises(ConfigError):
        p.verdict("fr")


def test_verdict_yes_in_both_languages(world):
    root, ws = world
    p = plan(ws, experiment(root, "kit-easy", min_effect=1.0))
    assert p.can_detect is True and p.mde_users <= 1.0
    assert p.verdict("en").startswith("Yes:") and "can detect the min_effect of 1" in p.verdict("en")
    assert p.verdict("ja").startswith("検出できます")
    assert p.n_needed <= p.n_eligible


def test_min_effect_not_set(world):
    root, ws = world
    p = plan(ws, experiment(root, "kit-zero", min_effect=0))
    assert p.can_detect is None and p.n_needed is None
    assert "min_effect is not set" in p.verdict("en") and "最小効果が設定されていません" in p.verdict("ja")


def test_alternatives_each_with_their_own_mde(world, base):
    root, ws = world
    exp = experiment(root, "kit-3arms", min_effect=0.3, rule="logins_30d < 8",
                     design=", arms: [control, video, webinar]")
    p = plan(ws, exp)
    by = {o.option: o for o in p.options}
    assert set(by) == {"longer_horizon", "pool_cohorts", "fewer_arms", "wider_eligibility"}
    n = p.n_eligible
    # control 50%, each arm 25%: the MDE compares the smallest arm with control
    assert p.n_per_arm["control"] in (n // 2, n // 2 + 1) and sum(p.n_per_arm.values()) == n
    eff = TTestIndPower().solve_power(nobs1=p.n_per_arm["video"],
                                      ratio=p.n_per_arm["control"] / p.n_per_arm["video"],
                                      alpha=0.05, power=0.8)
    assert p.mde == pytest.approx(eff * p.sd * math.sqrt(1 - p.r2_used), rel=1e-9)
    pool = by["pool_cohorts"]
    assert pool.n_eligible == 2 * n and pool.mde < p.mde
    assert pool.mde == pytest.approx(sl_mde(2 * n, (0.5, 0.25, 0.25), p.sd, p.r2_used), rel=1e-9)
    two = by["fewer_arms"]
    assert two.n_arms == 2 and two.mde == pytest.approx(sl_mde(n, (0.5, 0.5), p.sd, p.r2_used))
    wide = by["wider_eligibility"]
    assert wide.n_eligible == p.n_in_segment == 415 > n
    assert by["longer_horizon"].horizon_days == 120 and by["longer_horizon"].sd > p.sd
    for o in p.options:
        assert o.reaches == (o.mde_users <= o.target_effect)
    assert p.can_detect is False
    words = p.verdict("en")
    good = [o for o in p.options if o.reaches]
    assert good, "some alternative must reach 0.3 here"
    assert "What would: " in words
    for o in good:
        assert o.sentence("en") in words and o.sentence("ja") in p.verdict("ja")
    table = p.to_string("ja")
    assert "改善案" in table and "2つのコホートを合わせる" in table and "対象条件を外す" in table


def sl_mde(n, shares, sd, r2):
    """statsmodels' MDE of the smallest arm against control, at whole arm sizes summing to n
    (the largest remainders get the partners left over)."""
    raw = [n * s for s in shares]
    sizes = [math.floor(v + 1e-9) for v in raw]
    for i in sorted(range(len(raw)), key=lambda i: sizes[i] - raw[i])[: n - sum(sizes)]:
        sizes[i] += 1
    n_c, n_t = sizes[0], min(sizes[1:])
    d = TTestIndPower().solve_power(nobs1=n_t, ratio=n_c / n_t, alpha=0.05, power=0.8)
    return d * sd * math.sqrt(1 - r2)


def test_plan_json_round_trips(base):
    _, p = base
    d = json.loads(p.to_json())
    for key in ("n_eligible", "mde", "mde_users", "sd", "r2", "uptake", "n_needed", "can_detect",
                "verdict_en", "verdict_ja", "by_stratum", "options", "warnings"):
        assert key in d
    assert d["as_of"] == "2026-06-01" and d["by_stratum"][0]["stratum"] == "A"
    assert "<table>" in p.to_html() and "| " in p.to_markdown()


# -- past uptake -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_history(tmp_path_factory):
    """A world where launch-kit was delivered before: an earlier experiment in the ledger."""
    root = tmp_path_factory.mktemp("history")
    ws = design_workspace(root, n_partners=300, seed=9)
    earlier = experiment(root, "kit-earlier", start="2026-03-01", horizon=60)
    spec = DesignSpec.from_design(earlier.id, "launch-kit", 1, earlier.design)
    ids = ws.query("SELECT partner_id FROM partners ORDER BY partner_id")["partner_id"].tolist()
    ledger = pd.DataFrame({
        "experiment_id": earlier.id, "partner_id": ids[:80],
        "arm": ["control", "treatment"] * 40, "stratum": "all",
        "assigned_at": pd.Timestamp("2026-03-01", tz=TZ), "seed": 11, "block": None,
        "probability": 0.5, "phase": 1})
    with ws.transaction() as con:
        con.register("ledger", ledger)
        cols = ", ".join(c for c in ws.query("SELECT * FROM assignments LIMIT 0").columns
                         if c in ledger.columns)
        con.execute(f"INSERT INTO assignments ({cols}) SELECT {cols} FROM ledger")
        con.execute("INSERT INTO designs VALUES (?, 1, 'launch-kit', 1, 'stratified', 'h', 'e', "
                    "?, false, 80, ?, ?, ?)",
                    [earlier.id, spec.to_json(), spec.start, spec.end,
                     pd.Timestamp("2026-03-01", tz=TZ).to_pydatetime()])
    yield root, ws, ledger, spec
    ws.close()


def test_past_uptake_from_earlier_deliveries(with_history):
    root, ws, ledger, spec = with_history
    exp = experiment(root, "kit-next", design=", expected_uptake: 0.9")
    treated = ledger.loc[ledger.arm == "treatment", "partner_id"].tolist()
    lo, hi = (pd.Timestamp(d).tz_localize(TZ) for d in (spec.start, spec.end))
    ev = ws.query("SELECT partner_id, content_id, ts FROM events WHERE content_id IN "
                  "('video-a-intro', 'proposal-template-a', 'training-a')")
    ev = ev[(ev.ts >= lo) & (ev.ts < hi)]
    expected = len(set(treated) & set(ev.partner_id)) / len(treated)
    assert 0 < expected < 1
    share, n = past_uptake(ws, exp, dt.date(2026, 6, 1))
    assert n == 40 and share == pytest.approx(expected)
    p = plan(ws, exp)  # history wins over the configured uptake
    assert p.uptake_source == "history" and p.uptake == pytest.approx(expected)
    assert p.n_uptake_history == 40
    assert p.mde_users == pytest.approx(p.mde / expected)
    # an experiment whose horizon has not ended by then is not counted
    assert past_uptake(ws, exp, dt.date(2026, 4, 15)) == (None, 0)


# -- the roll-out holdout --------------------------------------------------------------------


def test_holdout_share_reaches_the_power_and_is_the_smallest():
    for n in (600, 1200, 2400, 4800):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # reachable: no warning
            h = holdout_share(n, effect=0.5, sd=2.0, r2=0.3)
        assert HOLDOUT_MIN <= h <= HOLDOUT_MAX
        d = 0.5 / (2.0 * math.sqrt(0.7))
        reach = TTestIndPower().power(d, nobs1=n * h, ratio=(1 - h) / h, alpha=0.05)
        assert reach >= 0.8
        if h > HOLDOUT_MIN:
            g = h - 0.002
            assert TTestIndPower().power(d, nobs1=n * g, ratio=(1 - g) / g, alpha=0.05) < 0.8


def test_holdout_share_is_monotone_in_n_and_clipped():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the smallest n cannot reach the power (tested below)
        hs = [holdout_share(n, effect=0.4, sd=2.0) for n in range(200, 8001, 200)]
    assert all(a >= b for a, b in itertools.pairwise(hs))
    assert hs[-1] == HOLDOUT_MIN and hs[0] > HOLDOUT_MIN
    with pytest.warns(UserWarning, match="cannot keep 80% power"):
        assert holdout_share(50, effect=0.4, sd=2.0) == HOLDOUT_MAX
    with pytest.raises(ConfigError, match="min_effect"):
        holdout_share(600, effect=0.0, sd=2.0)


def test_rollout_holdout_uses_the_plan_measurement(world):
    root, ws = world
    exp = experiment(root, "kit-rollout", min_effect=0.5, design=", rollout: true")
    p = plan(ws, exp)
    tl = select_targets(connect(ws), exp)
    ids = list(tl.frame.index)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = rollout_holdout(ws, exp, 415, partners=ids)
    assert not [w for w in caught if "cannot keep" in str(w.message)]
    assert h == holdout_share(415, effect=0.5, sd=p.sd, r2=p.r2_used)
    assert power_at(0.5, 415 * h, 415 * (1 - h), sd=p.sd, r2=p.r2_used) >= 0.8
    big = rollout_holdout(ws, exp, 4000, partners=ids)
    assert HOLDOUT_MIN <= big < h
    with pytest.raises(ConfigError, match="min_effect"):
        rollout_holdout(ws, dataclasses.replace(exp, min_effect=0.0), 415)


# -- bad input ---------------------------------------------------------------------------------


def test_zero_eligible_names_the_rule_and_segment(world):
    root, ws = world
    exp = experiment(root, "kit-none", rule="support_score > 1000")
    with pytest.raises(DataValidationError) as err:
        plan(ws, exp)
    msg = str(err.value)
    assert "support_score > 1000" in msg and "product: A" in msg and "eligibility" in msg
    assert "415" in msg


def test_zero_variance_metric(world):
    root, ws = world
    exp = experiment(root, "kit-flat", primary="huge_scores")
    with pytest.raises(DataValidationError, match="'huge_scores' does not vary among the 415"):
        plan(ws, exp)


def test_not_enough_history_says_how_many_days(world):
    root, ws = world
    exp = experiment(root, "kit-long", horizon=200)
    with pytest.raises(DataValidationError, match=r"needs 200 days of history.*400 to measure"):
        plan(ws, exp)


def test_history_for_the_sd_but_not_the_r2(world):
    root, ws = world
    p = plan(ws, experiment(root, "kit-mid", horizon=120))
    assert p.r2 is None and p.r2_used == 0.0 and p.sd > 0
    assert any("not measured" in w and "240 days" in w for w in p.warnings)
    longer = next(o for o in p.options if o.option == "longer_horizon")
    assert longer.mde is None and longer.reaches is None and "240 days" in longer.note_en


# -- the command -------------------------------------------------------------------------------


def test_cli_json_and_table(world, base):
    root, _ws = world
    _, p = base
    path = root / "experiments" / "kit.yaml"
    r = CliRunner().invoke(cli, ["-C", str(root), "plan", str(path), "--format", "json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["n_eligible"] == 415 and d["mde"] == pytest.approx(p.mde)
    assert d["can_detect"] is False and d["verdict_ja"][0].startswith("検出できません")
    r = CliRunner().invoke(cli, ["-C", str(root), "plan", str(path), "--lang", "ja"],
                           catch_exceptions=False)
    assert r.exit_code == 0 and "実験計画" in r.output and "検出できません" in r.output
    bad = root / "experiments" / "kit-none.yaml"
    r = CliRunner().invoke(cli, ["-C", str(root), "plan", str(bad)])
    assert r.exit_code != 0 and "support_score > 1000" in r.output


def test_command_summary():
    from supportlab.cli.plan import plan as command

    assert command.__doc__.splitlines()[0] == COMMANDS["plan"].summary


def test_a_start_after_the_data_is_planned_as_of_the_day_after_it(world, base):
    root, ws = world
    _, p = base
    q = plan(ws, experiment(root, "kit-later", start="2026-07-01"))
    assert q.as_of == dt.date(2026, 6, 1) and q.start == dt.date(2026, 7, 1)
    assert q.n_eligible == p.n_eligible and q.sd == pytest.approx(p.sd)
    assert any("after the data" in n for n in q.notes)


def test_small_strata_are_warned_about(world):
    root, ws = world
    text = EXPERIMENT.format(id="kit-fine", rule="", start=DESIGN_START, horizon=60,
                             design="", primary="deals_registered", min_effect=0.2)
    text = text.replace("stratify_by: [rank]", "stratify_by: [rank, region]")
    exp = load_experiment(write_experiment(root, id="kit-fine", text=text),
                          root / "experiments" / "packages")
    p = plan(ws, exp)
    small = p.by_stratum[p.by_stratum.n_eligible < 4]
    assert len(small) > 0 and " / " in p.by_stratum.stratum.iloc[0]
    for s in small.stratum:
        assert any(f"stratum '{s}'" in w for w in p.warnings)
