"""The evidence rating: each factor of the rubric moves the score."""

from __future__ import annotations

import dataclasses

import pytest

import supportlab as sl
from helpers import delivered_workspace
from supportlab.config.experiment import load_experiment
from supportlab.report.evidence import rate_evidence


@pytest.fixture(scope="module")
def ev(tmp_path_factory: pytest.TempPathFactory) -> sl.Evaluation:
    root = tmp_path_factory.mktemp("evidence")
    path = delivered_workspace(root, n_partners=300)
    ws = sl.Workspace.open(root, read_only=True)
    try:
        return sl.evaluate(ws, load_experiment(path), permutations=0)
    finally:
        ws.close()


def _with_min_effect(ev: sl.Evaluation, me: float) -> sl.Evaluation:
    dd = dataclasses.replace(ev.decision_detail,
                             evidence={**ev.decision_detail.evidence, "min_effect": me})
    return dataclasses.replace(ev, decision_detail=dd)


def test_score_in_range_and_deterministic(ev: sl.Evaluation) -> None:
    r = rate_evidence(ev)
    assert 1 <= r.score <= 5
    assert r == rate_evidence(ev)
    assert r.stars.count("★") == r.score and len(r.stars) == 5


def test_power_moves_score(ev: sl.Evaluation) -> None:
    wide = rate_evidence(_with_min_effect(ev, 1e-6))
    narrow = rate_evidence(_with_min_effect(ev, 1e6))
    assert wide.score == narrow.score - 1
    assert any("underpowered" in t for _, t in wide.reasons)


def test_srm_moves_score(ev: sl.Evaluation) -> None:
    base = _with_min_effect(ev, 1e6)
    bad = dataclasses.replace(base, srm=dataclasses.replace(ev.srm, mismatch=True, p_value=1e-6))
    assert rate_evidence(bad).score == max(1, rate_evidence(base).score - 3)


def test_attrition_moves_score(ev: sl.Evaluation) -> None:
    base = _with_min_effect(ev, 1e6)
    n = ev.n_control + ev.n_treatment
    assert rate_evidence(base, n_assigned=2 * n).score == rate_evidence(base, n_assigned=n).score - 1


def test_interim_look_moves_score(ev: sl.Evaluation) -> None:
    base = dataclasses.replace(_with_min_effect(ev, 1e6), decision="continue")
    interim = dataclasses.replace(base, final=False, look=1, looks=3)
    assert rate_evidence(interim).score == rate_evidence(base).score - 1
    stopped = dataclasses.replace(interim, decision="stop")
    assert rate_evidence(stopped).score == rate_evidence(base).score


def test_placebo_caps_at_one(ev: sl.Evaluation) -> None:
    r = rate_evidence(dataclasses.replace(_with_min_effect(ev, 1e6), placebo=True))
    assert r.score == 1
    assert any("placebo" in t for _, t in r.reasons)


def test_to_dict(ev: sl.Evaluation) -> None:
    d = rate_evidence(ev).to_dict()
    assert set(d) == {"score", "reasons"}




def _every_reason(ev: sl.Evaluation) -> list[tuple[int, str]]:
    """The reasons of ratings that trip every factor of the rubric."""
    import pandas as pd

    from supportlab.stats.checks import BalanceCheck

    bal = BalanceCheck(table=pd.DataFrame(), omnibus_f=1.0, omnibus_df=(1, 1), omnibus_p=0.5,
                       smd_threshold=0.1,
                       imbalanced=("portal_logins_pre", "deals_registered_pre"))
    broken = dataclasses.replace(bal, omnibus_p=1e-5)
    base = _with_min_effect(ev, 1e-6)
    worst = dataclasses.replace(base, srm=dataclasses.replace(ev.srm, mismatch=True,
                                                              p_value=1e-6),
                                balance=bal, final=False, look=1, looks=3,
                                decision="continue", placebo=True)
    n = ev.n_control + ev.n_treatment
    reasons = list(rate_evidence(worst, n_assigned=2 * n).reasons)
    reasons += rate_evidence(dataclasses.replace(worst, balance=broken)).reasons
    return reasons


def test_every_reason_has_japanese(ev: sl.Evaluation) -> None:
    from supportlab.report.text import has_japanese

    reasons = _every_reason(ev)
    kinds = {t.split(" ")[0] for _, t in reasons}
    assert {"sample-ratio", "covariates", "standardized", "interval", "attrition:", "interim",
            "placebo"} <= kinds
    for _, text in reasons:
        assert has_japanese(text), text
    r = rate_evidence(dataclasses.replace(_with_min_effect(ev, 1e-6), final=False, look=2,
                                          looks=3, decision="continue"))
    ja = r.texts("ja")
    assert any("検出力が足りません" in t for t in ja) and any("3回中2回目" in t for t in ja)
    assert r.texts("en") == tuple(t for _, t in r.reasons)
    assert all(x["text_ja"] for x in r.to_dict()["reasons"])
