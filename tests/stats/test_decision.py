"""The decision rules, their reasons in both languages, and the revision diagnostics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from supportlab.errors import ConfigError
from supportlab.stats.checks import guardrail_check, srm_check
from supportlab.stats.decision import decide, effect_by_consumption, step_funnel
from supportlab.stats.estimation import Estimate, analyze
from supportlab.stats.sequential import sequential_looks


def est(effect: float, se: float, *, mean_control: float = 2.0) -> Estimate:
    """An estimate with a normal interval at the given effect and standard error."""
    base = analyze(pd.DataFrame({"arm": [0, 0, 1, 1], "y": [1.0, 2.0, 2.0, 3.0]}), arm="arm",
                   outcome="y", method="welch")
    z = 1.959963984540054
    rel_se = se / mean_control
    return dataclasses.replace(
        base, outcome="deals", effect=effect, se=se, df=float("inf"), ci_lower=effect - z * se,
        ci_upper=effect + z * se, mean_control=mean_control,
        mean_treatment=mean_control + effect, rel_effect=effect / mean_control, rel_se=rel_se,
        rel_ci_lower=(effect - z * se) / mean_control,
        rel_ci_upper=(effect + z * se) / mean_control)


def ok_guardrail():
    return guardrail_check(dataclasses.replace(est(0.0, 0.02), outcome="logins"), margin=0.1)


def both_languages(d):
    assert len(d.reasons("en")) == len(d.reasons("ja")) > 0
    assert all(r for r in d.reasons_ja)
    assert d.to_dict()["outcome"] == d.outcome


def test_promote():
    d = decide(est(0.6, 0.1), min_effect=0.3, guardrails=[ok_guardrail()], srm=0.4)
    assert d.outcome == "promote"
    both_languages(d)
    assert "昇格" in d.reasons("ja")[-1]
    assert d.evidence["primary"]["effect"] == 0.6 and d.evidence["srm_p_value"] == 0.4


def test_point_estimate_below_min_effect_does_not_promote():
    d = decide(est(0.25, 0.1), min_effect=0.3)
    assert d.outcome == "continue"


def test_srm_blocks_promotion():
    d = decide(est(0.6, 0.1), min_effect=0.3, srm=srm_check(400, 600, control_share=0.5))
    assert d.outcome == "continue"
    assert any("Sample-ratio mismatch" in r for r in d.reasons_en)
    assert any("SRM" in r for r in d.reasons_ja)
    both_languages(d)


def test_harm_on_primary_or_guardrail_stops():
    assert decide(est(-0.5, 0.1), min_effect=0.3).outcome == "stop"
    breached = guardrail_check(dataclasses.replace(est(-0.6, 0.05), outcome="logins"),
                               margin=0.1)
    assert breached.status == "breached"
    d = decide(est(0.6, 0.1), min_effect=0.3, guardrails=[breached])
    assert d.outcome == "stop"
    assert any("logins" in r for r in d.reasons_ja)


def test_guardrail_not_yet_non_inferior_blocks_promotion():
    unsure = guardrail_check(dataclasses.replace(est(-0.1, 0.1), outcome="logins"), margin=0.1)
    assert unsure.status == "inconclusive"
    d = decide(est(0.6, 0.1), min_effect=0.3, guardrails=[unsure])
    assert d.outcome == "continue"


def test_revise_when_confidently_below_min_effect_or_powered_null():
    d = decide(est(0.1, 0.05), min_effect=0.3)
    assert d.outcome == "revise" and "min" in d.reasons_en[0]
    d = decide(est(0.02, 0.08), min_effect=0.3)  # power at 0.3 with se 0.08 ≈ 0.96
    assert d.outcome == "revise"
    assert d.evidence["power_at_min_effect"] > 0.9


def test_underpowered_null_continues():
    d = decide(est(0.1, 0.3), min_effect=0.3)
    assert d.outcome == "continue"
    assert d.evidence["power_at_min_effect"] < 0.2
    both_languages(d)


def test_interim_looks_only_stop_for_harm():
    # a large positive interim estimate does not promote before the horizon
    d = decide(est(0.9, 0.1), min_effect=0.3, at_horizon=False)
    assert d.outcome == "continue"
    # a fixed-horizon interval below zero at an interim look does not stop by itself ...
    assert decide(est(-0.3, 0.1), min_effect=0.3, at_horizon=False).outcome == "continue"
    # ... but the always-valid sequence does
    looks = [est(-0.3, 0.2), est(-0.4, 0.1), est(-0.4, 0.05)]
    seq = sequential_looks(looks, mixture_sd=0.3)
    assert seq.stop_for_harm
    d = decide(looks[-1], min_effect=0.3, at_horizon=False, sequential=seq)
    assert d.outcome == "stop"
    assert any("always-valid" in r for r in d.reasons_en)


def test_relative_scale():
    d = decide(est(0.6, 0.1, mean_control=2.0), min_effect=0.2, relative=True)
    assert d.outcome == "promote"  # +30% ≥ +20%
    d = decide(est(0.3, 0.1, mean_control=2.0), min_effect=0.2, relative=True)
    assert d.outcome == "continue"  # +15% with interval up to ~25%


def test_confidence_level_must_match_alpha():
    with pytest.raises(ConfigError, match="confidence_level"):
        decide(est(0.6, 0.1), min_effect=0.3, alpha=0.1)
    with pytest.raises(ConfigError, match="min_effect"):
        decide(est(0.6, 0.1), min_effect=-1)


def _delivery(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    arm = np.tile(["control", "treatment"], n // 2)
    treated = arm == "treatment"
    opened = treated & (rng.random(n) < 0.7)
    s1 = opened & (rng.random(n) < 0.9)
    s2 = s1 & (rng.random(n) < 0.3)  # the package breaks at step 2
    s3 = s2 & (rng.random(n) < 0.8)
    consumption = (opened.astype(int) + s1 + s2 + s3) / 4
    y = rng.normal(0, 1, n) + 0.3 * consumption
    return pd.DataFrame({"arm": arm, "opened": opened, "step1": s1, "step2": s2, "step3": s3,
                         "consumption": consumption, "y": y})


def test_funnel_names_the_step_that_loses_partners():
    df = _delivery()
    f = step_funnel(df, ["opened", "step1", "step2", "step3"], arm="arm", treatment="treatment",
                    labels=["opened", "week 1 done", "week 2 done", "week 3 done"])
    t = df[df["arm"] == "treatment"]
    assert f.counts == (len(t), t["opened"].sum(), t["step1"].sum(), t["step2"].sum(),
                        t["step3"].sum())
    assert f.biggest_loss_stage == "week 2 done" and f.biggest_loss_from == "week 1 done"
    frame = f.to_frame()
    assert frame["lost"].iloc[3] == f.biggest_loss


def test_consumption_profile_is_labelled_descriptive():
    df = _delivery(1)
    p = effect_by_consumption(df, arm="arm", outcome="y", consumption="consumption")
    assert "not randomized" in p.label and "無作為化されていない" in p.label
    assert p.table["n"].sum() == (df["arm"] == "treatment").sum()
    assert p.control_mean == pytest.approx(df.loc[df["arm"] == "control", "y"].mean())


def test_revision_reasons_say_where_the_package_breaks():
    df = _delivery(2)
    f = step_funnel(df, ["opened", "step1", "step2", "step3"], arm="arm", treatment="treatment")
    p = effect_by_consumption(df, arm="arm", outcome="y", consumption="consumption")
    d = decide(est(0.05, 0.05), min_effect=0.3, funnel=f, consumption=p)
    assert d.outcome == "revise"
    assert any("'step1' and 'step2'" in r for r in d.reasons_en)
    assert any("step1" in r and "step2" in r and "離脱" in r for r in d.reasons_ja)
    assert any("not randomized" in r for r in d.reasons_en)
    assert d.evidence["funnel"]["biggest_loss_stage"] == "step2"
    both_languages(d)


def test_decision_html_escapes_names():
    d = decide(dataclasses.replace(est(0.6, 0.1), outcome="<i>deals</i>"), min_effect=0.3)
    page = d._repr_html_()
    assert "<i>deals</i>" not in page and "&lt;i&gt;deals&lt;/i&gt;" in page
    assert "promote" in page and "Decision: promote" in str(d)


def test_sample_ratio_mismatch_blocks_revision_too():
    from supportlab.stats.checks import srm_check

    rng = np.random.default_rng(2)
    df = pd.DataFrame({"arm": [0] * 1500 + [1] * 2500, "y": rng.normal(0, 1, 4000)})
    est = analyze(df, arm="arm", outcome="y")  # no effect, plenty of power: would be "revise"
    assert decide(est, min_effect=0.3).outcome == "revise"
    d = decide(est, min_effect=0.3, srm=srm_check(1500, 2500, control_share=0.5))
    assert d.outcome == "continue"
    assert any("mismatch" in r for r in d.reasons_en)
